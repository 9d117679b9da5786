"""Issue 7's sweep speed-up: W = 2 local workers on CPU-bound runs reach >= 0.8 x W over one.

Four runs of the synthetic crash (two hours, 3,000 traders: about 6 s each on this machine), once with one worker
and once with two; reported: both wall times and the speed-up.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from clearing.apps import sweep

ROOT = Path(__file__).resolve().parents[2]
W = 2


@pytest.mark.benchmark(group="sweep")
def test_two_workers_speed_a_sweep_up_at_least_1_6_times(benchmark: BenchmarkFixture, tmp_path: Path) -> None:
    scenario = ROOT / "scenarios" / "synthetic-crash.toml"
    grid = [("oracle.latency_ms", ["0", "1000", "5000", "20000"])]
    overrides = ["population.accounts=3000"]
    walls = {}

    def sweep_with(workers: int) -> None:
        out = tmp_path / f"w{workers}"
        tasks = sweep.plan(scenario, grid, 1, 0, overrides, out, False, None)
        start = time.perf_counter()
        counts = sweep.run_sweep(tasks, out, {"grid": grid}, workers=workers)
        walls[workers] = time.perf_counter() - start
        assert counts["complete"] == len(tasks) == 4

    sweep_with(1)
    benchmark.pedantic(sweep_with, args=(W,), rounds=1, iterations=1)
    speedup = walls[1] / walls[W]
    benchmark.extra_info.update(
        wall_one_worker_s=round(walls[1], 2), wall_two_workers_s=round(walls[W], 2), speedup=round(speedup, 2)
    )
    assert speedup >= 0.8 * W, f"speed-up {speedup:.2f} with {W} workers, target {0.8 * W}"
