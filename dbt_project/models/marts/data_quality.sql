{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='run_date') }}

with

row_outcomes as (
    -- rows that did not reach the marts as they came: merged, deferred or quarantined
    select source_table as table_name, reason as check_name, outcome as action, count(*) as rows_affected,
    from ({{ classified_rows() }})
    where outcome <> 'clean'
    group by all
),

clean_users as (
    select * from {{ ref('int_users__classified') }} where outcome = 'clean'
),

clean_items as (
    select * from {{ ref('int_items__classified') }} where outcome = 'clean'
),

field_repairs as (
    -- bad or missing fields on rows that were kept
    select 'users' as table_name, 'invalid_age' as check_name, 'nulled' as action, count_if(age_invalid) as rows_affected from clean_users
    union all select 'users', 'unparseable_signup_ts', 'nulled', count_if(signup_ts_unparseable) from clean_users
    union all select 'users', 'missing_age', 'imputed', count_if(age_imputed) from {{ ref('dim_users') }}
    union all select 'users', 'missing_gender', 'imputed', count_if(gender is null) from clean_users
    union all select 'users', 'missing_occupation', 'imputed', count_if(occupation is null) from clean_users
    union all select 'items', 'invalid_price', 'nulled', count_if(price_invalid) from clean_items
    union all select 'items', 'unparseable_release_ts', 'nulled', count_if(release_ts_unparseable) from clean_items
    union all select 'items', 'missing_category', 'imputed', count_if(category is null) from clean_items
    union all select 'items', 'missing_price', 'imputed', count_if(price_imputed) from {{ ref('dim_items') }}
    union all select 'items', 'price_outlier', 'clipped', count_if(price_clipped) from {{ ref('dim_items') }}
    union all
    select 'interactions', 'invalid_rating', 'nulled', count_if(rating_invalid)
    from {{ ref('int_interactions__classified') }}
    where outcome = 'clean'
    union all
    select 'social_edges', 'unparseable_since_ts', 'nulled', count_if(since_ts_unparseable)
    from {{ ref('int_social_edges__classified') }}
    where outcome = 'clean'
),

final as (
    select
        cast('{{ var("run_date") }}' as date) as run_date,
        table_name,
        check_name,
        action,
        cast(rows_affected as bigint) as rows_affected,
    from (select * from row_outcomes union all select * from field_repairs)
    where rows_affected > 0
)

select * from final
