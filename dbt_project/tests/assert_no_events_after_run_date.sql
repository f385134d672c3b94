-- A run for day D uses only events before the end of D (UTC): later ones must be deferred.
select *
from {{ ref('fct_interactions') }}
where event_ts >= {{ run_end() }}
