{{ classify_rows(
    staged=ref('stg_landing__social_edges'),
    key=['user_low_id', 'user_high_id'],
    deferred_when='coalesce(since_ts >= ' ~ run_end() ~ ', false)',
    references=[
        {'column': 'user_id', 'relation': ref('int_users__known'), 'id': 'user_id', 'reason': 'unknown_user_id'},
        {'column': 'friend_id', 'relation': ref('int_users__known'), 'id': 'user_id', 'reason': 'unknown_friend_id'},
    ],
) }}
