# Two commands do everything on a fresh machine with Python >= 3.11 and make:
#   make demo   set up .venv, run the main job
#   make test   set up .venv, run the test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-slow bench fast lint clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "clearing needs Python >= 3.11; set PYTHON=python3.11")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

DATA ?= $(abspath ../shared/data/crashdays)

# The main job: Black Thursday under the Binance USD-M preset, on the real one-minute tape
# when the data directory has it (else on the hourly path the scenario writes down).
demo: $(STAMP)
	CLEARING_DATA_DIR=$${CLEARING_DATA_DIR:-$(DATA)} $(BIN)/clearing run scenarios/black-thursday-2020.toml --seed 0 \
		--out replays/black-thursday-2020.sqlite --overwrite --progress always
	$(BIN)/clearing report replays/black-thursday-2020.sqlite --out replays/black-thursday-2020.html --overwrite

# The suite runs on every core (pytest-xdist), a test file per worker at a time so that a file's
# module fixtures are built once; TEST_JOBS=0 runs it in this process.
TEST_JOBS ?= auto
XDIST = -n $(TEST_JOBS) --dist loadfile

test: $(STAMP)
	$(BIN)/python -m pytest -q $(XDIST) --durations=15

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow $(XDIST) --durations=15

# The fast build: the hot modules compiled with mypyc (tools/build_fast.py, decision 0012),
# rebuilt when a source changes. Run it with PYTHONPATH=build/fast python -P (-P: not the sources in the current directory).
FAST := build/fast
$(FAST)/SOURCE_HASH: $(STAMP) tools/build_fast.py $(shell find clearing -name '*.py')
	$(BIN)/python -m pip install --quiet 'mypy>=1.10' scipy-stubs
	$(BIN)/python tools/build_fast.py $(FAST)

fast: $(FAST)/SOURCE_HASH

bench: $(STAMP) $(FAST)/SOURCE_HASH
	CLEARING_DATA_DIR=$${CLEARING_DATA_DIR:-$(DATA)} CLEARING_FAST_BUILD=$(abspath $(FAST)) \
	$(BIN)/python -m pytest tests/benchmarks --benchmark-only -q

lint: $(STAMP)
	$(BIN)/python -m pip install --quiet ruff mypy scipy-stubs
	$(BIN)/python -m ruff check clearing tests tools
	$(BIN)/lint-imports
	$(BIN)/python -m mypy clearing

clean:
	rm -rf $(VENV) build .pytest_cache .benchmarks replays/*.sqlite replays/*.sqlite-* replays/*.html
