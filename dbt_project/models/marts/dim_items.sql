with

clean_items as (
    select * from {{ ref('int_items__classified') }} where outcome = 'clean'
),

price_fences as (
    -- Tukey fences on ln(1 + price): prices are skewed, so outliers are judged on a log scale
    select
        exp(q1 - {{ var('price_fence_k') }} * (q3 - q1)) - 1 as price_low,
        exp(q3 + {{ var('price_fence_k') }} * (q3 - q1)) - 1 as price_high,
    from (
        select
            quantile_cont(ln(1 + price), 0.25) as q1,
            quantile_cont(ln(1 + price), 0.75) as q3,
        from clean_items
        where price is not null
    )
),

clipped as (
    select
        clean_items.* exclude (price),
        -- not greatest/least: they skip nulls, and a missing price must stay missing until imputed
        case
            when price > price_high then price_high
            when price < price_low then price_low
            else price
        end as price,
        price not between price_low and price_high as price_clipped,
    from clean_items
    cross join price_fences
),

category_medians as (
    select category, median(price) as category_median from clipped group by category
),

imputed as (
    select
        clipped.* exclude (price, category),
        coalesce(clipped.category, 'unknown') as category,
        coalesce(clipped.price, category_medians.category_median, median(clipped.price) over ())
            as price,
        clipped.price is null as price_imputed,
    from clipped
    left join category_medians on clipped.category is not distinct from category_medians.category
),

price_spread as (
    {{ column_stats('imputed', 'price') }}
),

standardised as (
    select
        imputed.*,
        {{ zscore('price') }} as price_z,
        release_ts is null or release_ts < {{ run_end() }} as is_released,
    from imputed
    cross join price_spread
),

final as (
    select
        item_id,
        title,
        description,
        category,
        price,
        coalesce(price_imputed and price is not null, false) as price_imputed,
        coalesce(price_clipped, false) as price_clipped,
        price_z,
        release_ts,
        is_released,
    from standardised
)

select * from final
