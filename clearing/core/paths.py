"""Exogenous price paths: GBM and jump diffusion with scripted shocks, and paths through a tape.

Pure: the generator is passed in, the path comes back as int64 ticks. The exponentials
use `math.exp` (correctly rounded libm) rather than numpy's SIMD kernels, and the bridge
through a tape's bars uses only + - x / and sqrt, so a path does not depend on which
vector instructions a machine has. The tapes themselves are read by `clearing.data.tapes`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from clearing.core.logpaths import add_shocks, ticks_from_log_paths
from clearing.units import NS_PER_DAY, NS_PER_MS, NS_PER_S, SECONDS_PER_YEAR, Float64Array, Int64Array

# Parkinson's estimator: the volatility over one bar is about range / (2 sqrt(ln 2)).
PARKINSON = 0.6005612043932249  # 1 / (2 sqrt(ln 2)), written out so no libm is involved


def gbm_path(
    rng: np.random.Generator,
    initial_ticks: int,
    n_steps: int,
    step_ns: int,
    volatility: float,
    drift: float,
    shocks: Sequence[tuple[int, int, float]] = (),
) -> Int64Array:
    """Return n_steps + 1 prices in ticks at times 0, step_ns, ..., n_steps x step_ns.

    log S_{k+1} - log S_k = (drift - volatility^2 / 2) dt + volatility sqrt(dt) Z_k, with
    dt in years and Z_k standard normal. Each shock (start_ns, duration_ns, change) adds
    log(1 + change) spread evenly over the steps that start inside its window. Prices are
    rounded to the nearest tick and never fall below one tick.
    """
    if n_steps < 0 or step_ns <= 0 or initial_ticks <= 0:
        raise ValueError(f"expected n_steps >= 0, step_ns > 0, initial > 0, was {n_steps}, {step_ns}, {initial_ticks}")
    dt = step_ns / NS_PER_S / SECONDS_PER_YEAR
    increments = (drift - 0.5 * volatility**2) * dt + volatility * math.sqrt(dt) * rng.standard_normal(n_steps)
    add_shocks(increments, step_ns, shocks)
    return ticks_from_log_paths(initial_ticks, increments[None, :])[0]


def jump_diffusion_path(
    rng: np.random.Generator,
    initial_ticks: int,
    n_steps: int,
    step_ns: int,
    volatility: float,
    drift: float,
    jump_intensity_per_day: float,
    jump_mean: float,
    jump_stdev: float,
    shocks: Sequence[tuple[int, int, float]] = (),
) -> Int64Array:
    """Return n_steps + 1 prices in ticks at times 0, step_ns, ..., n_steps x step_ns (Merton jump diffusion).

    log S_{k+1} - log S_k = (drift - volatility^2 / 2 - lambda kappa) dt + volatility sqrt(dt) Z_k
    + sum_{i <= N_k} Y_i, with dt in years (365 days), Z_k standard normal, N_k Poisson with
    mean jump_intensity_per_day x step_ns / 1 day, jump sizes Y_i ~ N(jump_mean, jump_stdev^2)
    in log space (sampled as N_k jump_mean + sqrt(N_k) jump_stdev Z'_k), lambda = intensity
    x 365 per year and kappa = exp(jump_mean + jump_stdev^2 / 2) - 1, so drift stays the
    expected rate of return. Shocks and rounding as clearing.core.paths.gbm_path: nearest tick
    (half to even), never below one tick. Draws standard_normal(n), poisson(n),
    standard_normal(n) in that order; with intensity 0 the path equals gbm_path's.

    Raises:
        ValueError: n_steps < 0, step_ns <= 0, initial_ticks <= 0, or a negative
            volatility, intensity or jump_stdev.
    """
    if n_steps < 0 or step_ns <= 0 or initial_ticks <= 0:
        raise ValueError(f"expected n_steps >= 0, step_ns > 0, initial > 0, was {n_steps}, {step_ns}, {initial_ticks}")
    if volatility < 0 or jump_intensity_per_day < 0 or jump_stdev < 0:
        raise ValueError(
            f"expected volatility, jump intensity and jump stdev >= 0, was {volatility}, {jump_intensity_per_day}, {jump_stdev}"
        )
    dt = step_ns / NS_PER_S / SECONDS_PER_YEAR
    compensator = jump_intensity_per_day * 365 * (math.exp(jump_mean + 0.5 * jump_stdev**2) - 1.0)
    increments = (drift - 0.5 * volatility**2 - compensator) * dt + volatility * math.sqrt(dt) * rng.standard_normal(n_steps)
    jumps = rng.poisson(jump_intensity_per_day * step_ns / NS_PER_DAY, n_steps)
    increments += jumps * jump_mean + np.sqrt(jumps) * jump_stdev * rng.standard_normal(n_steps)
    add_shocks(increments, step_ns, shocks)
    return ticks_from_log_paths(initial_ticks, increments[None, :])[0]


# Paths through a tape ----------------------------------------------------------------


class Bars(NamedTuple):
    """Fixed-interval OHLCV bars: prices in int64 ticks, times in epoch milliseconds (UTC, bar open).

    Shapes are (n,). `interval_ms` is the bar length; `gaps` counts the bars missing between
    the first and the last (a 60 s file with 00:00 and 00:03 has gaps == 2).
    """

    open_ms: Int64Array
    open: Int64Array
    high: Int64Array
    low: Int64Array
    close: Int64Array
    volume: Float64Array
    interval_ms: int
    gaps: int


class Trades(NamedTuple):
    """Trades in file order: `ts_us` epoch microseconds, `side` +1 taker buy / -1 taker sell, `price` ticks."""

    ts_us: Int64Array
    side: npt.NDArray[np.int8]
    price: Int64Array
    amount: Float64Array


def _step_times_ns(start_ns: int, step_ns: int, n_steps: int) -> Int64Array:
    if n_steps < 0 or step_ns <= 0:
        raise ValueError(f"expected n_steps >= 0 and step_ns > 0, was {n_steps}, {step_ns}")
    return start_ns + np.arange(n_steps + 1, dtype=np.int64) * step_ns


def trades_path(trades: Trades, start_us: int, step_ns: int, n_steps: int, initial_ticks: int) -> Int64Array:
    """Return n_steps + 1 prices in ticks: the last trade at or before start + k x step_ns.

    Step k is at start_us x 1000 + k x step_ns nanoseconds. Among trades with the same
    timestamp the last in file order wins; before the first trade the price is initial_ticks.
    Shape (n_steps + 1,), int64; no rounding (trade prices are already ticks).
    """
    times = _step_times_ns(start_us * 1000, step_ns, n_steps)
    last = np.searchsorted(trades.ts_us * 1000, times, side="right") - 1
    return np.where(last >= 0, trades.price[np.maximum(last, 0)], np.int64(initial_ticks)).astype(np.int64)


def _bar_anchors(
    rng: np.random.Generator, bars: Bars, bar: Int64Array, first: Int64Array, count: Int64Array
) -> tuple[Int64Array, Int64Array]:
    # Global indices and values of each covered bar's open, extremes (at random interior
    # points, in order O->L->H->C up / O->H->L->C down) and close. One draw pair per bar.
    o, h, low, c = bars.open[bar], bars.high[bar], bars.low[bar], bars.close[bar]
    up = c >= o
    first_extreme, second_extreme = np.where(up, low, h), np.where(up, h, low)
    interior = np.maximum(count - 2, 0)
    need1, need2 = (first_extreme != o) & (interior > 0), (second_extreme != c) & (interior > 0)
    both = need1 & need2 & (interior >= 2)
    need2 &= ~(need1 & ~both)  # one interior point: the first extreme keeps it
    draws = rng.random((len(bar), 2))
    p = np.minimum((draws[:, 0] * interior).astype(np.int64), np.maximum(interior - 1, 0))
    q = np.minimum((draws[:, 1] * (interior - 1)).astype(np.int64), np.maximum(interior - 2, 0))
    q = q + (q >= p)
    tau1 = np.where(both, np.minimum(p, q), p) + 1
    tau2 = np.where(both, np.maximum(p, q), p) + 1
    index = [first, (first + count - 1)[count >= 2], (first + tau1)[need1], (first + tau2)[need2]]
    value = [o, c[count >= 2], first_extreme[need1], second_extreme[need2]]
    return np.concatenate(index), np.concatenate(value)


def _fold(ticks: Int64Array, low: Int64Array, high: Int64Array) -> Int64Array:
    # Reflect into [low + 1, high - 1] ([low, high] when the range is under 2 ticks): a
    # triangle wave in exact integers, so no run of points piles up on a bound as with a clip.
    wide = high - low >= 2
    bottom, width = low + wide, (high - wide) - (low + wide)
    period = np.maximum(2 * width, 1)
    offset = np.mod(ticks - bottom, period)
    folded: Int64Array = bottom + np.where(offset > width, period - offset, offset)
    return folded


def bridge_path(rng: np.random.Generator, bars: Bars, start_ms: int, step_ns: int, n_steps: int) -> Int64Array:
    """Return n_steps + 1 prices in ticks at start_ms x 10^6 + k x step_ns ns, bridged through the bars.

    The grid points inside a bar (open <= t < open + interval) are pinned: the first to the
    open, the last to the close, and the high and the low each to one interior point drawn
    uniformly at random (a uniformly random pair of distinct interior points, in the order
    open -> low -> high -> close when close >= open, open -> high -> low -> close otherwise).
    An extreme equal to the open (first) or the close (second) is pinned there instead.
    Between consecutive pins (i, a) and (j, b) the price is the Brownian bridge
        P_k = a + (k - i)/(j - i) (b - a) + (W_k - W_i) - (k - i)/(j - i) (W_j - W_i),
    W the cumulative sum of N(0, s^2) steps with s = (high - low) / (2 sqrt(ln 2)) x
    sqrt(step_ns / interval) (Parkinson's range volatility spread over the bar). Unpinned
    points are rounded half to even to ticks, then reflected into [lo, hi] = [low + 1,
    high - 1] ([low, high] when high - low < 2 ticks): x -> lo + (m if m <= w else 2w - m),
    m = (x - lo) mod 2w, w = hi - lo. (A clip would pile points up on the bound.) So the
    high and the low are hit once each, at their pins, and wherever the open or close
    equals them. A bar with fewer than four grid points keeps the open, then the close,
    then the first extreme. Points before the first bar hold its open; points after a bar
    ends and before the next begins (after the last, or in a gap) hold that bar's close.
    Draws: standard_normal(n_steps + 1), then random((number of bars hit, 2)).
    Arithmetic only (+ - x / and correctly rounded sqrt), so paths agree across CPUs.

    Raises:
        ValueError: no bars, step_ns <= 0 or n_steps < 0.
    """
    if not len(bars.open_ms):
        raise ValueError("expected at least one bar, was none")
    times = _step_times_ns(start_ms * NS_PER_MS, step_ns, n_steps)
    n = len(times)
    opens_ns = bars.open_ms * NS_PER_MS
    bar = np.searchsorted(opens_ns, times, side="right") - 1
    held = np.maximum(bar, 0)
    inside = (bar >= 0) & (times < opens_ns[held] + bars.interval_ms * NS_PER_MS)
    z = rng.standard_normal(n)
    points = np.flatnonzero(inside)
    run_start = np.flatnonzero(np.r_[True, bar[points][1:] != bar[points][:-1]]) if len(points) else points
    count = np.diff(np.r_[run_start, len(points)]).astype(np.int64)
    covered = bar[points[run_start]]
    index, value = _bar_anchors(rng, bars, covered, points[run_start], count)
    outside = np.flatnonzero(~inside)
    index = np.concatenate([index, outside])
    value = np.concatenate([value, np.where(bar[outside] >= 0, bars.close[held[outside]], bars.open[0])])
    order = np.argsort(index, kind="stable")
    index, value = index[order], value[order]

    high, low = bars.high[held], bars.low[held]
    scale = PARKINSON * math.sqrt(step_ns / (bars.interval_ms * NS_PER_MS))
    walk = np.cumsum(np.where(inside, z * ((high - low) * scale), 0.0))
    path = np.empty(n, dtype=np.int64)
    free = np.ones(n, dtype=bool)
    free[index] = False
    k = np.flatnonzero(free)
    if len(k):
        seg = np.searchsorted(index, k, side="right") - 1
        i, j = index[seg], index[seg + 1]
        a, b = value[seg].astype(np.float64), value[seg + 1].astype(np.float64)
        frac = (k - i) / (j - i)
        bridged = np.rint(a + frac * (b - a) + (walk[k] - walk[i]) - frac * (walk[j] - walk[i])).astype(np.int64)
        path[k] = _fold(bridged, low[k], high[k])
    path[index] = value
    return path
