# Two commands do everything on a fresh machine with Python >= 3.11 and make:
#   make demo   set up .venv, run the main job
#   make test   set up .venv, run the test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-slow bench lint clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "clearing needs Python >= 3.11; set PYTHON=python3.11")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/clearing run scenarios/synthetic-crash.toml --seed 0 --out replays/synthetic-crash-0.sqlite --overwrite
	$(BIN)/clearing verify replays/synthetic-crash-0.sqlite
	$(BIN)/clearing replay replays/synthetic-crash-0.sqlite --until 3900

test: $(STAMP)
	$(BIN)/python -m pytest -q

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow

bench: $(STAMP)
	CLEARING_DATA_DIR=$${CLEARING_DATA_DIR:-$(abspath ../shared/data/crashdays)} \
	$(BIN)/python -m pytest tests/benchmarks --benchmark-only -q

lint: $(STAMP)
	$(BIN)/python -m pip install --quiet ruff mypy
	$(BIN)/python -m ruff check clearing tests
	$(BIN)/python -m mypy clearing

clean:
	rm -rf $(VENV) .pytest_cache .benchmarks replays/*.sqlite replays/*.sqlite-*
