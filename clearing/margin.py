"""Margin arithmetic: notional, equity and maintenance requirement, vectorised and exact.

Pure functions over int64 arrays of shape (N,): no state, no I/O. Requirements round up
(against the account). This is the one implementation; the margin monitor calls it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from clearing.units import PPM, Int64Array, mul_div_floor


def notional(position_lots: Int64Array, price_ticks: int, unit_value: int) -> Int64Array:
    """Return |position| x price x unit_value, in quote minor units, shape (N,).

    Exact: every factor is an integer.
    """
    return np.abs(position_lots) * (price_ticks * unit_value)


def maintenance_margin(notional_minor: Int64Array, rate_ppm: int | Int64Array) -> Int64Array:
    """Return ceil(notional x rate_ppm / 10^6) in quote minor units, shape (N,); the rate may be per row.

    Rounds up, against the account. Computed as q*rate + ceil(r*rate/10^6) with
    notional = q*10^6 + r, so no intermediate exceeds the notional itself.
    """
    q, r = np.divmod(notional_minor, PPM)
    return q * rate_ppm - ((-r * rate_ppm) // PPM)


class Brackets(NamedTuple):
    """Tiered maintenance margin of one market, shape (K,) each, floors ascending from 0.

    floors: notional floor of each bracket, quote minor units; rates_ppm: its maintenance
    rate; cums: its maintenance amount, from `bracket_cums`.
    """

    floors: Int64Array
    rates_ppm: Int64Array
    cums: Int64Array

    @classmethod
    def flat(cls, rate_ppm: int) -> Brackets:
        """Return a single bracket: one rate for every notional."""
        return cls(np.zeros(1, np.int64), np.full(1, rate_ppm, np.int64), np.zeros(1, np.int64))

    @classmethod
    def of(cls, floors_minor: Sequence[int], rates_ppm: Sequence[int]) -> Brackets:
        """Return the brackets with their maintenance amounts computed by `bracket_cums`."""
        floors = np.asarray(floors_minor, np.int64)
        rates = np.asarray(rates_ppm, np.int64)
        return cls(floors, rates, bracket_cums(floors, rates))


def bracket_cums(floors_minor: Int64Array, rates_ppm: Int64Array) -> Int64Array:
    """Return Binance's maintenance amounts: cum_1 = 0, cum_n = floor_n x (rate_n - rate_{n-1}) + cum_{n-1}.

    The tax-bracket construction that makes the requirement continuous across bracket edges
    (venues.md 1.3). Exact in quote minor units.

    Raises:
        ValueError: floors do not start at 0 and ascend, rates decrease, or a cum is not whole.
    """
    if len(floors_minor) == 0 or floors_minor[0] != 0 or (np.diff(floors_minor) <= 0).any() or (np.diff(rates_ppm) < 0).any():
        raise ValueError(f"expected floors ascending from 0 and rates not decreasing, was {floors_minor}, {rates_ppm}")
    cums = [0]
    for n in range(1, len(floors_minor)):
        step, rest = divmod(int(floors_minor[n]) * (int(rates_ppm[n]) - int(rates_ppm[n - 1])), PPM)
        if rest:
            raise ValueError(f"bracket floor {int(floors_minor[n])} x rate step is not a whole number of minor units")
        cums.append(cums[-1] + step)
    return np.asarray(cums, np.int64)


def maintenance_amounts(notional_minor: Int64Array, brackets: Brackets) -> Int64Array:
    """Return MM = ceil(notional x rate_b / 10^6) - cum_b, b the bracket of each notional, shape (N,).

    Bracket b holds notionals in (floor_b, floor_{b+1}] (Binance's caps are inclusive);
    rounds up, against the account. With one bracket this is `maintenance_margin`.
    """
    if len(brackets.floors) == 1:
        return maintenance_margin(notional_minor, int(brackets.rates_ppm[0]))
    b = np.maximum(np.searchsorted(brackets.floors, notional_minor, side="left") - 1, 0)
    return maintenance_margin(notional_minor, brackets.rates_ppm[b]) - brackets.cums[b]


def equity(cash: Int64Array, position_lots: Int64Array, price_ticks: int, unit_value: int) -> Int64Array:
    """Return cash + position x price x unit_value in quote minor units, shape (N,).

    `cash` is wallet balance minus open-position cost (see `clearing.state`), so this is
    wallet balance plus unrealised PnL at `price_ticks`.
    """
    return cash + position_lots * (price_ticks * unit_value)


def below_maintenance(
    cash: Int64Array, position_lots: Int64Array, price_ticks: int, unit_value: int, brackets: Brackets
) -> npt.NDArray[np.bool_]:
    """Return the mask of accounts with a position whose equity < maintenance amount.

    `cash` is what backs the position (see `margin_cash`). Shape (N,).
    """
    value = position_lots * (price_ticks * unit_value)
    requirement = maintenance_amounts(np.abs(value), brackets)
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
