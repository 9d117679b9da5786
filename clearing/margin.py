"""Margin arithmetic: notional, equity and maintenance requirement, vectorised and exact.

Pure functions over int64 arrays of shape (N,): no state, no I/O. Requirements round up
(against the account). This is the one implementation; the margin monitor calls it.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from clearing.units import PPM, Int64Array


def notional(position_lots: Int64Array, price_ticks: int, unit_value: int) -> Int64Array:
    """Return |position| x price x unit_value, in quote minor units, shape (N,).

    Exact: every factor is an integer.
    """
    return np.abs(position_lots) * (price_ticks * unit_value)


def maintenance_margin(notional_minor: Int64Array, rate_ppm: int) -> Int64Array:
    """Return ceil(notional x rate_ppm / 10^6) in quote minor units, shape (N,).

    Rounds up, against the account. Computed as q*rate + ceil(r*rate/10^6) with
    notional = q*10^6 + r, so no intermediate exceeds the notional itself.
    """
    q, r = np.divmod(notional_minor, PPM)
    return q * rate_ppm - ((-r * rate_ppm) // PPM)


def equity(cash: Int64Array, position_lots: Int64Array, price_ticks: int, unit_value: int) -> Int64Array:
    """Return cash + position x price x unit_value in quote minor units, shape (N,).

    `cash` is wallet balance minus open-position cost (see `clearing.state`), so this is
    wallet balance plus unrealised PnL at `price_ticks`.
    """
    return cash + position_lots * (price_ticks * unit_value)


def below_maintenance(
    cash: Int64Array, position_lots: Int64Array, price_ticks: int, unit_value: int, rate_ppm: int
) -> npt.NDArray[np.bool_]:
    """Return the mask of accounts with a position whose equity < maintenance margin.

    Isolated margin on one market: `cash` is the account's isolated wallet. Shape (N,).
    """
    value = position_lots * (price_ticks * unit_value)
    requirement = maintenance_margin(np.abs(value), rate_ppm)
    return (position_lots != 0) & (cash + value < requirement)  # type: ignore[no-any-return]
