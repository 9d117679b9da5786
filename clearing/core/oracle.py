"""Oracle rules: aggregation of source prices and when a push oracle publishes.

Pure integer functions; the SimPy shell (`clearing.sim.oracle_feed`) supplies the
observations, times and latency. Prices are ticks; rates ppm.

Aggregations (shared/design/venues.md 7):
- median: the middle source price (the mean of the two middle ones, rounded down, for an
  even count), as Chainlink's answer is the median of its nodes';
- weighted median: the smallest price whose cumulative weight reaches half the total, as
  Hyperliquid validators weight venues 3,2,2,1,1,1,1,1;
- Pyth: every publisher votes p - c, p and p + c; the aggregate is the median of the votes
  and its confidence max(R - Q25, Q75 - R) over the votes.
Confidence for the two medians is the same spread statistic over the source prices.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from clearing.units import PPM

AGGREGATIONS = ("median", "weighted_median", "pyth")


Window = tuple[int, int]  # [start, end) in ns


class SourceSpec(NamedTuple):
    """One source (times in ns, noise and confidence in ppm of the price)."""

    name: str
    reference: str
    weight: int
    interval_ns: int
    delay_ns: int
    noise_ppm: float
    confidence_ppm: float
    outages: tuple[Window, ...]
    frozen: tuple[Window, ...]
    dislocations: tuple[tuple[int, int, float], ...]


class OracleParams(NamedTuple):
    """Aggregation, policy, latency and guards (times in ns, rates in ppm)."""

    policy: str
    aggregation: str
    min_sources: int
    outlier_cut_ppm: int
    source_max_age_ns: int
    observe_interval_ns: int
    deviation_ppm: int
    heartbeat_ns: int
    cadence_ns: int
    inclusion_delay_ns: int
    latency_model: str
    latency_ns: int
    latency_max_ns: int
    latency_sigma: float
    latency_per_breach_ns: int
    latency_window_ns: int
    pull_interval_ns: int
    max_age_ns: int
    sets_mark: bool
    max_confidence_ppm: int
    liquidation_max_age_ns: int
    max_divergence_ppm: int


class CollateralOracleParams(NamedTuple):
    """Policy and times (ns) of a collateral asset's oracle; deviation in ppm."""

    policy: str
    interval_ns: int
    deviation_ppm: int
    heartbeat_ns: int
    latency_ns: int


def publication_reason(
    last_price_ticks: int,
    last_published_ns: int,
    price_ticks: int,
    now_ns: int,
    deviation_ppm: int,
    heartbeat_ns: int,
) -> str | None:
    """Return why a push oracle publishes now ("initial", "deviation", "heartbeat") or None.

    Chainlink rule: a new round when the observed price differs from the last published
    one by MORE than the deviation threshold, |p - p_last| / p_last > deviation, or when
    the heartbeat has elapsed, now - t_last >= heartbeat. Compared exactly in integers as
    |p - p_last| x 10^6 > deviation_ppm x p_last. Deviation wins when both hold.
    """
    if last_price_ticks <= 0:
        return "initial"
    if abs(price_ticks - last_price_ticks) * PPM > deviation_ppm * last_price_ticks:
        return "deviation"
    if now_ns - last_published_ns >= heartbeat_ns:
        return "heartbeat"
    return None


def median(values: Sequence[int]) -> int:
    """Return the median; for an even count, floor of the mean of the two middle values."""
    if not values:
        raise ValueError("expected at least one value, was none")
    ordered = sorted(values)
    n = len(ordered)
    return ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) // 2


def weighted_median(values: Sequence[int], weights: Sequence[int]) -> int:
    """Return the smallest value whose cumulative weight (values ascending) reaches half the total.

    With weights (3, 2, 2, 1, 1, 1, 1, 1) the first venue alone carries 3 of 12.
    """
    if not values or len(values) != len(weights) or any(w <= 0 for w in weights):
        raise ValueError(f"expected values and positive weights of one length, was {len(values)} and {list(weights)}")
    total = sum(weights)
    cumulative = 0
    for value, weight in sorted(zip(values, weights, strict=True)):
        cumulative += weight
        if 2 * cumulative >= total:
            return value
    raise AssertionError("unreachable: the cumulative weight reaches the total")


