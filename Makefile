# The project's verbs. `make run` and `make test` work on a fresh machine with Python 3.11 and make.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin

.PHONY: help run test lint bench clean

help:  ## List the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(VENV)/.runtime: requirements.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $@

$(VENV)/.test: requirements-test.txt $(VENV)/.runtime
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-test.txt
	@touch $@

run: $(VENV)/.runtime  ## Set up, migrate, load the demo region if empty, and serve on http://127.0.0.1:5000
	$(BIN)/alembic upgrade head
	$(BIN)/flask --app tracker seed-demo --if-empty
	$(BIN)/python -m tracker

tests/axe/node_modules/.installed: tests/axe/package-lock.json
	cd tests/axe && npm ci --no-audit --no-fund
	@touch $@

test: $(VENV)/.test tests/axe/node_modules/.installed  ## Set up and run lint and the whole test suite
	$(BIN)/ruff check tracker tests alembic bench scripts
	$(BIN)/ruff format --check tracker tests alembic bench scripts
	$(BIN)/python -m pytest

bench/node/node_modules/.installed: bench/node/package-lock.json
	cd bench/node && npm ci --no-audit --no-fund
	@touch $@

bench: $(VENV)/.runtime bench/node/node_modules/.installed  ## Benchmark at England scale (PostgreSQL, Redis, Node) then the families' search, a simulated week of chasing and 10,000 random text messages: writes bench/*results.json and .md
	$(BIN)/python bench/run.py $(BENCH_ARGS)
	$(BIN)/python bench/search.py
	$(BIN)/python bench/chasing.py
	$(BIN)/python bench/sms_fuzz.py

lint: $(VENV)/.test  ## Lint and reformat
	$(BIN)/ruff check --fix tracker tests alembic bench scripts
	$(BIN)/ruff format tracker tests alembic bench scripts

clean:  ## Remove the virtualenv and local data (instance/)
	rm -rf $(VENV) instance .pytest_cache
