# recsys-nightly: the commands a newcomer types. `make run`, then `make test`.
VENV        ?= .venv
BIN         := $(VENV)/bin
PYTHON      ?= python3
RECSYS_HOME ?= var
export RECSYS_HOME

.PHONY: setup run test lint format clean

# Creates .venv when missing and installs the package with every pin from requirements.lock.
setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check "pip>=24,<27"
	$(BIN)/pip install -q --disable-pip-version-check -c requirements.lock -e ".[dev]"
	@touch $@

# Demo shop -> landing -> raw -> staging/marts/quarantine -> text embeddings, printing what each
# stage produced.
run: setup
	$(BIN)/recsys demo-data $(RECSYS_HOME)/landing
	$(BIN)/recsys ingest
	$(BIN)/recsys transform
	$(BIN)/recsys embed
	$(BIN)/recsys train
	$(BIN)/recsys recommend
	$(BIN)/recsys publish

test: setup
	$(BIN)/pytest

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(RECSYS_HOME) dbt_project/target dbt_project/logs .pytest_cache
