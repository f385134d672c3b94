{#- The cleaning rules, one named macro each, so every staging model applies them the same way. -#}

{#- Ids are trimmed; blank and null-like tokens ('', 'null', 'none', 'nan', 'n/a', '\N') mean "no id". -#}
{% macro clean_id(column) -%}
    case
        when lower(trim({{ column }})) in ('', 'null', 'none', 'nan', 'n/a', '\n') then null
        else trim({{ column }})
    end
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

{#- Fingerprint of the contract columns as trimmed text: equal fingerprints are exact duplicates. -#}
{% macro row_fingerprint(columns) -%}
    md5(to_json([{% for c in columns %}trim({{ c }}){% if not loop.last %}, {% endif %}{% endfor %}]))
{%- endmacro %}

{#- The end of the run date (exclusive), in UTC: the cut-off for events. -#}
{% macro run_end() -%}
    {%- if var('run_date') is none -%}
        {{ exceptions.raise_compiler_error("var run_date is required: pass --vars '{run_date: YYYY-MM-DD}'") }}
    {%- endif -%}
    (cast('{{ var("run_date") }}' as date) + interval 1 day)::timestamptz
{%- endmacro %}

{#- z-score over the whole column: (x - mean) / population std dev; 0 where there is no spread or
    no value. The sums are exact (DECIMAL), so the result does not depend on the order in which
    parallel threads add rows up: the same input always gives the same bits. -#}
{% macro zscore(column) -%}
    coalesce(
        (
            {{ column }} - cast(sum(cast({{ column }} as decimal(38, 6))) over () as double)
                / count({{ column }}) over ()
        ) / nullif(sqrt(greatest(
            cast(sum(cast({{ column }} as decimal(38, 6)) * cast({{ column }} as decimal(38, 6))) over () as double)
                / count({{ column }}) over ()
            - pow(cast(sum(cast({{ column }} as decimal(38, 6))) over () as double) / count({{ column }}) over (), 2),
            0
        )), 0),
        0
    )
{%- endmacro %}
