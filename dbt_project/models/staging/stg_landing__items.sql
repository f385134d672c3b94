with

source as (
    select * from {{ source('landing', 'items') }}
),

parsed as (
    select
        {{ clean_id('item_id') }} as item_id,
        {{ clean_text(clean_id('title')) }} as title,
        {{ clean_text('description') }} as description,
        {{ clean_label('category') }} as category,
        {{ parse_number('price') }} as price_parsed,
        {{ clean_id('price') }} is not null as price_given,
        {{ parse_ts('release_ts') }} as release_ts,
        {{ is_unparsed('release_ts', parse_ts('release_ts')) }} as release_ts_unparseable,
        {{ row_fingerprint([
            clean_id('item_id'),
            clean_text(clean_id('title')),
            clean_text('description'),
            clean_label('category'),
            typed_or_raw(parse_number('price'), 'price'),
            typed_or_raw(parse_ts('release_ts'), 'release_ts'),
        ]) }} as row_fingerprint,
        {{ lineage('source') }}
    from source
),

final as (
    select
        item_id,
        title,
        description,
        category,
        -- a price below zero or that does not parse is impossible: nulled, imputed in dim_items
        case when price_parsed >= 0 then price_parsed end as price,
        price_given and not coalesce(price_parsed >= 0, false) as price_invalid,
        release_ts,
        release_ts_unparseable,
        case
            when parse_error is not null then 'malformed_row'
            when item_id is null then 'null_item_id'
            when title is null then 'null_title'
        end as key_problem,
        row_fingerprint,
        record,
        source_file,
        landing_path,
        source_row,
        loaded_at,
    from parsed
)

select * from final
