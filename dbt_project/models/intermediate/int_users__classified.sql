{{ classify_rows(staged=ref('stg_landing__users'), key=['user_id']) }}
