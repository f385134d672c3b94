{{ classify_rows(
    staged=ref('stg_landing__interactions'),
    key=['user_id', 'item_id', 'event_ts'],
    deferred_when='event_ts >= ' ~ run_end(),
    references=[
        {'column': 'user_id', 'relation': ref('int_users__known'), 'id': 'user_id', 'reason': 'unknown_user_id'},
        {'column': 'item_id', 'relation': ref('int_items__classified'), 'id': 'item_id', 'reason': 'unknown_item_id'},
    ],
) }}
