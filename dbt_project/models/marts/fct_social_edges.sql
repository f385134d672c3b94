with

clean_edges as (
    select * from {{ ref('int_social_edges__classified') }} where outcome = 'clean'
),

final as (
    select
        user_low_id as user_id,
        user_high_id as friend_id,
        since_ts,
    from clean_edges
)

select * from final
