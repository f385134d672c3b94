"""dbt, run in its own process: raw -> staging -> quarantine and marts, with the row accounting."""
