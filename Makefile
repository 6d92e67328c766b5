# Entry points for development and CI. Needs GNU make and python3; the tools live in
# $(VENV), created by `make setup` (which also makes sure redis-server is available).

PYTHON ?= python3
VENV ?= .venv
PYTEST_ARGS ?=
BENCH_ARGS ?=
CONFORMANCE_ARGS ?=

BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LINT_PATHS := rq tests examples bench scripts setup.py
# The pip that installs everything else, and the lock for this Python's dev tools.
PIP_VERSION := 26.3
PYTHON_TAG := $(shell $(PYTHON) -c 'import sys; print("py%d%d" % sys.version_info[:2])' 2>/dev/null)
LOCK ?= requirements/dev-$(PYTHON_TAG).txt
# RQ_TEST_LATEST=1 installs the newest releases of everything instead of the locks.
RQ_TEST_LATEST ?=
ifeq ($(RQ_TEST_LATEST),1)
DEV_INSTALL := --upgrade --upgrade-strategy eager -e ".[dev]"
BUILD_PINS :=
STAMP_DEPS := setup.py pyproject.toml FORCE
else
DEV_INSTALL := -c $(LOCK) -e ".[dev]"
# pip's isolated build of this package reads its constraints from the environment.
BUILD_PINS := PIP_CONSTRAINT=requirements/build.txt
STAMP_DEPS := setup.py pyproject.toml $(LOCK) requirements/build.txt
endif

# Silence the MkDocs 2.0 announcement banner printed on every build.
export NO_MKDOCS_2_WARNING := 1

.DEFAULT_GOAL := help

.PHONY: help setup ensure-redis test test-latest test-fast lint format typecheck docs docs-serve \
	demo interop faults soak bench conformance pins clean FORCE

help:
	@echo "make demo        run the end-to-end demo (throwaway Redis, jobs, a worker)"
	@echo "make test        lint, types, docs build and the full test suite (what CI runs)"
	@echo "make test-latest the same against the newest releases of every dependency and peer"
	@echo "make test-fast   only the test suite; pass options with PYTEST_ARGS=..."
	@echo "make lint        ruff check and ruff format --check"
	@echo "make format      apply ruff fixes and formatting"
	@echo "make typecheck   mypy on the package"
	@echo "make docs        build the documentation into site/"
	@echo "make docs-serve  serve the documentation with live reload"
	@echo "make faults      the Redis fault-injection suite (tests/faults)"
	@echo "make interop     tests against upstream RQ releases (marker: interop)"
	@echo "make soak        long endurance tests (marker: soak)"
	@echo "make bench       speed against upstream RQ 2.12.0; BENCH_ARGS=--quick for a smoke test"
	@echo "make conformance upstream RQ's own test suites on upstream and on this package; CONFORMANCE_ARGS=..."
	@echo "make setup       create $(VENV) and install the package with dev extras (pinned)"
	@echo "make pins        rewrite the lock files in requirements/ with today's releases"
	@echo "make clean       remove $(VENV), build output and caches"

setup: ensure-redis $(STAMP)

ensure-redis:
	@bash scripts/ensure-redis.sh

$(STAMP): $(STAMP_DEPS)
	@if [ "$(RQ_TEST_LATEST)" != 1 ] && [ ! -f "$(LOCK)" ]; then \
		echo "no lock file $(LOCK) for $(PYTHON); see docs/development.md (make pins)" >&2; exit 1; fi
	bash scripts/make-venv.sh "$(PYTHON)" "$(VENV)"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "pip==$(PIP_VERSION)"
	$(BUILD_PINS) $(BIN)/python -m pip install --quiet --disable-pip-version-check $(DEV_INSTALL)
	touch $@

FORCE:

test: setup
	$(BIN)/python -m pip freeze --disable-pip-version-check --exclude-editable | tr '\n' ' ' && echo
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)
	$(BIN)/mypy
	$(BIN)/python scripts/check_import_cycles.py rq
	$(BIN)/mkdocs build --strict --site-dir site
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-latest:
	RQ_TEST_LATEST=1 $(MAKE) test VENV=.venv-latest

pins:
	bash scripts/refresh-pins.sh

test-fast: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)

format: setup
	$(BIN)/ruff check --fix $(LINT_PATHS)
	$(BIN)/ruff format $(LINT_PATHS)

typecheck: setup
	$(BIN)/mypy

docs: setup
	$(BIN)/mkdocs build --strict --site-dir site

docs-serve: setup
	$(BIN)/mkdocs serve

demo: setup
	$(BIN)/python examples/demo.py

interop: setup
	$(BIN)/python -m pytest -m interop $(PYTEST_ARGS)

faults: setup
	$(BIN)/python -m pytest tests/faults $(PYTEST_ARGS)

soak: setup
	$(BIN)/python -m pytest -m soak $(PYTEST_ARGS)

conformance: setup
	$(BIN)/python scripts/conformance.py $(CONFORMANCE_ARGS)

clean:
	rm -rf "$(VENV)" .venv-latest site build dist .tox .pytest_cache .mypy_cache .ruff_cache .hypothesis
	rm -rf *.egg-info
	find . -name __pycache__ -type d -not -path "./.git/*" -prune -exec rm -rf {} +

bench: setup
	$(BIN)/python -m pip install --quiet --disable-pip-version-check $(if $(filter 1,$(RQ_TEST_LATEST)),,-c requirements/bench.txt) -r bench/requirements.txt
	$(BIN)/python bench/run.py $(BENCH_ARGS)
