"""What Airflow needs beyond the stages: the night a task runs for, the Spark operator, the pool,
the failure callback. `dags/recsys_nightly.py` wires these; the stages stay Airflow-free."""
