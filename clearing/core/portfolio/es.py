"""Expected shortfall by filtered historical simulation, on joint scenarios, with a stress floor.

A CCP's VaR-family margin (LCH PAIRS, Eurex Prisma): take the underlyings' historical
returns over a look-back, one row a date for all of them (joint scenarios: the rows keep
their correlation), rescale each return to today's volatility by EWMA (filtered historical
simulation: r~_t = r_t x sigma_now / sigma_t), revalue the portfolio under each row and
charge the expected shortfall of the losses: the mean of the worst (1 - alpha) of them. A
stress period's scenarios (a crash day's returns, unfiltered) floor the requirement, as
Eurex's stress-period floor does against procyclicality.

EWMA (RiskMetrics form): sigma^2_1 = the mean of r^2 over the first 25 rows (the seed), then
sigma^2_{t+1} = lambda sigma^2_t + (1 - lambda) r_t^2; sigma_t is the forecast made before
r_t, sigma_now = sigma_{T+1}. Sources: docs/references.md [lch-pairs], [eurex-prisma],
[emir-153-2013], [riskmetrics-1996].
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from clearing.core.margin import relative_returns_ppm
from clearing.core.options.pricing import black76_price

Float64Array = npt.NDArray[np.float64]
SEED_ROWS = 25  # the EWMA starts from the mean square of the first 25 returns (about a month of trading days)


def joint_returns_ppm(
    times_ms: Sequence[npt.ArrayLike], closes: Sequence[npt.ArrayLike], horizon_ms: int
) -> npt.NDArray[np.int64]:
    """Return the joint returns over `horizon_ms` of several bar series, ppm, shape (T, U): the stress scenarios.

    Each series u gives its bars' open times (ms) and closes (ticks > 0). A row is a time t
    every series has a bar at, and at t + `horizon_ms` too (a gap in any series drops the
    rows it would stretch): floor((c_{t+h} - c_t) x 10^6 / c_t) for every series, so a row
    keeps the underlyings' joint move. Overlapping windows; empty when no time qualifies.
    """
    if horizon_ms < 1 or len(times_ms) != len(closes) or not closes:
        raise ValueError(f"expected one close series per time series and a horizon > 0 ms, was {len(closes)}, {horizon_ms}")
    shared = np.asarray(times_ms[0], np.int64)
    for t in times_ms[1:]:
        shared = np.intersect1d(shared, np.asarray(t, np.int64))
    later = np.intersect1d(shared, shared + horizon_ms)  # times whose horizon's end is shared too
    if not later.size:
        return np.zeros((0, len(closes)), np.int64)
    before, after = [], []
    for t, c in zip(times_ms, closes, strict=True):
        t, c = np.asarray(t, np.int64), np.asarray(c, np.int64)
        before.append(c[np.searchsorted(t, later - horizon_ms)])
        after.append(c[np.searchsorted(t, later)])
    return relative_returns_ppm(np.column_stack(before), np.column_stack(after))


def ewma_variances(returns: npt.ArrayLike, lam: float) -> tuple[Float64Array, Float64Array]:
    """Return (sigma^2_t for t = 1..T, shape (T, U); sigma^2_{T+1}, shape (U,)) of the returns (T, U).

    Raises:
        ValueError: no returns, or lambda outside (0, 1).
    """
    r = np.atleast_2d(np.asarray(returns, np.float64))
    if r.shape[0] == 0 or not 0 < lam < 1:
        raise ValueError(f"expected returns (T >= 1, U) and 0 < lambda < 1, was {r.shape}, {lam}")
    var = np.empty_like(r)
    current = (r[:SEED_ROWS] * r[:SEED_ROWS]).mean(axis=0)
    for t in range(r.shape[0]):
        var[t] = current
        current = lam * current + (1.0 - lam) * r[t] * r[t]
    return var, current


def filtered_scenarios(returns: npt.ArrayLike, lam: float) -> Float64Array:
    """Return the returns (T, U) rescaled to today's volatility: r_t x sigma_now / sigma_t, each underlying on its own.

    A row stays a row, so the scenarios keep the underlyings' joint moves. An underlying
    whose returns are all 0 keeps them.
    """
    r = np.atleast_2d(np.asarray(returns, np.float64))
    var, now = ewma_variances(r, lam)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(var > 0, np.sqrt(now[None, :] / np.where(var > 0, var, 1.0)), 1.0)
    return r * scale  # type: ignore[no-any-return]


def expected_shortfall(losses: npt.ArrayLike, alpha: float) -> float:
    """Return the mean of the k = max(1, ceil((1 - alpha) x T)) largest losses (loss positive).

    LCH's 6 worst of 2,500 is alpha = 0.9976. Raises ValueError for no losses or alpha
    outside [0, 1).
    """
    x = np.sort(np.asarray(losses, np.float64).ravel())[::-1]
    if x.size == 0 or not 0 <= alpha < 1:
        raise ValueError(f"expected losses and 0 <= alpha < 1, was {x.size} losses, {alpha}")
    k = max(1, math.ceil(round((1.0 - alpha) * x.size, 9)))
    return float(x[:k].mean())


class OptionLegs(NamedTuple):
    """Option legs for revaluation: underlying index (into the prices), signed size x multiplier, terms, implied vol."""

    underlying: npt.NDArray[np.int64]
    size: Float64Array
    strike: Float64Array
    is_call: npt.NDArray[np.bool_]
    vol: Float64Array
    tau_ns: npt.NDArray[np.int64]


def scenario_pnl(
    prices: npt.ArrayLike, linear: npt.ArrayLike, scenario_returns: npt.ArrayLike, options: OptionLegs | None = None
) -> Float64Array:
    """Return the portfolio's P/L (quote, gain positive) under each joint scenario row, shape (T,).

    `prices` (U,) the underlyings' prices; `linear` (U,) the net linear quantity on each
    (signed, x multiplier: perpetuals and futures together); scenario t moves underlying u to
    prices_u x (1 + r_{t,u}). Linear P/L = sum_u linear_u x prices_u x r_{t,u}; each option
    leg is revalued with Black-76 at its underlying's scenario price, its volatility and time
    held (the look-ahead is short next to the expiry).
    """
    p = np.asarray(prices, np.float64)
    r = np.atleast_2d(np.asarray(scenario_returns, np.float64))
    pnl = r @ (np.asarray(linear, np.float64) * p)
    if options is not None and options.size.size:
        u = options.underlying
        now = black76_price(p[u], options.strike, options.vol, options.tau_ns, options.is_call)
        shifted = np.maximum(p[u][None, :] * (1.0 + r[:, u]), 1e-12)
        later = black76_price(shifted, options.strike, options.vol, options.tau_ns, options.is_call)
        pnl = pnl + (later - now[None, :]) @ options.size
    return pnl  # type: ignore[no-any-return]


class EsResult(NamedTuple):
    """An expected-shortfall requirement and its parts (quote)."""

    requirement: float
    filtered: float  # ES over the filtered look-back
    stress: float  # ES over the stress scenarios (0 without them)


def es_requirement(
    prices: npt.ArrayLike, linear: npt.ArrayLike, returns: npt.ArrayLike, alpha: float = 0.99, lam: float = 0.97,
    options: OptionLegs | None = None, stress_returns: npt.ArrayLike | None = None,
) -> EsResult:  # fmt: skip
    """Return max(0, ES of the filtered look-back, ES of the stress scenarios): the requirement with its stress floor.

    The look-back `returns` (T, U) are filtered (`filtered_scenarios`, EWMA `lam`: LCH's old
    0.97); the stress returns are used as they are (a crash's moves, not rescaled down by its
    own volatility). Both are revalued jointly (`scenario_pnl`).
    """
    filtered = expected_shortfall(-scenario_pnl(prices, linear, filtered_scenarios(returns, lam), options), alpha)
    stress = 0.0
    if stress_returns is not None:
        stress = expected_shortfall(-scenario_pnl(prices, linear, stress_returns, options), alpha)
    return EsResult(max(filtered, stress, 0.0), filtered, stress)
