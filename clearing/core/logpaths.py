"""Log-price increments to integer tick paths: the one rounding convention of every generated path, and scripted shocks.

Shared by `clearing.core.paths` (one market), `clearing.core.correlation` (several, jointly)
and `clearing.core.heston` (price with stochastic volatility), so a path is rounded the same
way whichever model drew it: cumulative sums left to right, `math.exp` (correctly rounded
libm, the same on every machine), the nearest tick with halves to even, never below one tick.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from clearing.units import Float64Array, Int64Array

Shock = tuple[int, int, float]  # start ns, duration ns, change (a fraction: -0.3 is a 30 % fall)


def ticks_from_log_paths(initial_ticks: npt.ArrayLike, increments: Float64Array) -> Int64Array:
    """Return round(initial x exp(cumulative log-return)) per path, never below one tick.

    `initial_ticks` has shape (N,) (or is one price for every row), `increments` (N, n); the
    result (N, n + 1) starts with the initial prices.
    """
    initial = np.asarray(initial_ticks, dtype=np.int64).reshape(-1, 1)
    log_paths = np.concatenate([np.zeros((increments.shape[0], 1)), np.cumsum(increments, axis=1)], axis=1)
    growth = np.fromiter(map(math.exp, log_paths.ravel().tolist()), np.float64, log_paths.size).reshape(log_paths.shape)
    ticks: Int64Array = np.maximum(np.rint(initial * growth).astype(np.int64), 1)
    return ticks


def add_shocks(increments: Float64Array, step_ns: int, shocks: Sequence[Shock]) -> None:
    """Add each shock's log(1 + change) to `increments` (n,), spread evenly over the steps that start in its window."""
    starts = np.arange(len(increments), dtype=np.int64) * step_ns
    for start_ns, duration_ns, change in shocks:
        inside = (starts >= start_ns) & (starts < start_ns + duration_ns)
        count = int(inside.sum())
        if count:
            increments[inside] += math.log1p(change) / count
