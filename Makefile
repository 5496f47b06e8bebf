# Quick start:  make demo  (example DAG end to end)   |   make test  (the whole suite)
SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.8
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.synced

.PHONY: venv venv-min-airflow node-deps test test-fast test-min-airflow lint format demo demo-paginated bench clean

.tools/bin/uv:
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet uv==$(UV_VERSION)

# (Re)install only when the lock or the project metadata changed; bytecode is compiled at install
# because this environment sets PYTHONDONTWRITEBYTECODE=1 (import airflow costs 5-10 s without it).
$(STAMP): pyproject.toml uv.lock | $(if $(filter .tools/bin/uv,$(UV)),.tools/bin/uv)
	$(UV) sync --frozen --extra test --extra dev --compile-bytecode
	touch $(STAMP)

venv: $(STAMP)

# json-server 0.17 and 1.x for the pagination framework tests, each pinned by its committed package-lock.json,
# installed into its own folder (never globally); skipped without npm (those tests then skip, or fail in CI)
node-deps:
	@if command -v npm >/dev/null 2>&1; then \
	  for dir in tests/support/frameworks/node/*/; do \
	    [ -d "$${dir}node_modules" ] || npm ci --prefix "$$dir" --no-audit --no-fund --loglevel=error; \
	  done; \
	fi

# A second environment with the lowest Airflow release pyproject.toml supports ("apache-airflow>=X.Y.Z", the
# one place the floor is written): uv.lock's versions except those that release forces (printed), so its run
# differs from `make test` by the Airflow release alone (`uv pip compile` keeps the pins of an existing output
# file where it can: the file starts as uv.lock's export).
AIRFLOW_MIN := $(shell sed -n 's/^ *"apache-airflow>=\([0-9.]*\)".*/\1/p' pyproject.toml)
VENV_MIN := .venv-min
STAMP_MIN := $(VENV_MIN)/.synced

$(STAMP_MIN): $(STAMP)
	@test -n "$(AIRFLOW_MIN)" || { echo 'no "apache-airflow>=X.Y.Z" in pyproject.toml'; exit 1; }
	rm -rf $(VENV_MIN)
	$(UV) venv --quiet --python $(PY) $(VENV_MIN)
	echo "apache-airflow==$(AIRFLOW_MIN)" > $(VENV_MIN)/constraints.txt
	$(UV) export --quiet --frozen --extra test --no-hashes --no-emit-project --no-header --no-annotate \
		-o $(VENV_MIN)/uv-lock.txt
	cp $(VENV_MIN)/uv-lock.txt $(VENV_MIN)/requirements.txt
	$(UV) pip compile --quiet pyproject.toml --extra test --python $(VENV_MIN)/bin/python --no-header \
		--no-annotate -c $(VENV_MIN)/constraints.txt -o $(VENV_MIN)/requirements.txt
	$(UV) pip sync --quiet --python $(VENV_MIN)/bin/python --compile-bytecode $(VENV_MIN)/requirements.txt
	$(UV) pip install --quiet --python $(VENV_MIN)/bin/python --no-deps --compile-bytecode -e .
	@echo "$(VENV_MIN): apache-airflow $(AIRFLOW_MIN); the pins that are not uv.lock's:"
	@comm -13 <(sed 's/ ;.*//' $(VENV_MIN)/uv-lock.txt | sort -u) <(sort -u $(VENV_MIN)/requirements.txt) \
		| sed 's/^/  /'
	touch $(STAMP_MIN)

venv-min-airflow: $(STAMP_MIN)

test: $(STAMP) node-deps
	$(PY) -m pytest

test-fast: $(STAMP)
	$(PY) -m pytest -m "not airflow and not postgres"

# the provider tests (dag.test(), a metadata DB) on the lowest supported Airflow release; run by .ci/run.
# BULK_FETCH_EXPECT_AIRFLOW: tests/unit/provider/test_supported_airflow.py checks that release is the one running
test-min-airflow: $(STAMP_MIN)
	BULK_FETCH_EXPECT_AIRFLOW=$(AIRFLOW_MIN) $(VENV_MIN)/bin/python -m pytest tests/unit/provider

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

demo: $(STAMP)
	$(PY) -m dags_examples.run_demo

demo-paginated: $(STAMP)
	$(PY) -m dags_examples.run_demo --paginated

bench: $(STAMP)
	$(PY) benchmarks/throughput.py
	$(PY) benchmarks/memory.py
	$(PY) benchmarks/pagination.py

clean:
	rm -rf $(VENV) $(VENV_MIN) .tools .airflow .pytest_cache .mypy_cache .ruff_cache
