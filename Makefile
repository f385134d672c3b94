# recsys-nightly: the commands a newcomer types. `make run`, then `make test`.
VENV        ?= .venv
BIN         := $(VENV)/bin
PYTHON      ?= python3
RECSYS_HOME ?= var
MLFLOW_PORT ?= 5000
export RECSYS_HOME

.PHONY: setup run night airflow mlflow test crash-matrix night-race lint format clean

# Creates .venv when missing and installs the package with every pin from requirements.lock.
setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check "pip>=24,<27"
	$(BIN)/pip install -q --disable-pip-version-check -c requirements.lock -e ".[dev,cluster]"
	@touch $@

# The demo night through Airflow: a local Airflow home under $(RECSYS_HOME)/airflow (SQLite, no
# examples, parallelism 4), a demo shop in $(RECSYS_HOME)/landing, one run of the DAG for the
# demo's run date (`airflow dags test`), then where the results are and what they look like.
run: setup
	@echo "== Airflow home $(RECSYS_HOME)/airflow: db migrate"
	@$(BIN)/recsys airflow db migrate > /dev/null
	@echo "== demo shop -> $(RECSYS_HOME)/landing"
	$(BIN)/recsys demo-data $(RECSYS_HOME)/landing
	@echo "== the night: airflow dags test recsys_nightly (log: $(RECSYS_HOME)/airflow/dags-test.log)"
	@day=$$($(BIN)/recsys run-date) || exit 1; \
		$(BIN)/recsys airflow dags test recsys_nightly $$day \
		> $(RECSYS_HOME)/airflow/dags-test.log 2>&1 \
		|| { tail -n 40 $(RECSYS_HOME)/airflow/dags-test.log; exit 1; }
	@grep -q "DagRun Finished: .*state=success" $(RECSYS_HOME)/airflow/dags-test.log \
		|| { tail -n 40 $(RECSYS_HOME)/airflow/dags-test.log; echo "the night failed"; exit 1; }
	@echo "== the night succeeded"
	@$(BIN)/recsys report

# The same night without Airflow: every stage in order in one process.
night: setup
	$(BIN)/recsys demo-data $(RECSYS_HOME)/landing
	$(BIN)/recsys run
	$(BIN)/recsys report

# Airflow's UI on http://127.0.0.1:8080 with this DAG (api-server, scheduler, dag-processor,
# triggerer); Ctrl-C stops all of them. The login is printed at start-up.
airflow: setup
	@$(BIN)/recsys airflow db migrate > /dev/null
	@$(BIN)/recsys airflow-setup > /dev/null
	@echo "Airflow UI: http://127.0.0.1:8080  user: admin  password: printed below" \
		"(also in $(RECSYS_HOME)/airflow/simple_auth_manager_passwords.json.generated)"
	exec $(BIN)/recsys airflow standalone

# MLflow's UI on http://127.0.0.1:$(MLFLOW_PORT) over this installation's runs and registry.
mlflow: setup
	MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false exec $(BIN)/mlflow ui --host 127.0.0.1 --port $(MLFLOW_PORT) \
		--workers 1 --backend-store-uri \
		"$${RECSYS_MLFLOW_TRACKING_URI:-sqlite:///$(abspath $(RECSYS_HOME))/mlflow.db}"

test: setup
	$(BIN)/pytest

# Every DAG task killed at its start, at its first write and before it returns, then retried
# (`make test` runs the write point of four of them): about 12 minutes on 2 cores. And `forget`
# killed at fourteen of its writes, then run again (`make test` runs two).
crash-matrix: setup
	RECSYS_CRASH_MATRIX=full $(BIN)/pytest tests/crash -s

# Two `recsys run` of different dates and one `recsys forget` racing for one home, 20 rounds
# (`make test` runs one): about 25 minutes on 2 cores.
night-race: setup
	RECSYS_RACE_ROUNDS=20 $(BIN)/pytest tests/core/test_night_lock_race.py -s

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/python bench/check_citations.py

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(RECSYS_HOME) dbt_project/target dbt_project/logs .pytest_cache
