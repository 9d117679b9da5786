"""The leveraged trader population: who enters, when, on which side, how big, how levered.

Pure: one generator in, arrays out, drawn in a fixed order so a seed fixes the population.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from clearing.units import Int64Array


class Population(NamedTuple):
    """N traders sorted by entry time; arrays of shape (N,)."""

    entry_ns: Int64Array
    side: Int64Array  # +1 long, -1 short
    lots: Int64Array
    leverage: Int64Array
    exit_ns: Int64Array  # -1: held to the end
    collateral: npt.NDArray[np.bool_]  # posts its margin in the collateral asset
    notional: npt.NDArray[np.float64]  # the drawn notional, quote minor units (lots is it at the reference lot value)


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
) -> Population:
    """Draw the population.

    Entry times are uniform on [0, entry_window_ns]; side is long with probability
    `long_fraction`; notional is lognormal with the given median and log-sd, capped at
    `notional_max_minor`, and turned into at least one lot at the reference lot value;
    leverage is drawn from the choices with the (normalised) weights; with a positive
    `holding_mean_ns`, each trader closes after an exponential holding time of that mean
    (exit = entry + ceil(holding)), otherwise it holds to the end (exit -1). With a positive
    `collateral_fraction`, that share of traders posts its margin in the collateral asset.
    """
    if entry_window_ns:
        entry = np.sort(np.floor(rng.uniform(0, entry_window_ns, accounts)).astype(np.int64))
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
    else:
        exit_ns = np.full(accounts, -1, np.int64)
    collateral = rng.random(accounts) < collateral_fraction if collateral_fraction > 0 else np.zeros(accounts, np.bool_)
    return Population(entry, side, lots, leverage.astype(np.int64), exit_ns, collateral, notional)


def leg_lots(notional_minor: npt.NDArray[np.float64], multiple: float, lot_value_minor: int) -> Int64Array:
    """Return each trader's lots on a market: max(1, floor(|multiple| x notional / lot value)), shape (N,).

    With multiple 1 and the reference lot value this is `Population.lots`.
    """
    return np.maximum(1, np.floor(abs(multiple) * notional_minor / lot_value_minor)).astype(np.int64)  # type: ignore[no-any-return]
