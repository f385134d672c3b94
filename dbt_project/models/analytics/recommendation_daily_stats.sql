-- one row per run date: how broad, how fresh and how varied the served lists were
with

recommendations as (
    select * from {{ source('recsys', 'recommendations') }}
),

released_items as (
    select count(*) as n from {{ ref('dim_items') }} where is_released
),

-- an item is cold on a run date when it had no event before the end of that day
first_event as (
    select item_id, min(event_ts) as first_event_ts
    from {{ ref('fct_interactions') }}
    group by item_id
),

-- the embedding model with the most item vectors (the one tonight's explanations used)
item_vectors as (
    select id as item_id, embedding
    from {{ source('features', 'text_embeddings') }}
    where entity = 'item'
      and model_id = (
          select model_id
          from {{ source('features', 'text_embeddings') }}
          where entity = 'item'
          group by model_id
          order by count(*) desc, model_id
          limit 1
      )
),

-- intra-list diversity: 1 - mean cosine similarity of the pairs in one user's list
pair_similarity as (
    select
        a.run_date,
        a.user_id,
        avg(list_cosine_similarity(va.embedding, vb.embedding)) as mean_similarity,
    from recommendations a
    inner join recommendations b
        on a.run_date = b.run_date and a.user_id = b.user_id and a.rank < b.rank
    inner join item_vectors va on va.item_id = a.item_id
    inner join item_vectors vb on vb.item_id = b.item_id
    group by a.run_date, a.user_id
),

per_run as (
    select
        r.run_date,
        count(distinct r.user_id) as users_served,
        count(*) as recommendations,
        count(distinct r.item_id) as distinct_items,
        avg(
            case
                when f.first_event_ts is null
                    or f.first_event_ts >= (r.run_date + interval 1 day)::timestamptz then 1.0
                else 0.0
            end
        ) as cold_item_share,
        string_agg(distinct r.model_version, ',' order by r.model_version) as model_version,
    from recommendations r
    left join first_event f on f.item_id = r.item_id
    group by r.run_date
),

-- rounded: a parallel sum of doubles differs in its last bits from run to run, and a rerun of
-- the same night must write the same table
diversity as (
    select run_date, round(1 - avg(mean_similarity), 9) as mean_intra_list_diversity
    from pair_similarity
    group by run_date
),

final as (
    select
        per_run.run_date,
        per_run.users_served,
        per_run.recommendations,
        per_run.distinct_items,
        per_run.distinct_items / nullif(released_items.n, 0) as catalogue_coverage,
        per_run.cold_item_share,
        diversity.mean_intra_list_diversity,
        per_run.model_version,
    from per_run
    cross join released_items
    left join diversity using (run_date)
)

select * from final
