# Entry points for development and CI. Needs GNU make and python3; the tools live in
# $(VENV), created by `make setup` (which also makes sure redis-server is available).

PYTHON ?= python3
VENV ?= .venv
PYTEST_ARGS ?=
BENCH_ARGS ?=

BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LINT_PATHS := rq tests examples setup.py

# Silence the MkDocs 2.0 announcement banner printed on every build.
export NO_MKDOCS_2_WARNING := 1

.DEFAULT_GOAL := help

.PHONY: help setup ensure-redis test test-fast lint format typecheck docs docs-serve \
	demo interop faults soak bench clean

help:
	@echo "make demo        run the end-to-end demo (throwaway Redis, jobs, a worker)"
	@echo "make test        lint, docs build and the full test suite (what CI runs)"
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
	@echo "make setup       create $(VENV) and install the package with dev extras"
	@echo "make clean       remove $(VENV), build output and caches"

setup: ensure-redis $(STAMP)

ensure-redis:
	@bash scripts/ensure-redis.sh

$(STAMP): setup.py pyproject.toml
	bash scripts/make-venv.sh "$(PYTHON)" "$(VENV)"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	touch $@

test: setup
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/mkdocs build --strict --site-dir site
	$(BIN)/python -m pytest $(PYTEST_ARGS)

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

clean:
	rm -rf "$(VENV)" site build dist .tox .pytest_cache .mypy_cache .ruff_cache .hypothesis
	rm -rf *.egg-info
	find . -name __pycache__ -type d -not -path "./.git/*" -prune -exec rm -rf {} +

bench: setup
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r bench/requirements.txt
	$(BIN)/python bench/run.py $(BENCH_ARGS)
