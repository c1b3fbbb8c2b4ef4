# The course's two commands: `make lab` and `make test`.
# Both create .venv on first use and reinstall when pyproject.toml changes.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# CI and this course's reference machine use the CPU build of torch 2.13.0; any
# torch >= 2.4 works (override: make test TORCH_SPEC='torch==2.5.1').
TORCH_SPEC ?= torch==2.13.0
PYTEST_ARGS ?=

.PHONY: lab test build install clean-venv

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

lab: install
	$(BIN)/course lab

build: install
	$(BIN)/course build

# Unit tests, every lesson and solution executed (nbval), the exercise and grader
# tests, the pairing test; per-notebook times and budgets are printed at the end.
test: install
	$(BIN)/python -m pytest --durations=0 --timeout=1800 \
	  --nbval-lax --nbval-current-env --nbval-cell-timeout=600 \
	  tests notebooks solutions $(PYTEST_ARGS)

clean-venv:
	rm -rf $(VENV)
