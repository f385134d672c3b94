{{ classify_rows(staged=ref('stg_landing__items'), key=['item_id']) }}
