"""Issue 13's scenario target: `options-crash` at its default size clears >= 500 simulated s per wall s.

BTC and ETH perpetuals drawn jointly with a stress regime, a BTC dated future and 30 BTC
options on a leverage-effect surface, 5,000 cross-margined traders, six simulated hours,
written to a log file as `clearing run` does, pure Python, on one core. Reported: the rate,
the event count and the events per simulated second.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from clearing.apps.run import run_scenario
from clearing.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[2]
TARGET = 500  # simulated seconds per wall second


@pytest.mark.benchmark(group="scenario")
def test_options_crash_at_default_size(benchmark: BenchmarkFixture, tmp_path: Path) -> None:
    scenario = load_scenario(ROOT / "scenarios" / "options-crash.toml")
    assert sum(m.kind == "option" for m, _ in scenario.listed()) == 30
    log = tmp_path / "options-crash.sqlite"
    result = {}

    def run() -> None:
        log.unlink(missing_ok=True)
        start = time.perf_counter()
        summary = run_scenario(scenario, 0, log)
        result.update(seconds=time.perf_counter() - start, events=summary.events, head=summary.head_hash)

    benchmark.pedantic(run, rounds=1, iterations=1)
    rate = scenario.duration_s / result["seconds"]
    benchmark.extra_info.update(
        sim_seconds_per_wall_second=round(rate), events=result["events"],
        events_per_sim_second=round(result["events"] / scenario.duration_s, 1),
    )  # fmt: skip
    assert rate >= TARGET, f"options-crash cleared {rate:.0f} simulated s per wall s (target {TARGET})"
