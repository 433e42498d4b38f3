# Two commands for a fresh machine (see README.md):  make run   and   make test
VENV ?= .venv
PYTHON ?= python3
CORES ?= 2
STAMP := $(VENV)/.installed

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet "torch==2.13.0" -e ".[test,slurm]"
	touch $(STAMP)

.PHONY: install run test lint
install: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/snakemake --cores $(CORES)

test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/snakemake --lint
	$(VENV)/bin/pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/snakemake --lint
