with

classified as (
    {{ classified_rows() }}
),

final as (
    select
        source_table,
        source_file,
        source_row,
        kept_source_file,
        kept_source_row,
    from classified
    where outcome = 'merged'
)

select * from final
