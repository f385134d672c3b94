with

source as (
    select * from {{ source('landing', 'social_edges') }}
),

parsed as (
    select
        {{ clean_id('user_id') }} as user_id,
        {{ clean_id('friend_id') }} as friend_id,
        {{ parse_ts('since_ts') }} as since_ts,
        {{ is_unparsed('since_ts', parse_ts('since_ts')) }} as since_ts_unparseable,
        {{ typed_or_raw(parse_ts('since_ts'), 'since_ts') }} as since_ts_typed,
        {{ lineage('source') }}
    from source
),

final as (
    select
        user_id,
        friend_id,
        -- edges are undirected: (a, b) and (b, a) are one pair, stored smaller id first
        least(user_id, friend_id) as user_low_id,
        greatest(user_id, friend_id) as user_high_id,
        since_ts,
        since_ts_unparseable,
        case
            -- a forgotten user's row, redacted by `recsys forget` or at ingest
            when starts_with(user_id, 'erased:') or starts_with(friend_id, 'erased:') then 'erased_user'
            when parse_error is not null then 'malformed_row'
            when user_id is null then 'null_user_id'
            when friend_id is null then 'null_friend_id'
            when user_id = friend_id then 'self_loop'
        end as key_problem,
        -- the canonical pair and its date: a reversed copy has the same fingerprint
        {{ row_fingerprint(['least(user_id, friend_id)', 'greatest(user_id, friend_id)', 'since_ts_typed']) }}
            as row_fingerprint,
        record,
        source_file,
        landing_path,
        source_row,
        loaded_at,
    from parsed
)

select * from final
