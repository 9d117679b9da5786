"""The positions that stood before the start: a synthetic pre-history and who survived it.

A crash day's window often opens minutes or hours before the crash, while the open interest
it meets was built up over the days before. Traders drawn with an entry time before the start
(`population.history_s`) hold positions opened along a synthetic pre-history ending exactly at
the window's first price: a driftless geometric Brownian path, one step a minute, of the
scenario's annualised volatility, drawn backward from that price. A position whose
liquidation price the path crossed after its entry would have been closed before the start;
the population open at the start is the survivors, so such a trader's entry is re-drawn
uniformly after the path's last crossing of its level (up to `ROUNDS` times; one still
crossed enters at the first price). Pure: a generator in, arrays out.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from clearing.units import PPM, Int64Array

STEP_NS = 60 * 10**9
YEAR_S = 365 * 86_400
ROUNDS = 50


def prehistory(rng: np.random.Generator, first_ticks: int, volatility: float, history_ns: int) -> npt.NDArray[np.float64]:
    """Return the pre-history's prices in ticks, one a minute from -history_ns (rounded up to a minute) to 0, shape (K + 1,).

    log p(-k steps) = log first - sigma sqrt(dt) (z_1 + ... + z_k), z standard normal: the
    last value is `first_ticks` exactly. Increments are exponentiated with `math.exp` (the
    same bits on every machine).
    """
    steps = -(-history_ns // STEP_NS)
    scale = volatility * math.sqrt(STEP_NS / 1e9 / YEAR_S)
    walk = np.cumsum(rng.standard_normal(steps) * scale)[::-1]  # walk[k]: the log-move from step k to the end
    growth = [math.exp(-x) for x in walk.tolist()]
    return np.array([first_ticks * g for g in growth] + [float(first_ticks)], np.float64)


def liquidation_levels(entry: npt.NDArray[np.float64], side: Int64Array, leverage_centi: Int64Array,
                       maintenance_ppm: int) -> npt.NDArray[np.float64]:  # fmt: skip
    """Return each isolated position's liquidation price: where equity (margin + P&L) meets maintenance.

    A long with margin entry / L per unit: entry (1 - 1/L) / (1 - m); a short: entry (1 + 1/L) / (1 + m).
    """
    inverse = 100.0 / leverage_centi
    m = maintenance_ppm / PPM
    return np.where(side > 0, entry * (1 - inverse) / (1 - m), entry * (1 + inverse) / (1 + m))  # type: ignore[no-any-return]


def survivors(
    rng: np.random.Generator, path: npt.NDArray[np.float64], history_ns: int, entry_ns: Int64Array, side: Int64Array,
    leverage_centi: Int64Array, maintenance_ppm: int,
) -> tuple[Int64Array, Int64Array]:  # fmt: skip
    """Return (entry times, entry prices in ticks) of the traders entering before 0, conditioned on surviving to 0.

    `entry_ns` is every trader's drawn time; those at or after 0 are returned as they are
    with price 0 (they enter at market). A trader before 0 enters at the minute's price of its
    step; if the path after that step reaches its liquidation level, its time is re-drawn
    uniformly after the path's last step at or beyond the level, for up to `ROUNDS` rounds.
    """
    k_last = path.size - 1
    start = -k_last * STEP_NS
    low = np.minimum.accumulate(path[::-1])[::-1]  # low[k] = min(path[k:]); non-decreasing
    high = np.maximum.accumulate(path[::-1])[::-1]  # high[k] = max(path[k:]); non-increasing
    times = entry_ns.copy()
    before = np.flatnonzero(times < 0)
    for _ in range(ROUNDS):
        if not before.size:
            break
        k = np.clip((times[before] - start) // STEP_NS, 0, k_last)
        level = liquidation_levels(path[k], side[before], leverage_centi[before], maintenance_ppm)
        after = np.minimum(k + 1, k_last)
        long = side[before] > 0
        crossed = np.where(long, low[after] <= level, high[after] >= level) & (k < k_last)
        if not crossed.any():
            break
        who, level, long = before[crossed], level[crossed], long[crossed]
        last_low = np.searchsorted(low, level, side="right") - 1  # the last step whose suffix minimum is at or below
        last_high = k_last - np.searchsorted(high[::-1], level, side="left")  # the last step whose suffix maximum is at or above
        last = np.where(long, last_low, last_high)
        earliest = np.minimum(start + (last + 1) * STEP_NS, 0)  # crossed at the last step: enters at 0, at market
        times[who] = np.floor(rng.uniform(earliest, 0)).astype(np.int64)
        before = who
    k = np.clip((times - start) // STEP_NS, 0, k_last)
    ticks = np.where(times < 0, np.round(path[k]), 0).astype(np.int64)
    return times, ticks
