{#-
    Gives every staged row exactly one outcome, so raw = clean + merged + deferred + quarantined:

      1. quarantined  when the row is unusable: its `key_problem` (null key, unparseable event time, ...)
      2. deferred     when `deferred_when` holds (an event after the run date): kept in raw for later runs
      3. quarantined  when a reference points at no clean row (`unknown_user_id`, ...): nothing is invented
      4. merged       when it repeats an earlier row exactly (same `row_fingerprint`: the same typed
                      values): the first copy in input order is kept
      5. quarantined  when another version of the same key differs (`conflicting_duplicate`): the
                      version that occurs last in input order wins, so A, B, A keeps A.

    Input order is (landing_path, source_file, source_row): the file's path inside its landing
    folder, so daily drops (`users/dt=2026-11-27/...`) sort by day and after a single `users.csv`,
    then its record number. It comes from the input alone: load time (`loaded_at`) never decides.
      6. clean        otherwise.
-#}
{% macro classify_rows(staged, key, deferred_when=none, references=[]) -%}

with

staged as (
    select * from {{ staged }}
),

unusable as (
    select *, 'quarantined' as outcome, key_problem as reason from staged where key_problem is not null
),

usable as (
    select * from staged where key_problem is null
),

{% if deferred_when -%}
deferred as (
    select *, 'deferred' as outcome, 'after_run_date' as reason from usable where {{ deferred_when }}
),

current_rows as (
    select * from usable where not ({{ deferred_when }})
),
{%- else -%}
current_rows as (
    select * from usable
),
{%- endif %}

referenced as (
    select
        *,
        {%- if references %}
        case
            {%- for r in references %}
            when {{ r.column }} not in (select {{ r.id }} from {{ r.relation }} where outcome = 'clean')
                then '{{ r.reason }}'
            {%- endfor %}
        end as reference_problem,
        {%- else %}
        cast(null as varchar) as reference_problem,
        {%- endif %}
    from current_rows
),

orphaned as (
    select * exclude (reference_problem), 'quarantined' as outcome, reference_problem as reason
    from referenced
    where reference_problem is not null
),

copies as (
    select
        * exclude (reference_problem),
        row_number() over exact_copies as copy_number,
        first_value(source_file) over exact_copies as kept_source_file,
        first_value(source_row) over exact_copies as kept_source_row,
        -- where this version occurs last: the version that occurs last of all wins
        max((landing_path, source_file, source_row)) over (
            partition by {{ key | join(', ') }}, row_fingerprint
        ) as last_occurrence,
    from referenced
    where reference_problem is null
    window exact_copies as (
        partition by {{ key | join(', ') }}, row_fingerprint
        order by landing_path, source_file, source_row
    )
),

merged as (
    select * exclude (copy_number, last_occurrence), 'merged' as outcome, 'exact_duplicate' as reason
    from copies
    where copy_number > 1
),

versions as (
    select
        * exclude (copy_number, kept_source_file, kept_source_row, last_occurrence),
        row_number() over (
            partition by {{ key | join(', ') }} order by last_occurrence desc
        ) as version_rank,
    from copies
    where copy_number = 1
),

final as (
    select * from unusable
    {%- if deferred_when %}
    union all by name select * from deferred
    {%- endif %}
    union all by name select * from orphaned
    union all by name select * from merged
    union all by name
    select
        * exclude (version_rank),
        case when version_rank = 1 then 'clean' else 'quarantined' end as outcome,
        case when version_rank > 1 then 'conflicting_duplicate' end as reason,
    from versions
)

select * from final

{%- endmacro %}
