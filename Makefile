# Two entry points, each doing all set-up on a fresh machine with Python 3:
#   make run    create .venv, install requirements, run every experiment into results/
#   make quick  the same with small sizes, into results/quick/
#   make test   create .venv, install requirements, run the test suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: run quick test clean

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

run: $(VENV)/.installed
	$(PY) experiments/reproduce.py

quick: $(VENV)/.installed
	$(PY) experiments/reproduce.py --quick --out results/quick

test: $(VENV)/.installed
	$(PY) -m pytest

clean:
	rm -rf $(VENV) results
