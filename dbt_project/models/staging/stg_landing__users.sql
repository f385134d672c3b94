with

source as (
    select * from {{ source('landing', 'users') }}
),

parsed as (
    select
        {{ clean_id('user_id') }} as user_id,
        {{ parse_number('age') }} as age_parsed,
        {{ clean_label('gender') }} as gender,
        {{ clean_label('occupation') }} as occupation,
        {{ parse_ts('signup_ts') }} as signup_ts,
        {{ clean_text('profile_text') }} as profile_text,
        {{ is_unparsed('signup_ts', parse_ts('signup_ts')) }} as signup_ts_unparseable,
        {{ row_fingerprint([
            clean_id('user_id'),
            typed_or_raw(parse_number('age'), 'age'),
            clean_label('gender'),
            clean_label('occupation'),
            typed_or_raw(parse_ts('signup_ts'), 'signup_ts'),
            clean_text('profile_text'),
        ]) }} as row_fingerprint,
        {{ lineage('source') }}
        age as age_raw,
    from source
),

flagged as (
    select
        *,
        age_parsed between {{ var('valid_age_min') }} and {{ var('valid_age_max') }} as age_valid,
        case
            -- a forgotten user's row, redacted by `recsys forget` or at ingest
            when starts_with(user_id, 'erased:') then 'erased_user'
            when parse_error is not null then 'malformed_row'
            when user_id is null then 'null_user_id'
        end as key_problem,
    from parsed
),

final as (
    select
        user_id,
        case when age_valid then age_parsed end as age,
        {{ clean_id('age_raw') }} is not null and not coalesce(age_valid, false) as age_invalid,
        gender,
        occupation,
        signup_ts,
        signup_ts_unparseable,
        profile_text,
        key_problem,
        row_fingerprint,
        record,
        source_file,
        landing_path,
        source_row,
        loaded_at,
    from flagged
)

select * from final
