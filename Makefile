# Two commands for a fresh machine (see README.md):  make run   and   make test
# make test:     lint + the fast lane (unit tests and dry runs; not marked slow or slurm)
# make test-all: lint + every test (real workflow runs, SLURM): what CI runs (.ci/run)
VENV ?= .venv
PYTHON ?= python3
CORES ?= 2
STAMP := $(VENV)/.installed
# both test commands end with the slowest tests and their times
DURATIONS := --durations=15

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet "torch==2.13.0" -e ".[test,slurm]"
	touch $(STAMP)

.PHONY: install run test test-all lint
install: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/snakemake --cores $(CORES)

test: lint
	$(VENV)/bin/pytest -m "not slow and not slurm" $(DURATIONS)

test-all: lint
	$(VENV)/bin/pytest $(DURATIONS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/snakemake --lint
