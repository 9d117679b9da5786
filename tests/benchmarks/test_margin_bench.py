"""The margin monitor's check over 10^6 accounts next to a bare numpy expression of the same formula.

Target (issue 5): within 3x of the bare expression, measured in the same run. Both find
the accounts with a position whose cash + position x mark x unit value is below
ceil(|position| x mark x unit value x rate / 10^6); the monitor's version also applies the
bracket lookup path, the trader and not-yet-queued masks, and avoids overflow by splitting
the product.
"""

from __future__ import annotations

import statistics
import time

import numpy as np
from pytest_benchmark.fixture import BenchmarkFixture

from clearing.core.state import ClearingState
from tests.builders import bus_with
from tests.unit.margin_reference import breached_accounts

N = 1_000_000
REPS = 7
MARK, UNIT_VALUE, RATE = 600_000, 100, 5_000


def big_state() -> ClearingState:
    bus = bus_with(N, tick_size="0.1", lot_size="0.001", quote_decimals=6, unit_value=UNIT_VALUE, maintenance_margin_ppm=RATE)
    s = bus.state
    rng = np.random.default_rng(1)
    lots = rng.integers(-5_000, 5_000, N)
    notional = np.abs(lots) * MARK * UNIT_VALUE
    leverage = rng.choice([2, 5, 10, 20, 50, 100], N)
    # About 5 % of accounts below maintenance at the mark.
    s.position[:, 0] = lots
    s.cash[:] = notional // leverage - lots * MARK * UNIT_VALUE - (rng.random(N) < 0.05) * notional // 40
    s.mark_ticks[0] = MARK
    return s


def bare(cash: np.ndarray, position: np.ndarray) -> np.ndarray:
    value = position * (MARK * UNIT_VALUE)
    requirement = (np.abs(value) * RATE + 999_999) // 1_000_000
    return np.flatnonzero((position != 0) & (cash + value < requirement))


def test_margin_check_of_a_million_accounts(benchmark: BenchmarkFixture) -> None:
    s = big_state()
    backing = s.margin_cash()
    column = np.ascontiguousarray(s.position[:, 0])
    assert (breached_accounts(s, 0, backing) == bare(s.cash, column)).all()
    ours, base = [], []
    for _ in range(REPS):
        start = time.perf_counter()
        breached_accounts(s, 0, s.margin_cash())
        ours.append(time.perf_counter() - start)
        start = time.perf_counter()
        bare(s.cash, column)
        base.append(time.perf_counter() - start)
    ratio = statistics.median(o / b for o, b in zip(ours, base, strict=True))
    benchmark.extra_info.update(
        accounts=N, monitor_rate=round(N / statistics.median(ours)), bare_rate=round(N / statistics.median(base)),
        ratio=round(1 / ratio, 3), ratio_min=round(min(b / o for o, b in zip(ours, base, strict=True)), 3),
        ratio_max=round(max(b / o for o, b in zip(ours, base, strict=True)), 3),
    )  # fmt: skip
    benchmark.pedantic(breached_accounts, args=(s, 0, backing), rounds=5, iterations=1)
    assert ratio <= 3.0, f"the monitor takes {ratio:.2f}x the bare expression (target 3x)"


def test_span_requirement_of_a_million_two_market_portfolios(benchmark: BenchmarkFixture) -> None:
    """SPAN's 16 scenarios over 10^6 accounts holding two markets, with a 70 % credit."""
    from clearing.core.margin import span_requirement, span_scenarios

    rng = np.random.default_rng(2)
    values = rng.integers(-(10**12), 10**12, (N, 2))
    psr = np.array([100_000, 150_000], np.int64)
    scenarios = span_scenarios(2)
    requirement = benchmark(span_requirement, values, psr, scenarios, 700_000)
    assert requirement.shape == (N,) and (requirement >= 0).all()