def quantile(ordered: Sequence[int], q_ppm: int) -> int:
    """Return the nearest-rank quantile q of sorted values: the ceil(q x n)-th, at least the first."""
    rank = max(1, math.ceil(q_ppm * len(ordered) / PPM))
    return ordered[rank - 1]


def spread_confidence(center: int, values: Sequence[int]) -> int:
    """Return max(center - Q25, Q75 - center) over `values` (0 for a single value)."""
    ordered = sorted(values)
    return max(0, center - quantile(ordered, 250_000), quantile(ordered, 750_000) - center)


def pyth_aggregate(prices: Sequence[int], confidences: Sequence[int]) -> tuple[int, int]:
    """Return (price, confidence): the median of the votes p_i - c_i, p_i, p_i + c_i, and its spread."""
    votes = [v for p, c in zip(prices, confidences, strict=True) for v in (p - c, p, p + c)]
    price = median(votes)
    return price, spread_confidence(price, votes)


def inliers(values: Sequence[int], cut_ppm: int) -> list[bool]:
    """Return which values lie within cut_ppm of the median (all when cut_ppm is 0).

    A value v is an outlier when |v - m| x 10^6 > cut_ppm x m, m = median(values): the
    Binance index drops a source more than 5 % from the median (venues.md 1.1).
    """
    if cut_ppm <= 0 or not values:
        return [True] * len(values)
    m = median(values)
    return [abs(v - m) * PPM <= cut_ppm * m for v in values]


def aggregate(method: str, prices: Sequence[int], confidences: Sequence[int], weights: Sequence[int]) -> tuple[int, int]:
    """Return (price, confidence) of live source observations by `method`."""
    if method == "pyth":
        return pyth_aggregate(prices, confidences)
    price = weighted_median(prices, weights) if method == "weighted_median" else median(prices)
    return price, spread_confidence(price, prices)


LATENCY_MODELS = ("fixed", "uniform", "lognormal", "load")


def sample_latency_ns(
    rng: np.random.Generator,
    model: str,
    base_ns: int,
    max_ns: int = 0,
    sigma: float = 0.0,
    per_event_ns: int = 0,
    recent_events: int = 0,
) -> int:
    """Return one delivery latency in ns.

    fixed: base; uniform: U[base, max]; lognormal: base x exp(sigma Z) (base is the median);
    load: base + per_event x recent_events, the congestion of a liquidation storm. One draw
    for uniform and lognormal, none otherwise.
    """
    if model == "fixed":
        return base_ns
    if model == "uniform":
        return int(base_ns + rng.random() * (max_ns - base_ns))
    if model == "lognormal":
        return round(base_ns * math.exp(sigma * float(rng.standard_normal())))
    if model == "load":
        return base_ns + per_event_ns * recent_events
    raise ValueError(f"expected a latency model in {LATENCY_MODELS}, was {model!r}")


def random_outages(rng: np.random.Generator, rate_per_hour: float, mean_s: float, horizon_ns: int) -> list[tuple[int, int]]:
    """Return [(start_ns, end_ns), ...] of outages starting as a Poisson process over the horizon.

    Gaps between outage starts are exponential with mean 1 / rate; durations exponential
    with mean `mean_s`. Draws alternate gap, duration until the horizon is passed.
    """
    windows: list[tuple[int, int]] = []
    if rate_per_hour <= 0:
        return windows
    t = 0.0
    while True:
        t += rng.exponential(3600.0 / rate_per_hour) * 1e9
        duration = rng.exponential(mean_s) * 1e9
        if t >= horizon_ns:
            return windows
        windows.append((round(t), round(t + duration)))


def in_windows(windows: Sequence[tuple[int, int]], now_ns: int) -> bool:
    """Return whether now falls in [start, end) of any window."""
    return any(start <= now_ns < end for start, end in windows)
