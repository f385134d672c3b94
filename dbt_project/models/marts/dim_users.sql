with

user_rows as (
    select * from {{ ref('int_users__classified') }} where outcome = 'clean'
),

-- a shop without a users table: its users are known from their events, attributes unknown
event_users as (
    select user_id from {{ ref('int_users__known') }} where from_events
),

clean_users as (
    select user_id, age, gender, occupation, signup_ts, profile_text from user_rows
    union all by name
    select
        user_id,
        cast(null as double) as age,
        cast(null as varchar) as gender,
        cast(null as varchar) as occupation,
        cast(null as timestamptz) as signup_ts,
        cast(null as varchar) as profile_text,
    from event_users
),

age_stats as (
    select median(age) as age_median from clean_users
),

imputed as (
    select
        clean_users.user_id,
        coalesce(clean_users.age, age_stats.age_median) as age,
        clean_users.age is null and age_stats.age_median is not null as age_imputed,
        coalesce(clean_users.gender, 'unknown') as gender,
        coalesce(clean_users.occupation, 'unknown') as occupation,
        clean_users.signup_ts,
        clean_users.profile_text,
    from clean_users
    cross join age_stats
),

age_spread as (
    {{ column_stats('imputed', 'age') }}
),

standardised as (
    select
        imputed.*,
        {{ zscore('age') }} as age_z,
    from imputed
    cross join age_spread
),

final as (
    select
        user_id,
        age,
        age_imputed,
        age_z,
        gender,
        occupation,
        signup_ts,
        profile_text,
    from standardised
)

select * from final
