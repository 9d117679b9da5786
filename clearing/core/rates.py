"""How a market's margin rates depend on the position's size and the market's open interest.

The rules venues put on top of a base rate: BitMEX's stepped risk limits, Drift's size
premium, dYdX v4's open-interest-scaled initial margin. Pure functions over int64 arrays;
rates in ppm, rounded up (against the account). `clearing.core.margin` applies them.
"""

from __future__ import annotations

import math

import numpy as np

from clearing.units import PPM, Int64Array


def risk_limit_steps(size: Int64Array, base_limit: int, step: int) -> Int64Array:
    """Return BitMEX's risk-limit steps above the base limit: 0 below it, one more per `step` from it on, shape (N,)."""
    size = np.abs(np.asarray(size, np.int64))
    return np.where(size < base_limit, 0, (size - base_limit) // max(step, 1) + 1)  # type: ignore[no-any-return]


def size_premium_rates(rates_ppm: int | Int64Array, size_lots: Int64Array, premium_ppm: int) -> Int64Array:
    """Return Drift's rates with the size premium: max(rate, ceil(0.8 x rate) + premium x ceil(sqrt(|size|))), shape (N,).

    The same rule raises the initial and the maintenance ratio (`calculate_size_premium_liability_weight`
    in `get_margin_ratio`). Source: docs/references.md [drift-v2-margin].
    """
    size = np.abs(np.asarray(size_lots, np.int64))
    rates = np.broadcast_to(np.asarray(rates_ppm, np.int64), size.shape)
    roots = np.array([0 if n == 0 else math.isqrt(int(n) - 1) + 1 for n in size.tolist()], np.int64)
    return np.maximum(rates, -((-rates * 8) // 10) + premium_ppm * roots)  # type: ignore[no-any-return]


def size_rates(base_ppm: int, size_lots: Int64Array, premium_ppm: int, risk_limit_lots: tuple[int, int]) -> Int64Array:
    """Return the maintenance rate (ppm) of positions of `size_lots` on a market margined by size, shape (N,).

    From the market's base maintenance rate `base_ppm`: BitMEX's risk limits (`risk_limit_lots`,
    the base limit and the step): the base rate x (1 + steps) (`risk_limit_steps`, counted in lots:
    a linear contract's value in the base asset is its size); Drift's size premium on top
    (`size_premium_rates`); at most 100 %. Sources: docs/references.md [bitmex-risk-limits],
    [drift-v2-margin].
    """
    size = np.abs(np.asarray(size_lots, np.int64))
    rates = np.full(size.shape, base_ppm, np.int64)
    if risk_limit_lots[1]:
        rates = rates * (1 + risk_limit_steps(size, *risk_limit_lots))
    if premium_ppm:
        rates = size_premium_rates(rates, size, premium_ppm)
    return np.minimum(rates, PPM)  # type: ignore[no-any-return]


def risk_limit_rates(
    value_minor: int, base_limit_minor: int, step_minor: int, base_maintenance_ppm: int, base_initial_ppm: int
) -> tuple[int, int]:
    """Return BitMEX's (maintenance, initial) rates (ppm) for a position of `value_minor` under stepped risk limits.

    Below the base risk limit the base rates; each step of `step_minor` above it (a position at
    the limit is one step up) raises both by the base maintenance rate: maintenance = base MM
    x (1 + steps), initial = base IM + steps x base MM. The rate applies to the whole position
    (no maintenance amount, unlike Binance's brackets). XBTUSD: base MM 0.50 %, IM 1.00 %, limit
    200 XBT, step 150 XBT gives <200: 0.50/1.00, <350: 1.00/1.50, <500: 1.50/2.00, <650:
    2.00/2.50 (%). Source: docs/references.md [bitmex-risk-limits].
    """
    if step_minor <= 0:
        raise ValueError(f"expected a positive risk-limit step, was {step_minor}")
    steps = int(risk_limit_steps(np.array([value_minor]), base_limit_minor, step_minor)[0])
    return base_maintenance_ppm * (1 + steps), base_initial_ppm + steps * base_maintenance_ppm


def initial_margin_ppm(
    base_ppm: int,
    size_lots: Int64Array,
    open_notional_minor: int = 0,
    size_premium_ppm: int = 0,
    oi_lower_cap_minor: int = 0,
    oi_upper_cap_minor: int = 0,
    risk_limit_lots: tuple[int, int] = (0, 0),
    risk_step_ppm: int = 0,
) -> Int64Array:
    """Return the initial margin rate (ppm) for positions of `size_lots`, shape (N,).

    Open-interest scaling (dYdX v4): with the market's open notional OI, rate = min(base +
    max(0, (OI - lower) / (upper - lower)) x (10^6 - base), 10^6), rounded up; off when
    upper <= lower. Size premium (Drift): rate = max(rate, 0.8 x rate + premium x
    ceil(sqrt(|size|))), the premium in ppm per square-root lot (`size_premium_rates`).
    Risk limits (BitMEX): rate + steps x `risk_step_ppm` (the base maintenance rate), the
    steps of `risk_limit_lots` (base limit, step) that the size reaches.
    Sources: docs/references.md [dydx-v4-margin], [drift-v2-margin], [bitmex-risk-limits].
    """
    size = np.abs(np.asarray(size_lots, np.int64))
    rate = base_ppm
    if oi_upper_cap_minor > oi_lower_cap_minor and open_notional_minor > oi_lower_cap_minor:
        excess = min(open_notional_minor - oi_lower_cap_minor, oi_upper_cap_minor - oi_lower_cap_minor)
        span = oi_upper_cap_minor - oi_lower_cap_minor
        rate = min(PPM, base_ppm + -((-excess * (PPM - base_ppm)) // span))
    rates = np.full(size.shape, rate, np.int64)
    if risk_limit_lots[1]:
        rates = rates + risk_limit_steps(size, *risk_limit_lots) * risk_step_ppm
    if size_premium_ppm:
        rates = size_premium_rates(rates, size, size_premium_ppm)
    return np.minimum(rates, PPM)  # type: ignore[no-any-return]
