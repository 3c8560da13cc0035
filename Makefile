# Quick start: `make demo` (a real sweep over examples/), `make test` (the whole suite).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PACKAGES := agentd/__init__.py agentd/__main__.py daemon config state
PYTEST_ARGS ?=

.PHONY: demo test lint venv clean-demo bench mutants screenshot

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

demo: venv
	@$(BIN)/python examples/make_workspace.py
	PATH="$(CURDIR)/examples/bin:$$PATH" $(BIN)/agentd run --once --config examples/demo.toml; \
	  status=$$?; echo "agentd exited with status $$status (1 = some task failed, as the demo intends)"

lint: venv
	$(BIN)/ruff check $(PACKAGES) tests examples bench
	$(BIN)/ruff format --check $(PACKAGES) tests examples bench
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

# Two workers per core (xdist): the suite runs real processes and mostly waits on them
# (on 2 cores: 5 min 46 s with 4 workers against 7 min 33 s with 2, CPU use about the
# same). worksteal: an idle worker takes tests queued on another, so the few long fault
# tests do not leave a core idle at the end.
JOBS ?= $(shell echo $$(( $$(nproc) * 2 )))
test: lint
	$(BIN)/pytest -n $(JOBS) --dist worksteal $(PYTEST_ARGS)

clean-demo:
	rm -rf examples/workspace

bench: venv
	$(BIN)/python bench/run.py --out BENCHMARKS.md

# docs/report.png and docs/report-phone.png: the demo's report.html after a week of nights
# (real sweeps on a moved clock, in a temporary directory), in headless chromium.
screenshot: venv
	$(BIN)/python -m tests.output.reportdata docs
	@if command -v optipng >/dev/null; then optipng -quiet -o2 docs/report.png docs/report-phone.png; \
	  else echo "optipng not installed: the PNGs are not optimised"; fi

# Each promise of RELIABILITY.md against the mutant of the product that breaks it (~40 min).
mutants: venv
	$(BIN)/python tests/mutants.py
