"""The crash-day scenarios: every one validates, runs a short window, and falls back to its hourly path.

With CLEARING_DATA_DIR pointing at the crash-day files (CI does), the windows run on the
real one-minute tapes; without them, on the hourly open/high/low/close path each scenario
writes down. The full Black Thursday run is marked slow (`make test-slow`, which CI runs).
"""

import json
import os
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from clearing.apps.run import run_in_memory, run_scenario
from clearing.core.invariants import violations
from clearing.data.inputs import resolve_inputs
from clearing.scenario import load_scenario
from tests.builders import payload_dict, state_from_rows

ROOT = Path(__file__).resolve().parents[2]
CRASH_DAYS = ["black-thursday-2020", "may-19-2021", "ftx-2022", "august-5-2024", "october-10-2025"]
DATA = Path(os.environ.get("CLEARING_DATA_DIR", ROOT / "data"))


def scenario(name, *overrides):
    return load_scenario(ROOT / "scenarios" / f"{name}.toml", list(overrides))


@pytest.mark.parametrize("path", sorted((ROOT / "scenarios").glob("*.toml")), ids=lambda p: p.stem)
def test_every_scenario_file_validates(path):
    assert load_scenario(path).name == path.stem


@pytest.mark.parametrize("name", CRASH_DAYS)
def test_every_crash_day_writes_its_hourly_path_as_facts_from_its_tape(name):
    # The hourly rows are the tape's own hours: the first open is the tape's first, and the
    # path covers the whole run.
    s = scenario(name)
    first = s.price.hourly[0]
    assert datetime.fromisoformat(first[0]) == s.epoch and first[1] == s.price.initial
    assert len(s.price.hourly) * 3600 >= s.duration_s and s.price.hourly_source
    tape = DATA / s.price.files[0]
    if tape.is_file():  # with the data: each hour's open, high, low and close are the minutes'
        rows = np.loadtxt(tape, delimiter=",", skiprows=1, dtype=str)[:60]
        assert [Decimal(x) for x in first[1:]] == [
            Decimal(rows[0, 1]), max(Decimal(x) for x in rows[:, 2]), min(Decimal(x) for x in rows[:, 3]), Decimal(rows[-1, 4])
        ]  # fmt: skip


@pytest.mark.parametrize("name", CRASH_DAYS)
def test_every_crash_day_runs_a_short_window(name):
    s = scenario(name, "duration_s=900", "population.accounts=2000", "checkpoint_interval_s=300")
    summary, sink = run_in_memory(s, 1)
    files = ", ".join(s.price.files)
    on_tape = all((DATA / f).is_file() for f in s.price.files)
    tape = (
        f"tape {files}"
        if on_tape
        else f"hourly path in the scenario ({s.price.hourly_source}); {files} not in the data directory"
    )
    assert summary.data_sources.split("; book depth")[0] == f"BTCUSDT-PERP: {tape}"
    state = state_from_rows(sink.rows)
    assert violations(state) == [] and state.digest() == summary.state_digest
    first = next(payload_dict(p) for _s, _t, kind, _v, _c, p, _h in sink.rows if kind == "index_price_updated")
    assert first["price_ticks"] * s.market.tick_size == s.price.initial  # the day opens at the tape's first price


@pytest.fixture
def no_data(tmp_path, monkeypatch):
    # No data directory anywhere: not in the environment, no ./data.
    monkeypatch.delenv("CLEARING_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_without_the_data_files_the_hourly_path_is_bridged_and_said(no_data):
    tmp_path = no_data
    s = scenario("may-19-2021", "duration_s=7200", "population.accounts=500")
    assert resolve_inputs(s, tmp_path) == {}  # nothing found, no error: the hourly path stands in
    summary = run_scenario(s, 2, tmp_path / "run.sqlite", data_dir=tmp_path)
    assert "hourly path in the scenario" in summary.data_sources
    from clearing.log.reader import EventLogReader

    with EventLogReader(tmp_path / "run.sqlite") as reader:
        assert json.loads(reader.header.inputs_json) == {}  # no file read; the bars are in the hashed scenario
        prices = [e.price_ticks for _seq, e in reader.events(kinds=["index_price_updated"])]
    hours = s.price.hourly[:2]
    ticks = [[int(Decimal(x) / s.market.tick_size) for x in row[1:]] for row in hours]
    assert max(prices) <= max(t[1] for t in ticks) and min(prices) >= min(t[2] for t in ticks)


def test_a_missing_tape_without_an_hourly_path_is_one_clear_error(no_data):
    tmp_path = no_data
    from clearing.errors import DataError

    with pytest.raises(DataError, match="btcusdt_1m_2020-03-12.csv"):
        resolve_inputs(load_scenario(ROOT / "scenarios" / "btcusdt-2020-03-12-1000.toml"), tmp_path)


@pytest.mark.slow
def test_the_full_black_thursday_run_conserves_and_replays(tmp_path):
    from clearing.apps.replay import fold

    summary = run_scenario(scenario("black-thursday-2020"), 0, tmp_path / "bt.sqlite")
    result = fold(tmp_path / "bt.sqlite")
    assert result.summary == summary
    assert summary.liquidations > 1000 and summary.sim_seconds == 129_600
