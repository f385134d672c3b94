-- Nothing is lost: for every landing table, raw rows = clean + merged + deferred + quarantined,
-- each term counted from its own model. Returns the tables where the sum does not add up.
with

raw_rows as (
    select 'users' as source_table, count(*) as n from {{ source('landing', 'users') }}
    union all select 'items', count(*) from {{ source('landing', 'items') }}
    union all select 'interactions', count(*) from {{ source('landing', 'interactions') }}
    union all select 'social_edges', count(*) from {{ source('landing', 'social_edges') }}
),

clean_rows as (
    select 'users' as source_table, count(*) as n from {{ ref('dim_users') }}
    union all select 'items', count(*) from {{ ref('dim_items') }}
    union all select 'interactions', count(*) from {{ ref('fct_interactions') }}
    union all select 'social_edges', count(*) from {{ ref('fct_social_edges') }}
),

merged_rows as (
    select source_table, count(*) as n from {{ ref('merged_duplicates') }} group by 1
),

deferred as (
    select source_table, count(*) as n from {{ ref('deferred_rows') }} group by 1
),

quarantined as (
    select source_table, count(*) as n from {{ ref('rejected_rows') }} group by 1
),

final as (
    select
        raw_rows.source_table,
        raw_rows.n as raw_rows,
        clean_rows.n as clean,
        coalesce(merged_rows.n, 0) as merged,
        coalesce(deferred.n, 0) as deferred,
        coalesce(quarantined.n, 0) as quarantined,
    from raw_rows
    join clean_rows using (source_table)
    left join merged_rows using (source_table)
    left join deferred using (source_table)
    left join quarantined using (source_table)
)

select * from final
where raw_rows <> clean + merged + deferred + quarantined
