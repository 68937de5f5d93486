# Two commands on a fresh machine (only python3, git and make needed):
#   make demo   runs the main job: a full two-way sync against the local sandbox CRMs
#   make test   runs lint and the whole test suite (SQLite and PostgreSQL)
SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
export UV_PYTHON_DOWNLOADS := never
export UV_COMPILE_BYTECODE := 1

.PHONY: install demo test lint format bench bench-full bench-deps bench-throughput bench-scale bench-scale-pg clean

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# --all-extras: the demo and the tests need the sandbox CRMs' extra (crmsync[sandbox]).
$(VENV)/.installed: $(UV) pyproject.toml uv.lock Makefile
	$(UV) sync --frozen --all-extras --python $(PYTHON)
	@touch $@

install: $(VENV)/.installed

demo: install
	$(VENV)/bin/crmsync demo

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: lint
	$(VENV)/bin/pytest

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# dlt, for the side-by-side benchmark only: its own environment, exact pins with hashes
# (regenerate with: $(UV) pip compile --generate-hashes --python-version 3.11
#  bench/requirements-dlt.in -o bench/requirements-dlt.txt). Never in crmsync's dependencies.
BENCH_DLT := bench/.venv-dlt

$(BENCH_DLT)/.installed: $(UV) bench/requirements-dlt.txt
	$(UV) venv --clear --quiet --python $(PYTHON) $(BENCH_DLT)
	$(UV) pip install --quiet --python $(BENCH_DLT)/bin/python --require-hashes -r bench/requirements-dlt.txt
	@touch $@

# crmsync vs dlt side by side against one HubSpot sandbox: < 5 min (docs/BENCHMARKS.md).
bench: install $(BENCH_DLT)/.installed
	$(VENV)/bin/python -m bench

# matplotlib for the scale plots: the locked `bench` dependency group, added to .venv (--inexact
# keeps py-spy, which bench-full installs beside it).
bench-deps: install
	$(UV) sync --frozen --inexact --all-extras --group bench --python $(PYTHON)

# Target 2: transform + validate + load of 100k records on one core, the API excluded (~1-3 min).
bench-throughput: install
	BENCH_ONLY=throughput $(VENV)/bin/python -m bench

# Target 5: `crmsync sync hubspot` pulls of 10k, 100k and 1M records with RSS sampled every 0.2 s;
# plots in docs/ (15-40 min on this machine, most of it the 1M run).
bench-scale: bench-deps
	BENCH_ONLY=scale $(VENV)/bin/python -m bench

# The same pulls into a throw-away PostgreSQL database per size on the local server (trust auth;
# BENCH_POSTGRES_URL to point elsewhere), dropped afterwards; plots docs/bench-scale-pg-*.png.
bench-scale-pg: bench-deps
	BENCH_ONLY=scale BENCH_SCALE_STORE=postgresql $(VENV)/bin/python -m bench

# bench, then crmsync's own pull/no-change/push timings for both CRMs against the optimum
# API calls, and where crmsync's time goes: py-spy profiles of a full load and of quiet runs
# (ephemeral API, running server), import times, task-run, GX and SDK costs (~10 min); then
# local throughput and the 10k/100k/1M scale runs (bench-throughput, bench-scale).
bench-full: bench bench-deps
	BENCH_ONLY=pull_push $(VENV)/bin/python -m bench
	$(UV) pip install --quiet --python $(VENV)/bin/python py-spy==0.4.3
	$(VENV)/bin/python -m bench.profile
	BENCH_ONLY=throughput $(VENV)/bin/python -m bench
	BENCH_ONLY=scale $(VENV)/bin/python -m bench

clean:
	rm -rf $(TOOLS) $(VENV) $(BENCH_DLT) .pytest_cache .ruff_cache
