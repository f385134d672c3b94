-- each user's most recent "people like you" list
with

lists as (
    select * from {{ source('recsys', 'similar_users') }}
),

latest_run_per_user as (
    select user_id, max(run_date) as run_date
    from lists
    group by user_id
),

final as (
    select lists.run_date, lists.user_id, lists.rank, lists.similar_user_id, lists.score
    from lists
    inner join latest_run_per_user using (user_id, run_date)
)

select * from final
