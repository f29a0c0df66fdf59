# Mininet/P4 testbed for multicast distribution of LLM weights.
# `make run-experiment` and `make test` set up what they need on first use.
SHELL := /bin/bash
VENV ?= .venv
# The interpreter a new venv is made with (3.11 to 3.13); empty: the venv's own, else python3.
PYTHON ?=
export VENV PYTHON
PY := $(VENV)/bin/python
EXP ?= experiments/default.yaml
PYTEST_ARGS ?=

.PHONY: help setup setup-pip test test-fast run-experiment lint bench clean clean-net p4 net shell corpus

help:
	@echo "make run-experiment [EXP=file.yaml]  run an experiment (default: $(EXP))"
	@echo "make test                            run the test suite (root: Mininet, FRR)"
	@echo "make test-fast                       unit tests of every part: no root, no apt"
	@echo "make lint | bench | p4 | net TOPO=.. | shell SW=s1 | clean | clean-net | corpus"

setup:
	@bash scripts/setup.sh

setup-pip:
	@bash scripts/setup.sh --pip-only

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

# What --fast leaves out is defined in tests/conftest.py (FAST_EXCLUDES).
test-fast: setup-pip
	$(PY) -m pytest --fast $(PYTEST_ARGS)

run-experiment: setup
	$(PY) -m experiments run $(EXP)

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	@if command -v shellcheck >/dev/null; then shellcheck scripts/*.sh .ci/run $$(ls vagrant/*.sh 2>/dev/null); fi
	@if [ -f vagrant/Vagrantfile ] && command -v ruby >/dev/null; then ruby -c vagrant/Vagrantfile; fi

bench: setup
	$(PY) -m bench

p4: setup
	$(PY) -m softswitch.build_all --out build

net: setup
	$(PY) -m experiments.net $(TOPO)

shell: setup
	$(PY) -m controlplane.shell $(SW)

corpus:
	bash scripts/refresh-corpus.sh

clean-net:
	-$(PY) -m experiments.cleanup 2>/dev/null || bash scripts/clean-net.sh

clean:
	rm -rf build .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
