# Two commands matter: `make demo` (install, create the SQLite store, load demo data, serve) and
# `make test` (install, lint, type-check, run the whole suite). Everything else is a helper.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test install lint typecheck node-clients bench bench-journal bench-access bench-stats bench-portal bench-reimbursements clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

demo: install
	$(BIN)/opendmp demo

lint: install
	$(BIN)/ruff check src tests bench

typecheck: install
	$(BIN)/mypy

# Clients written by others (npm fhir-kit-client) for the API tests; skipped, loudly, without npm.
node-clients:
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --prefix tests/clients/node --no-audit --no-fund --loglevel=error; \
	else \
		echo "!!! npm not found: the fhir-kit-client tests will be SKIPPED"; \
	fi

# Three workers, one test file each at a time (module-scoped live servers stay shared): the suite
# waits on fsync and on browsers more than on the CPU. The 25 slowest tests are listed at the end.
test: lint typecheck node-clients
	$(BIN)/python -m pytest -n 3 --dist loadfile --durations=25

bench: install
	$(BIN)/python bench/run.py

bench-journal: install
	$(BIN)/python bench/journal/journal_bench.py

bench-access: install
	$(BIN)/python bench/access/policy_bench.py

bench-reimbursements: install
	$(BIN)/python bench/reimbursements/feed_bench.py

bench-stats: install
	$(BIN)/python bench/stats/stats_bench.py

bench-portal: install
	$(BIN)/python bench/portal/portal_bench.py

clean:
	rm -rf $(VENV) .opendmp .pytest_cache .mypy_cache .ruff_cache
