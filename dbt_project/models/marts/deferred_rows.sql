with

classified as (
    {{ classified_rows() }}
),

final as (
    select
        source_table,
        deferred_by_ts as event_ts,
        record,
        source_file,
        source_row,
    from classified
    where outcome = 'deferred'
)

select * from final
