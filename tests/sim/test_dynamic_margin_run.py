"""Dynamic margin in a run: rates rise with the crash's volatility, the log replays them, off changes nothing."""

from __future__ import annotations

import pytest

from clearing import events as ev
from clearing.apps.replay import fold
from clearing.apps.run import run_scenario
from clearing.core.invariants import violations
from clearing.errors import ConfigError
from clearing.log.reader import EventLogReader
from clearing.scenario import load_scenario
from tests.conftest import ROOT
from tests.regression.test_head_hashes import DYNAMIC, SHORT

SCENARIO = ROOT / "scenarios" / "synthetic-crash.toml"


@pytest.fixture(scope="module")
def dynamic_run(tmp_path_factory):
    scenario = load_scenario(SCENARIO, list(DYNAMIC))
    path = tmp_path_factory.mktemp("dynamic") / "run.sqlite"
    return scenario, path, run_scenario(scenario, 1, path)


def rate_events(path):
    with EventLogReader(path) as reader:
        return [ev.to_builtins(e) for _seq, e in reader.events(kinds=["margin_rates_set"])]


def test_rates_rise_with_the_crash_and_the_log_replays_them(dynamic_run):
    _scenario, path, live = dynamic_run
    result = fold(path)
    assert result.summary == live and violations(result.state) == []
    events = rate_events(path)
    assert events, "the crash moved the rates"
    before = [e for e in events if e["ts_ns"] < 600 * 10**9]
    peak = max(events, key=lambda e: e["multiplier_ppm"])
    assert peak["ts_ns"] >= 600 * 10**9 and peak["multiplier_ppm"] > max((e["multiplier_ppm"] for e in before), default=10**6)
    assert all(e["bracket_rates_ppm"][0] == -(-5_000 * e["multiplier_ppm"] // 10**6) for e in events)  # 0.5 % listed
    multipliers = [e["multiplier_ppm"] for e in events]
    assert all(b <= a * 1.25 + 1 and b >= a * 0.95 - 1 for a, b in zip([10**6, *multipliers], multipliers, strict=False))
    assert result.state.dynamic_rates[0][0] == events[-1]["multiplier_ppm"]


def test_off_it_is_the_run_without_the_section(tmp_path):
    off = load_scenario(SCENARIO, [*SHORT, "dynamic_margin.enabled=false", "dynamic_margin.cap=5"])
    plain = load_scenario(SCENARIO, list(SHORT))
    assert off.dynamic_margin.enabled is False
    a = run_scenario(off, 1, tmp_path / "off.sqlite")
    b = run_scenario(plain, 1, tmp_path / "plain.sqlite")
    assert a.state_digest == b.state_digest and a.events == b.events


def test_a_wrong_dynamic_margin_is_refused():
    with pytest.raises(ConfigError, match="exceeds cap"):
        load_scenario(SCENARIO, ["dynamic_margin.floor=4", "dynamic_margin.cap=3"])
    with pytest.raises(ConfigError, match="steps of 100000 ppm"):
        load_scenario(SCENARIO, ["dynamic_margin.enabled=true", "market.maintenance_brackets=[[0, 0.005], [0.00007, 0.105]]"])
