#!/usr/bin/env bash
# Second database on the same PostgreSQL server: MLflow's backend store (Airflow's metadata is
# POSTGRES_DB). The postgres image runs this once, when its data volume is new; to change the
# password later, use ALTER ROLE, not this script.
set -euo pipefail
: "${MLFLOW_DB_PASSWORD:?set MLFLOW_DB_PASSWORD in docker/.env}"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v mlflow_password="$MLFLOW_DB_PASSWORD" <<'SQL'
CREATE ROLE mlflow LOGIN PASSWORD :'mlflow_password';
CREATE DATABASE mlflow OWNER mlflow;
SQL
