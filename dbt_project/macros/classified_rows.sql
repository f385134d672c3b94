{#- Every classified raw row of every landing table, tagged with its table, for the audit models. -#}
{% macro classified_rows() -%}
    {%- set tables = ['users', 'items', 'interactions', 'social_edges'] -%}
    {%- for table in tables %}
    select
        '{{ table }}' as source_table,
        outcome,
        reason,
        record,
        source_file,
        source_row,
        loaded_at,
        kept_source_file,
        kept_source_row,
        {% if table == 'interactions' %}event_ts{% elif table == 'social_edges' %}since_ts{% else %}cast(null as timestamptz){% endif %} as deferred_by_ts,
    from {{ ref('int_' ~ table ~ '__classified') }}
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
{%- endmacro %}
