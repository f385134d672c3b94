{#- The cleaning rules, one named macro each, so every staging model applies them the same way. -#}

{#- Ids are trimmed; blank and null-like tokens ('', 'null', 'none', 'nan', 'n/a', '\N') mean "no id". -#}
{% macro clean_id(column) -%}
    case
        when lower({{ strip(column) }}) in ('', 'null', 'none', 'nan', 'n/a', '\n') then null
        else {{ strip(column) }}
    end
{%- endmacro %}

{#- Leading and trailing whitespace of any kind (tabs, newlines, no-break spaces) removed. -#}
{% macro strip(column) -%}
    regexp_replace({{ column }}, '^\s+|\s+$', '', 'g')
{%- endmacro %}

{#- Free text: HTML tags removed, common entities unescaped, all whitespace (newlines, tabs)
    collapsed to one space, trimmed; empty becomes null. Emoji and CJK are kept as they are. -#}
{% macro clean_text(column) -%}
    nullif(
        trim(regexp_replace(
            replace(replace(replace(replace(replace(replace(
                regexp_replace({{ column }}, '<[^>]*>', ' ', 'g'),
                '&nbsp;', ' '), '&lt;', '<'), '&gt;', '>'), '&quot;', '"'), '&#39;', ''''),
                '&amp;', '&'),
            '\s+', ' ', 'g'
        )),
        ''
    )
{%- endmacro %}

{#- Short categorical labels: trimmed, lower case; '', 'null', 'nan', 'n/a', '\N' become null.
    Unlike for ids, 'none' stays: it is a real answer for a label such as occupation. -#}
{% macro clean_label(column) -%}
    case
        when lower(trim({{ column }})) in ('', 'null', 'nan', 'n/a', '\n') then null
        else lower(trim({{ column }}))
    end
{%- endmacro %}

{#- ISO-8601 text to TIMESTAMPTZ (UTC when no offset is given); unparseable or infinite -> null. -#}
{% macro parse_ts(column) -%}
    case
        when isfinite(try_cast(trim({{ column }}) as timestamptz))
            then try_cast(trim({{ column }}) as timestamptz)
    end
{%- endmacro %}

{#- Text to a finite DOUBLE; unparseable, NaN or infinite -> null. -#}
{% macro parse_number(column) -%}
    case
        when isfinite(try_cast(trim({{ column }}) as double))
            then try_cast(trim({{ column }}) as double)
    end
{%- endmacro %}

{#- True when the raw text holds something that did not parse (a bad field, not a missing one). -#}
{% macro is_unparsed(raw_column, parsed) -%}
    ({{ clean_id(raw_column) }} is not null and {{ parsed }} is null)
{%- endmacro %}

{#- Fingerprint of a row's typed values: equal fingerprints are exact duplicates, so '4' and
    '4.0', or '2026-01-01' and '2026-01-01T00:00:00Z', are the same value. -#}
{% macro row_fingerprint(expressions) -%}
    md5(to_json([{% for e in expressions %}cast({{ e }} as varchar){% if not loop.last %}, {% endif %}{% endfor %}]))
{%- endmacro %}

{#- A field's typed value, or its raw text when it did not parse (two different bad values are
    not the same value). -#}
{% macro typed_or_raw(parsed, raw_column) -%}
    coalesce(cast({{ parsed }} as varchar), 'unparsed:' || trim({{ raw_column }}))
{%- endmacro %}

{#- The end of the run date (exclusive), in UTC: the cut-off for events. -#}
{% macro run_end() -%}
    {%- if var('run_date') is none -%}
        {{ exceptions.raise_compiler_error("var run_date is required: pass --vars '{run_date: YYYY-MM-DD}'") }}
    {%- endif -%}
    (cast('{{ var("run_date") }}' as date) + interval 1 day)::timestamptz
{%- endmacro %}

{#- Mean and population standard deviation of a column, as a one-row query to cross join.
    The values are summed in sorted order, so the same input gives the same bits whatever the
    number of threads; doubles throughout, so large values cannot overflow. -#}
{% macro column_stats(relation, column) -%}
    select
        mean as {{ column }}_mean,
        sqrt(list_sum(list_transform(vals, lambda v: (v - mean) * (v - mean))) / len(vals))
            as {{ column }}_std,
    from (
        select vals, list_sum(vals) / len(vals) as mean
        from (
            select list_sort(list(cast({{ column }} as double)) filter (where {{ column }} is not null)) as vals
            from {{ relation }}
        )
    )
{%- endmacro %}

{#- z-score against column_stats: (x - mean) / std; 0 where there is no spread or no value. -#}
{% macro zscore(column) -%}
    coalesce(({{ column }} - {{ column }}_mean) / nullif({{ column }}_std, 0), 0)
{%- endmacro %}


{#- The lineage ingest added to every raw row, renamed for staging, and the raw row as JSON. -#}
{% macro lineage(source_alias) -%}
    to_json({{ source_alias }}) as record,
        _source_file as source_file,
        _landing_path as landing_path,
        _row_number as source_row,
        _loaded_at as loaded_at,
        _parse_error as parse_error,
{%- endmacro %}
