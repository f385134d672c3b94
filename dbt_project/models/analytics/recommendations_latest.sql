-- each user's most recent list, with the titles an analyst reads
with

recommendations as (
    select * from {{ source('recsys', 'recommendations') }}
),

latest_run_per_user as (
    select user_id, max(run_date) as run_date
    from recommendations
    group by user_id
),

latest as (
    select r.*
    from recommendations r
    inner join latest_run_per_user using (user_id, run_date)
),

items as (
    select item_id, title, category from {{ ref('dim_items') }}
),

final as (
    select
        latest.run_date,
        latest.user_id,
        latest.rank,
        latest.item_id,
        recommended.title as item_title,
        recommended.category as item_category,
        latest.score,
        latest.because_item_id,
        because.title as because_item_title,
        latest.model_version,
    from latest
    left join items as recommended on recommended.item_id = latest.item_id
    left join items as because on because.item_id = latest.because_item_id
)

select * from final
