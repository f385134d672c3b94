with

clean_interactions as (
    select * from {{ ref('int_interactions__classified') }} where outcome = 'clean'
),

final as (
    select
        user_id,
        item_id,
        event_ts,
        rating,
        source_file,
        source_row,
    from clean_interactions
)

select * from final
