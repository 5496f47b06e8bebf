# Quick start:  make demo  (example DAG end to end)   |   make test  (the whole suite)
SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.8
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.synced

.PHONY: venv node-deps test test-fast lint format demo demo-paginated bench clean

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

test: $(STAMP) node-deps
	$(PY) -m pytest

test-fast: $(STAMP)
	$(PY) -m pytest -m "not airflow and not postgres"

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
	rm -rf $(VENV) .tools .airflow .pytest_cache .mypy_cache .ruff_cache
