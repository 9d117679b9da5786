"""Margin arithmetic: notional, equity and maintenance requirement, vectorised and exact.

Pure functions over int64 arrays of shape (N,): no state, no I/O. Requirements round up
(against the account). This is the one implementation; the margin monitor calls it.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from clearing.units import PPM, Int64Array, mul_div_floor


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


def collateral_value(
    collateral: Int64Array, prices_ticks: Int64Array, decimals: Int64Array, haircut_ppm: Int64Array
) -> Int64Array:
    """Return each account's collateral value in quote minor units, shape (N,).

    sum over assets a of floor(floor(amount_a x price_a / 10^decimals_a) x (10^6 - haircut_a) / 10^6),
    with `collateral` (N, A) in asset minor units and prices in quote minor units per whole
    unit: rounded down twice, against the account.
    """
    total = np.zeros(collateral.shape[0], np.int64)
    for a in range(collateral.shape[1]):
        gross = mul_div_floor(collateral[:, a], int(prices_ticks[a]), 10 ** int(decimals[a]))
        total += mul_div_floor(gross, PPM - int(haircut_ppm[a]), PPM)
    return total


def margin_cash(state_cash: Int64Array, collateral: Int64Array, prices_ticks: Int64Array, decimals: Int64Array,
                haircut_ppm: Int64Array) -> Int64Array:  # fmt: skip
    """Return the cash that backs margin: quote cash plus the collateral value, shape (N,)."""
    if collateral.shape[1] == 0:
        return state_cash
    return state_cash + collateral_value(collateral, prices_ticks, decimals, haircut_ppm)
