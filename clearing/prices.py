"""Synthetic exogenous price paths: geometric Brownian motion and Merton jump diffusion, with scripted shocks.

Pure: the generator is passed in, the path comes back as int64 ticks. The exponentials
use `math.exp` (correctly rounded libm) rather than numpy's SIMD kernels, so a path does
not depend on which vector instructions a machine has.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from clearing.units import NS_PER_S, Int64Array

Float64Array = npt.NDArray[np.float64]
NS_PER_DAY = 86_400 * NS_PER_S

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
    _add_shocks(increments, step_ns, shocks)
    return _ticks_from_log_path(initial_ticks, increments)


def _add_shocks(increments: Float64Array, step_ns: int, shocks: Sequence[tuple[int, int, float]]) -> None:
    # log(1 + change) spread evenly over the steps that start inside the window.
    starts = np.arange(len(increments), dtype=np.int64) * step_ns
    for start_ns, duration_ns, change in shocks:
        inside = (starts >= start_ns) & (starts < start_ns + duration_ns)
        count = int(inside.sum())
        if count:
            increments[inside] += math.log1p(change) / count


def _ticks_from_log_path(initial_ticks: int, increments: Float64Array) -> Int64Array:
    log_path = np.concatenate([[0.0], np.cumsum(increments)])
    ticks = np.fromiter((round(initial_ticks * math.exp(x)) for x in log_path), np.int64, len(log_path))
    return np.maximum(ticks, 1)


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
    expected rate of return. Shocks and rounding as clearing.prices.gbm_path: nearest tick
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
    _add_shocks(increments, step_ns, shocks)
    return _ticks_from_log_path(initial_ticks, increments)
