with

source as (
    select * from {{ source('landing', 'interactions') }}
),

parsed as (
    select
        {{ clean_id('user_id') }} as user_id,
        {{ clean_id('item_id') }} as item_id,
        {{ parse_ts('event_ts') }} as event_ts,
        {{ clean_id('event_ts') }} is null as event_ts_missing,
        {{ parse_number('rating') }} as rating_parsed,
        {{ clean_id('rating') }} is not null as rating_given,
        {{ row_fingerprint([
            clean_id('user_id'),
            clean_id('item_id'),
            typed_or_raw(parse_ts('event_ts'), 'event_ts'),
            typed_or_raw(parse_number('rating'), 'rating'),
        ]) }} as row_fingerprint,
        {{ lineage('source') }}
    from source
),

flagged as (
    select
        *,
        -- half-star steps between the valid bounds; anything else is a bad field
        rating_parsed between {{ var('valid_rating_min') }} and {{ var('valid_rating_max') }}
            and rating_parsed * 2 = round(rating_parsed * 2) as rating_valid,
    from parsed
),

final as (
    select
        user_id,
        item_id,
        event_ts,
        case when rating_valid then rating_parsed end as rating,
        rating_given and not coalesce(rating_valid, false) as rating_invalid,
        case
            -- a forgotten user's row, redacted by `recsys forget` or at ingest
            when starts_with(user_id, 'erased:') then 'erased_user'
            when parse_error is not null then 'malformed_row'
            when user_id is null then 'null_user_id'
            when item_id is null then 'null_item_id'
            when event_ts_missing then 'null_event_ts'
            when event_ts is null then 'unparseable_event_ts'
        end as key_problem,
        row_fingerprint,
        record,
        source_file,
        landing_path,
        source_row,
        loaded_at,
    from flagged
)

select * from final
