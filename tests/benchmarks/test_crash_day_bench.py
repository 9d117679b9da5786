"""Issue 6's performance target: the full Black Thursday day at 10^5 accounts, >= 2000 simulated s per wall s.

2020-03-12 00:00-24:00 UTC on the real one-minute tape (bridged to one-second steps), the
internal index published every second (the Binance preset), 100,000 traders: the crash-day
scenario cut to its first day, written to a log file as `clearing run` does. One round (a
day takes minutes); reported: the rate, the event count and the log's size.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from clearing.runner import run_scenario
from clearing.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("CLEARING_DATA_DIR", "/nonexistent"))
TARGET = 2000  # simulated seconds per wall second


@pytest.mark.skipif(not (DATA / "btcusdt_1m_2020-03-12.csv").exists(), reason="needs CLEARING_DATA_DIR with the 2020-03-12 tape")
@pytest.mark.benchmark(group="scenario")
def test_black_thursday_day_with_a_hundred_thousand_accounts(benchmark: BenchmarkFixture, tmp_path: Path) -> None:
    scenario = load_scenario(ROOT / "scenarios" / "black-thursday-2020.toml", ["duration_s=86400"])
    assert scenario.population.accounts == 100_000 and scenario.oracle.cadence_ms == 1000
    out = tmp_path / "day.sqlite"
    result = {}

    def run() -> None:
        out.unlink(missing_ok=True)
        start = time.perf_counter()
        summary = run_scenario(scenario, 0, out)
        result.update(seconds=time.perf_counter() - start, events=summary.events, liquidations=summary.liquidations)

    benchmark.pedantic(run, rounds=1, iterations=1)
    rate = round(scenario.duration_s / result["seconds"], 1)
    benchmark.extra_info.update(
        sim_seconds_per_wall_second=rate, events=result["events"], liquidations=result["liquidations"],
        log_bytes=out.stat().st_size,
    )  # fmt: skip
    assert rate >= TARGET, f"{rate} simulated s per wall s, target {TARGET} (see the closing note of issue 6)"
