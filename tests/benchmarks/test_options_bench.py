"""Repricing an option book: 10^5 positions on 200 series, price and every Greek, vectorised.

Target: at least 5 M positions per second on one core, read from pytest-benchmark's median.
The fast path prices the 200 series once (`greeks`) and gathers per position by series index
(`reprice_positions`), summing delta, gamma, vega, theta and rho per account (10^4 accounts).
Beside it, in the same run, the naive path prices every position on its own (`greeks` over
10^5 options, then the same sums); the two are timed alternately and their ratio reported.
Run with `make bench` or `pytest tests/benchmarks/test_options_bench.py --benchmark-only`.
"""

from __future__ import annotations

import statistics
import time
from typing import NamedTuple

import numpy as np
from pytest_benchmark.fixture import BenchmarkFixture

from clearing.core.options.pricing import PositionRisk, greeks, reprice_positions
from clearing.units import NS_PER_DAY

N_POSITIONS = 100_000
N_SERIES = 200
N_ACCOUNTS = 10_000
TARGET = 5_000_000  # positions per second
REPS = 7


class Book(NamedTuple):
    forward: np.ndarray
    strike: np.ndarray
    sigma: np.ndarray
    tau_ns: np.ndarray
    is_call: np.ndarray
    series: np.ndarray
    quantity: np.ndarray
    account: np.ndarray


def book() -> Book:
    """200 series on two underlyings (strikes 0.5-2x the forward, 1 day to 1 year), 10^5 positions."""
    rng = np.random.default_rng(11)
    forward = np.where(np.arange(N_SERIES) % 2 == 0, 100_000.0, 3_500.0)
    strike = forward * np.exp(rng.uniform(-0.7, 0.7, N_SERIES))
    sigma = rng.uniform(0.3, 1.5, N_SERIES)
    tau_ns = rng.integers(NS_PER_DAY, 365 * NS_PER_DAY, N_SERIES)
    is_call = rng.random(N_SERIES) < 0.5
    series = rng.integers(0, N_SERIES, N_POSITIONS)
    quantity = rng.integers(-100, 100, N_POSITIONS) / 10
    account = rng.integers(0, N_ACCOUNTS, N_POSITIONS)
    return Book(forward, strike, sigma, tau_ns, is_call, series, quantity, account)


def reprice(b: Book) -> PositionRisk:
    """The fast path: price the series, gather by index, sum per account."""
    series = greeks(b.forward, b.strike, b.sigma, b.tau_ns, b.is_call)
    return reprice_positions(series, b.series, b.quantity, b.account, N_ACCOUNTS)


def reprice_each(b: Book) -> PositionRisk:
    """The naive path: price every position as its own option, then the same sums."""
    i = b.series
    each = greeks(b.forward[i], b.strike[i], b.sigma[i], b.tau_ns[i], b.is_call[i])
    sums = [np.bincount(b.account, weights=b.quantity * g, minlength=N_ACCOUNTS) for g in each[1:]]
    return PositionRisk(b.quantity * each.price, *sums)


def test_reprice_100k_option_positions_on_200_series(benchmark: BenchmarkFixture) -> None:
    b = book()
    fast, naive = reprice(b), reprice_each(b)
    for ours, reference in zip(fast, naive, strict=True):
        np.testing.assert_allclose(ours, reference, rtol=1e-9, atol=1e-6)
    ours, base = [], []
    for _ in range(REPS):
        start = time.perf_counter()
        reprice(b)
        ours.append(time.perf_counter() - start)
        start = time.perf_counter()
        reprice_each(b)
        base.append(time.perf_counter() - start)
    ratios = [o / n for o, n in zip(ours, base, strict=True)]
    benchmark.pedantic(reprice, args=(b,), rounds=30, iterations=1, warmup_rounds=2)
    rate = N_POSITIONS / benchmark.stats.stats.median
    benchmark.extra_info.update(
        positions=N_POSITIONS, series=N_SERIES, accounts=N_ACCOUNTS, series_path_rate=round(rate),
        per_position_rate=round(N_POSITIONS / statistics.median(base)),
        ratio=round(1 / statistics.median(ratios), 3), ratio_min=round(1 / max(ratios), 3), ratio_max=round(1 / min(ratios), 3),
    )  # fmt: skip
    assert rate >= TARGET, f"{rate:,.0f} positions/s repriced (target {TARGET:,})"
