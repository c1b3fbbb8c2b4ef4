# The course's commands: `make lab`, `make test` and `make book`.
# Both create .venv on first use and reinstall when pyproject.toml or the lock changes.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# CI and this course's reference machine use the CPU build of torch 2.13.0; any
# torch >= 2.4 works (override: make test TORCH_SPEC='torch==2.5.1').
TORCH_SPEC ?= torch==2.13.0
# Every other dependency is installed at the version CI tested (pip constraints), so next
# year's releases cannot break a fresh clone. `make lock` refreshes the file; LOCK= installs
# from pyproject.toml's open ranges instead (needed with another TORCH_SPEC, whose own
# pins, e.g. sympy, may differ).
LOCK ?= requirements-lock.txt
PYTEST_ARGS ?=

.PHONY: lab test test-gpu build book install lock clean-venv

$(STAMP): pyproject.toml $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet $(if $(LOCK),--constraint $(LOCK)) -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

lab: install
	$(BIN)/course lab

build: install
	$(BIN)/course build

# The course as a static website from the committed notebooks: _build/book/index.html
# (opens from disk, or: python -m http.server -d _build/book).
book: install
	$(BIN)/course book

# Unit tests, every lesson and solution executed (nbval), the exercise and grader
# tests, the pairing test; per-notebook times and budgets are printed at the end, and
# every skipped test with its reason (-rs), e.g. the browser tests without Chromium.
test: install
	$(BIN)/python -m pytest -rs --durations=0 --timeout=1800 \
	  --nbval-lax --nbval-current-env --nbval-cell-timeout=600 \
	  tests notebooks solutions $(PYTEST_ARGS)

# Every lesson and solution on one CUDA GPU with the GPU presets: per-notebook time and
# the numbers its asserts check, in gpu-report.json. Refuses to start without CUDA.
test-gpu: install
	$(BIN)/course gpu-run --out gpu-report.json

# The newest releases pyproject.toml's ranges allow, installed into a throw-away venv and
# written to requirements-lock.txt; run `make test` before committing the new lock.
lock:
	rm -rf .venv-lock
	$(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install --quiet "$(TORCH_SPEC)"
	.venv-lock/bin/python -m pip install --quiet -e '.[dev]'
	head -n 4 requirements-lock.txt > requirements-lock.tmp
	.venv-lock/bin/python -m pip freeze --exclude-editable | grep -iv '^torch==' >> requirements-lock.tmp
	mv requirements-lock.tmp requirements-lock.txt
	rm -rf .venv-lock

clean-venv:
	rm -rf $(VENV)
