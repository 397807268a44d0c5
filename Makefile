# retape: every target builds its own virtualenv first, so a fresh clone needs nothing else.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
RETAPE := $(VENV)/bin/retape
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test lint sessions bench bench-smoke clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[record,demo,locust,test]'
	touch $@

## demo: replay sessions/ against the embedded demo target, regressed then fixed
demo: $(STAMP)
	$(PY) -m demo.showcase

## test: lint, the shipped cassettes (valid, no secrets), and the test suite
test: $(STAMP) lint
	$(RETAPE) validate sessions/
	$(RETAPE) scan sessions/
	$(PY) -m pytest

## lint: ruff, formatting, the layering contracts of docs/architecture.md, and mypy
lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) scripts/check_layers.py
	$(PY) scripts/typecheck.py

## sessions: re-record sessions/ from the demo target through the real recorder
sessions: $(STAMP)
	$(PY) -m scripts.record_sessions

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis

## bench: retape vs its baselines (replay, websocket, record, load); results in bench/results/
bench: $(STAMP)
	$(PY) bench/run.py

## bench-smoke: every benchmark at tiny sizes, in well under a minute
bench-smoke: $(STAMP)
	$(PY) bench/run.py --smoke
