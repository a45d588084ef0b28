# Two commands on a fresh clone: `make demo` and `make test`.
# Each bootstraps .venv on first use; later runs reuse it.

VENV   := .venv
BIN    := $(VENV)/bin
PYTHON ?= $(shell for p in python3.12 python3.11 python3.10 python3; do \
            command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(not ((3,10) <= sys.version_info[:2] < (3,13)))' 2>/dev/null && { echo $$p; break; }; \
          done)
EXTRAS ?= dev

.PHONY: demo test bench lint serve clean system-deps

$(BIN)/python:
	@test -n "$(PYTHON)" || { echo "dsk needs Python 3.10, 3.11 or 3.12 (durable_rules does not import on 3.13)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip setuptools wheel

$(VENV)/.installed-$(EXTRAS): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -e '.[$(EXTRAS)]'
	@touch $@

demo: $(VENV)/.installed-dev
	$(BIN)/dsk demo

# System packages the test suite needs: Debian's Chromium for the browser tests
# (PostgreSQL's initdb and pg_ctl must be on PATH or under /usr/lib/postgresql).
system-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
	@command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  echo "installing PostgreSQL for the database tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }

# axe-core, for the accessibility checks of the browser tests, from npm (the version
# pinned in tests/app/package-lock.json); installed only when it is missing.
tests/app/node_modules/axe-core:
	@command -v npm >/dev/null 2>&1 || { \
	  echo "installing npm for the browser tests' axe-core"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null; }
	cd tests/app && npm ci --no-audit --no-fund

# tests/test_packaging.py builds the wheel and runs it from a fresh virtual environment.
# The suite runs in TEST_WORKERS processes (pytest-xdist), a test file to a process, so that
# module fixtures are built once; each process starts its own PostgreSQL server and browser.
TEST_WORKERS ?= 2
test: $(VENV)/.installed-dev system-deps tests/app/node_modules/axe-core
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile

bench: $(VENV)/.installed-dev
	$(BIN)/python -m benchmarks

serve: $(VENV)/.installed-dev
	$(BIN)/dsk serve

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check dsk tests benchmarks
	$(BIN)/mypy

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache tests/app/node_modules
