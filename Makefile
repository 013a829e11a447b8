# Painel: the two commands of the README, and their parts.
#   make demo   install, migrate, load and bill the demo operator, print where to look, serve the portal
#   make test   install everything the tests need and run them all
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
PIP     = $(VENV)/bin/pip
PAINEL  = $(VENV)/bin/painel

.PHONY: install install-test system-deps demo test bench clean

$(VENV)/bin/activate:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

install: $(VENV)/bin/activate
	$(PIP) install --quiet -e .

install-test: $(VENV)/bin/activate system-deps
	$(PIP) install --quiet -e ".[test,bench]"

# Debian packages the test suite needs (PostgreSQL server for the second engine).
system-deps:
	@bash scripts/system-deps.sh

demo: install
	$(PAINEL) db upgrade
	$(PAINEL) demo
	@bash scripts/where-to-look.sh
	$(PAINEL) run --no-demo  # loaded just above; painel run alone would load it again

test: install-test
	@bash scripts/run-tests.sh

bench: install-test
	$(PY) bench/ingest.py

clean:
	rm -rf var/ .pytest_cache build *.egg-info
