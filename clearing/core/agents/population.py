"""The leveraged trader population: who enters, when, on which side, how big, how levered.

Pure: one generator in, arrays out, drawn in a fixed order so a seed fixes the population.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from clearing.units import Int64Array

HELD = -1  # a trader's exit time when it holds to the end


class Population(NamedTuple):
    """N traders sorted by entry time; arrays of shape (N,)."""

    entry_ns: Int64Array
    side: Int64Array  # +1 long, -1 short
    lots: Int64Array
    leverage_centi: Int64Array  # leverage x 100 (a drawn lognormal's to the hundredth)
    exit_ns: Int64Array  # -1: held to the end
    collateral: npt.NDArray[np.bool_]  # posts its margin in the collateral asset
    notional: npt.NDArray[np.float64]  # the drawn notional, quote minor units (lots is it at the reference lot value)
    entry_ticks: Int64Array | None = None  # a position that stood before the start: its entry price (0: enters at market)


def draw_population(
    rng: np.random.Generator,
    accounts: int,
    long_fraction: float,
    notional_median_minor: int,
    notional_sigma: float,
    notional_max_minor: int,
    leverage_choices: Sequence[int],
    leverage_weights: Sequence[float],
    entry_window_ns: int,
    reference_lot_value_minor: int,
    holding_mean_ns: int = 0,
    collateral_fraction: float = 0.0,
    lognormal: tuple[float, float, float] | None = None,
    history_ns: int = 0,
) -> Population:
    """Draw the population.

    Entry times are uniform on [-history_ns, entry_window_ns]; side is long with probability
    `long_fraction`; notional is lognormal with the given median and log-sd, capped at
    `notional_max_minor`, and turned into at least one lot at the reference lot value;
    leverage is drawn from the choices with the (normalised) weights, or with `lognormal`
    (median, log-sd, maximum) from that lognormal within [1, maximum], to the hundredth
    (`lognormal_leverage`, drawn after every other value); with a positive
    `holding_mean_ns`, each trader closes after an exponential holding time of that mean
    (exit = entry + ceil(holding)), otherwise it holds to the end (exit `HELD`, -1). With a positive
    `collateral_fraction`, that share of traders posts its margin in the collateral asset.
    """
    if entry_window_ns or history_ns:
        entry = np.sort(np.floor(rng.uniform(-history_ns, entry_window_ns, accounts)).astype(np.int64))
    else:
        entry = np.zeros(accounts, np.int64)
    side = np.where(rng.random(accounts) < long_fraction, 1, -1).astype(np.int64)
    # math.exp, not np.exp: numpy's SIMD kernels may differ in the last bit between machines.
    growth = np.fromiter(map(math.exp, (notional_sigma * rng.standard_normal(accounts)).tolist()), np.float64, accounts)
    notional = np.minimum(notional_median_minor * growth, notional_max_minor)
    lots = np.maximum(1, np.floor(notional / reference_lot_value_minor)).astype(np.int64)
    weights = np.asarray(leverage_weights, dtype=np.float64)
    leverage = rng.choice(np.asarray(leverage_choices, np.int64), size=accounts, p=weights / weights.sum())
    if holding_mean_ns > 0:
        exit_ns = entry + np.ceil(rng.exponential(holding_mean_ns, accounts)).astype(np.int64)
        exit_ns[exit_ns == HELD] = HELD - 1  # an exit 1 ns before the start is still an exit, not "held"
    else:
        exit_ns = np.full(accounts, HELD, np.int64)
    collateral = rng.random(accounts) < collateral_fraction if collateral_fraction > 0 else np.zeros(accounts, np.bool_)
    centi = leverage.astype(np.int64) * 100
    if lognormal is not None:
        centi = lognormal_leverage(rng, accounts, *lognormal)
    return Population(entry, side, lots, centi, exit_ns, collateral, notional)


def fit_lognormal(choices: Sequence[float], weights: Sequence[float]) -> tuple[float, float]:
    """Return the lognormal (median, log-sd) fitted to the leverage choices' distribution function, tail included.

    A probit fit: at each choice x_k the mix's mid distribution function F_k (the weight below
    x_k plus half of x_k's own) gives z_k = Phi^-1(F_k), and z = (ln x - mu) / sigma is fitted
    by least squares over the choices (weights normalised). Matching the log-mean and log-sd
    instead would lose the high-leverage tail that drives liquidations: a mix with 2 % at 20x or
    more would keep 0.1 % there. One choice: that leverage, log-sd 0.
    """
    w = np.asarray(weights, np.float64) / float(np.sum(weights))
    order = np.argsort(np.asarray(choices, np.float64), kind="stable")
    x = np.asarray(choices, np.float64)[order]
    w = w[order]
    if len(x) == 1:
        return float(x[0]), 0.0
    normal = NormalDist()
    mid = np.cumsum(w) - w / 2
    z = np.array([normal.inv_cdf(min(max(float(f), 1e-9), 1 - 1e-9)) for f in mid.tolist()])
    logs = np.array([math.log(v) for v in x.tolist()])
    slope, intercept = np.polyfit(logs, z, 1)  # z = ln(x) / sigma - mu / sigma
    sigma = 1 / float(slope)
    return math.exp(-float(intercept) * sigma), sigma


def lognormal_leverage(rng: np.random.Generator, n: int, median: float, sigma: float, maximum: float) -> Int64Array:
    """Draw `n` leverages x 100 from a lognormal (median, log-sd), to the hundredth, within [1, maximum].

    leverage = median x exp(sigma x z), z standard normal, rounded half-up to 0.01; a draw
    below 1x is 1x (the mix's mass of unlevered positions) and one above the maximum is the
    maximum (the venue's cap), so the tail is kept as drawn rather than renormalised.
    """
    lo, hi = 100, math.floor(maximum * 100)
    z = rng.standard_normal(n).tolist()
    # math.exp, not np.exp: numpy's SIMD kernels may differ in the last bit between machines.
    centi = [min(hi, max(lo, math.floor(median * math.exp(sigma * x) * 100 + 0.5))) for x in z]
    return np.array(centi, np.int64)


def leg_lots(notional_minor: npt.NDArray[np.float64], multiple: float, lot_value_minor: int) -> Int64Array:
    """Return each trader's lots on a market: max(1, floor(|multiple| x notional / lot value)), shape (N,).

    With multiple 1 and the reference lot value this is `Population.lots`.
    """
    return np.maximum(1, np.floor(abs(multiple) * notional_minor / lot_value_minor)).astype(np.int64)  # type: ignore[no-any-return]
