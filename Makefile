# Two commands do everything on a fresh machine (Python 3.11+, a JDK):
#   make run    runs the shipped scenario catalogue, writes reports/junit.xml
#   make test   runs the whole test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
JUNIT  ?= reports/junit.xml
# Parallel test workers; `make test N=0` runs in one process.
N      ?= auto

.PHONY: run test lint fuzz load bench pythons clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# A stamp per install flavour: re-installs when pyproject.toml changes.
# pyjks gave way to purejks (same `jks` package files): where pyjks is still
# installed, remove both and let the install below put purejks back whole.
DROP_PYJKS := if $(BIN)/python -m pip show --quiet pyjks >/dev/null 2>&1; then \
	$(BIN)/python -m pip uninstall --quiet --yes pyjks twofish purejks 2>/dev/null; fi; true

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(DROP_PYJKS)
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(DROP_PYJKS)
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed

run: $(VENV)/.installed
	$(BIN)/mtls-harness run scenarios/ --junit $(JUNIT)

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest -n $(N)

# The interpreter-dependent subset on the other supported Pythons (also part of `make test`).
pythons: $(VENV)/.installed-test
	$(BIN)/python -m pytest tests/test_pythons.py -p no:cacheprovider -n $(N)

lint: $(VENV)/.installed-test
	$(BIN)/ruff check harness tests benchmarks
	$(BIN)/mypy

fuzz: $(VENV)/.installed-test
	MTLS_FUZZ=1 $(BIN)/python -m pytest tests/test_fuzz.py -m slow -k fuzz -p no:cacheprovider

load: $(VENV)/.installed-test
	MTLS_LOAD=1 $(BIN)/python -m pytest -m slow -k load -p no:cacheprovider

bench: $(VENV)/.installed-test
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) reports .pytest_cache .mypy_cache .ruff_cache
