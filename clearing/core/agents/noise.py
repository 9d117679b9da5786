"""Noise-taker policy: Poisson arrivals of market orders with lognormal sizes."""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np


class NoiseParams(NamedTuple):
    """Arrival rate per second, median order notional (quote minor units), size dispersion, buy share."""

    rate_per_s: float
    median_notional_minor: int
    sigma: float
    buy_fraction: float


def next_order(rng: np.random.Generator, params: NoiseParams) -> tuple[int, int, float]:
    """Return (wait_ns, side, notional_minor) of the next order.

    wait ~ Exponential(mean 1 / rate) seconds, side = +1 with probability buy_fraction,
    notional = median x exp(sigma x Z). Three draws in a fixed order.
    """
    wait_s = rng.exponential(1.0 / params.rate_per_s)
    side = 1 if rng.random() < params.buy_fraction else -1
    notional = params.median_notional_minor * math.exp(params.sigma * float(rng.standard_normal()))
    return max(1, round(wait_s * 1e9)), side, notional
