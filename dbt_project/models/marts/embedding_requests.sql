with

item_texts as (
    select
        'item' as entity,
        item_id as id,
        -- title, then product type, then description: the text the language model reads
        concat_ws('. ', title, nullif(category, 'unknown'), description) as text,
    from {{ ref('dim_items') }}
),

user_texts as (
    select
        'user' as entity,
        user_id as id,
        profile_text as text,
    from {{ ref('dim_users') }}
    where profile_text is not null
),

final as (
    select
        entity,
        id,
        text,
        sha256(text) as content_hash,
    from (select * from item_texts union all select * from user_texts)
)

select * from final
