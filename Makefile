# Two commands do all set-up on a fresh machine:
#   make demo   -- create .venv, then run the furthest pipeline stage on an embedded example
#   make test   -- create .venv, then run the unit tests
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
EXTRAS ?= dev,tvm

$(BIN)/nasc: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip==25.3
	$(BIN)/pip install --quiet -e ".[$(EXTRAS)]"
	touch $@

venv: $(BIN)/nasc

demo: venv
	$(BIN)/nasc check examples/digits_tiny.nas
	$(BIN)/nasc freeze examples/digits_tiny.nas --random 0

test: venv
	$(BIN)/python -m pytest -q tests

bench: venv
	$(BIN)/python benchmarks/frontend_speed.py

.PHONY: venv demo test bench
