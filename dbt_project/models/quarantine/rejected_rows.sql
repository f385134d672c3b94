with

classified as (
    {{ classified_rows() }}
),

final as (
    select
        source_table,
        reason,
        record,
        source_file,
        source_row,
        loaded_at,
    from classified
    where outcome = 'quarantined'
)

select * from final
