"""Issue 6's performance target: the full Black Thursday day at 10^5 accounts, >= 2000 simulated s per wall s.

2020-03-12 00:00-24:00 UTC on the real one-minute tape (bridged to one-second steps), the
internal index published every second (the Binance preset), 100,000 traders: the crash-day
scenario cut to its first day, written to a log file as `clearing run` does, on one core.

The target holds for the fast build (`tools/build_fast.py`: the hot modules compiled with
mypyc, decision 0012), which `make bench` builds into build/fast and names in
CLEARING_FAST_BUILD. The same day is run with the pure-Python package too, for its rate, and
the two logs must be identical (same head hash). Reported: both rates, the event count and
the log's size.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from clearing.apps.run import run_scenario
from clearing.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("CLEARING_DATA_DIR", "/nonexistent"))
FAST = os.environ.get("CLEARING_FAST_BUILD", "")
SCENARIO = ROOT / "scenarios" / "black-thursday-2020.toml"
TARGET = 2000  # simulated seconds per wall second
DAY = 86_400

# Run in a child whose first path entry is the fast build (never the repository).
CHILD = """
import json, sys, time
from pathlib import Path
import clearing.core.book
from clearing.apps.run import run_scenario
from clearing.scenario import load_scenario
scenario = load_scenario(sys.argv[1], ["duration_s=86400"])
start = time.perf_counter()
summary = run_scenario(scenario, 0, Path(sys.argv[2]))
print(json.dumps({"seconds": time.perf_counter() - start, "head_hash": summary.head_hash, "events": summary.events,
                  "compiled": clearing.core.book.__file__.endswith(".so")}))
"""


def _fast_build() -> Path:
    sys.path.insert(0, str(ROOT / "tools"))
    from build_fast import source_hash

    tree = Path(FAST)
    built = (tree / "SOURCE_HASH").read_text().strip() if (tree / "SOURCE_HASH").is_file() else ""
    if built != source_hash():
        pytest.fail(f"CLEARING_FAST_BUILD={FAST} is missing or stale: rebuild it (make bench does)")
    return tree


@pytest.mark.skipif(not (DATA / "btcusdt_1m_2020-03-12.csv").exists(), reason="needs CLEARING_DATA_DIR with the 2020-03-12 tape")
@pytest.mark.skipif(not FAST, reason="needs CLEARING_FAST_BUILD (make bench builds it)")
@pytest.mark.benchmark(group="scenario")
def test_black_thursday_day_with_a_hundred_thousand_accounts(benchmark: BenchmarkFixture, tmp_path: Path) -> None:
    tree = _fast_build()
    scenario = load_scenario(SCENARIO, [f"duration_s={DAY}"])
    assert scenario.population.accounts == 100_000 and scenario.oracle.cadence_ms == 1000
    pure_log, fast_log = tmp_path / "pure.sqlite", tmp_path / "fast.sqlite"
    start = time.perf_counter()
    pure = run_scenario(scenario, 0, pure_log)
    pure_rate = DAY / (time.perf_counter() - start)
    result = {}

    def run_fast() -> None:
        fast_log.unlink(missing_ok=True)
        env = {**os.environ, "PYTHONPATH": str(tree)}
        child = subprocess.run([sys.executable, "-c", CHILD, str(SCENARIO), str(fast_log)], capture_output=True, text=True,
                               cwd=tmp_path, env=env, check=True)  # fmt: skip
        result.update(json.loads(child.stdout))

    benchmark.pedantic(run_fast, rounds=1, iterations=1)
    rate = round(DAY / result["seconds"], 1)
    benchmark.extra_info.update(
        sim_seconds_per_wall_second=rate, pure_python_sim_seconds_per_wall_second=round(pure_rate, 1),
        events=result["events"], liquidations=pure.liquidations, log_bytes=fast_log.stat().st_size,
    )  # fmt: skip
    assert result["compiled"], "the child imported the pure package, not the fast build"
    assert (result["head_hash"], result["events"]) == (pure.head_hash, pure.events), "the fast build's log differs"
    assert rate >= TARGET, f"{rate} simulated s per wall s, target {TARGET} (pure Python: {pure_rate:.0f})"
