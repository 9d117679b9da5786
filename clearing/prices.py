"""Exogenous price paths: geometric Brownian motion with scripted shocks.

Pure: the generator is passed in, the path comes back as int64 ticks. The exponentials
use `math.exp` (correctly rounded libm) rather than numpy's SIMD kernels, so a path does
not depend on which vector instructions a machine has.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from clearing.units import NS_PER_S, Int64Array

SECONDS_PER_YEAR = 365 * 86_400


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
    starts = np.arange(n_steps, dtype=np.int64) * step_ns
    for start_ns, duration_ns, change in shocks:
        inside = (starts >= start_ns) & (starts < start_ns + duration_ns)
        count = int(inside.sum())
        if count:
            increments[inside] += math.log1p(change) / count
    log_path = np.concatenate([[0.0], np.cumsum(increments)])
    ticks = np.fromiter((round(initial_ticks * math.exp(x)) for x in log_path), np.int64, len(log_path))
    return np.maximum(ticks, 1)
