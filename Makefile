# The two commands in README.md. Each creates .venv when missing and installs what it needs.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
# The first interpreter found that is Python >= 3.11.
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3 python; do \
  command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
  && { echo $$p; break; }; done)
PYTEST_ARGS ?=

.PHONY: demo test lint typecheck bench clean

$(BIN)/python:
	@if [ -z "$(PYTHON)" ]; then echo "modelyard needs Python >= 3.11 (none found on PATH)"; exit 1; fi
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.demo-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[pipeline,serve]"
	@touch $@

$(VENV)/.test-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[test]"
	@touch $@ $(VENV)/.demo-installed

demo: $(VENV)/.demo-installed
	$(BIN)/python -m modelyard.demo

lint: $(VENV)/.test-installed
	$(BIN)/ruff check src tests benchmarks

typecheck: $(VENV)/.test-installed
	$(BIN)/mypy src

test: $(VENV)/.test-installed
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy src
	$(BIN)/pytest $(PYTEST_ARGS)

bench: $(VENV)/.test-installed
	for b in benchmarks/*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .modelyard .pytest_cache .mypy_cache .ruff_cache demo_output
