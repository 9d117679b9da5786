"""The margin monitor's check over 10^6 accounts next to the bare numpy expression of the same formula.

Target (issue 19 item 4): within 1.5x of the bare expression, measured in the same run, in
each of the three situations a run puts the monitor in at a mark update:

* steady: the mark moved and no account's cash or position changed since the last check
  (most marks of a day: the cached liquidation prices are compared with the mark);
* 1 % touched: a thousandth-of-a-second's fills and fees changed 10,000 accounts (their
  prices are recomputed, the others compared);
* every row changed: a funding settlement or a collateral price moved every account (the
  monitor checks every row directly and rebuilds the prices once the rows settle).

The bare expression finds the traders with a position whose cash + position x mark x unit
value is below ceil(|position| x mark x unit value x rate / 10^6), with nothing cached and no
guard against int64 overflow; the monitor's answer must be the same rows each time.
"""

from __future__ import annotations

import statistics
import time

import numpy as np
import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from clearing.core.state import ClearingState
from clearing.core.state.schema import TOUCHED_ALL
from clearing.sim.margin_monitor import TriggerCache
from tests.builders import state_with

N = 1_000_000
REPS = 7
MARK, UNIT_VALUE, RATE = 600_000, 100, 5_000
TARGET = 1.5


def big_state() -> ClearingState:
    s = state_with(N, unit_value=UNIT_VALUE, maintenance_margin_ppm=RATE)
    rng = np.random.default_rng(1)
    lots = rng.integers(-5_000, 5_000, N)
    notional = np.abs(lots) * MARK * UNIT_VALUE
    leverage = rng.choice([2, 5, 10, 20, 50, 100], N)
    s.position[:, 0] = lots
    # About 5 % of the accounts below maintenance at the mark.
    s.cash[:] = notional // leverage - lots * MARK * UNIT_VALUE - (rng.random(N) < 0.05) * notional // 40
    s.mark_ticks[0] = MARK
    return s


def bare(cash: np.ndarray, position: np.ndarray, mark: int) -> np.ndarray:
    value = position * (mark * UNIT_VALUE)
    requirement = (np.abs(value) * RATE + 999_999) // 1_000_000
    return np.flatnonzero((position != 0) & (cash + value < requirement))


def _touch(s: ClearingState, rng: np.random.Generator, situation: str) -> list[int]:
    # What changed since the last check, as the reducers would note it in `state.touched`.
    if situation == "steady":
        return []
    if situation == "1 % touched":
        rows = np.sort(rng.choice(N, N // 100, replace=False))
        s.cash[rows] += rng.integers(-10**6, 10**6, rows.size)
        return rows.tolist()  # type: ignore[no-any-return]
    s.cash += rng.integers(-10**5, 10**5, N)  # a funding settlement
    return [TOUCHED_ALL]


@pytest.mark.benchmark(group="margin monitor")
@pytest.mark.parametrize("situation", ["steady", "1 % touched", "every row changed"])
def test_the_monitor_over_a_million_accounts_against_the_bare_expression(benchmark: BenchmarkFixture,
                                                                         situation: str) -> None:  # fmt: skip
    s = big_state()
    cache = TriggerCache(0)
    column = np.ascontiguousarray(s.position[:, 0])
    assert np.array_equal(cache.breached(s, None), bare(s.cash, column, MARK))  # the prices built once, as a run does
    rng = np.random.default_rng(2)
    ours, base = [], []
    for rep in range(REPS):
        touched = _touch(s, rng, situation)
        s.mark_ticks[0] = mark = MARK - 300 * (rep + 1)  # the market falls
        start = time.perf_counter()
        found = cache.breached(s, touched)
        ours.append(time.perf_counter() - start)
        start = time.perf_counter()
        expected = bare(s.cash, column, mark)
        base.append(time.perf_counter() - start)
        assert np.array_equal(found, expected) and found.size > N // 100
    ratios = [o / b for o, b in zip(ours, base, strict=True)]
    ratio = statistics.median(ratios)
    benchmark.extra_info.update(
        accounts=N, situation=situation, monitor_rate=round(N / statistics.median(ours)),
        bare_rate=round(N / statistics.median(base)), ratio=round(1 / ratio, 3), ratio_min=round(1 / max(ratios), 3),
        ratio_max=round(1 / min(ratios), 3),
    )  # fmt: skip
    benchmark.pedantic(cache.breached, args=(s, _touch(s, rng, situation)), rounds=1, iterations=1)
    assert ratio <= TARGET, f"{situation}: the monitor takes {ratio:.2f}x the bare expression (target {TARGET}x)"
