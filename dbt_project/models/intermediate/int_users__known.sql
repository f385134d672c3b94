-- The user ids events and friend links may refer to: every clean user row, or, for a shop that
-- lands no users table at all (many have no user attributes), every user id its usable events
-- name. A shop that does land users keeps the rule that an unknown user is quarantined.

with

clean_users as (
    select user_id from {{ ref('int_users__classified') }} where outcome = 'clean'
),

landed_users as (
    select count(*) as row_count from {{ ref('stg_landing__users') }}
),

event_users as (
    select distinct user_id
    from {{ ref('stg_landing__interactions') }}
    where key_problem is null and user_id is not null
),

final as (
    select user_id, 'clean' as outcome, false as from_events from clean_users
    union all
    select event_users.user_id, 'clean' as outcome, true as from_events
    from event_users
    cross join landed_users
    where landed_users.row_count = 0
)

select * from final
