"""Delta hedging of option portfolios: the trades that bring an account's delta on its underlying back to zero.

A delta-hedged option seller (a short strangle with a perpetual hedge) trades the hedge
market whenever the account's net delta on the underlying (`clearing.core.risk.
delta_exposure`: its linear legs plus its options' Black-76 deltas) exceeds `band` of its
options' underlying exposure, and at entry whatever the band. Pure: reads a
`ClearingState`, returns trades.
"""

from __future__ import annotations

import numpy as np

from clearing.core.state import ClearingState
from clearing.core.valuation import delta_exposure, option_terms, underlying_of
from clearing.units import PPM, Int64Array


def hedge_trades(
    state: ClearingState, accounts: Int64Array, hedge_market: int, band_ppm: int, force: bool = False
) -> list[tuple[int, int]]:
    """Return (account, lots) trades on `hedge_market` (lots signed, buy > 0) that make each account delta-neutral.

    lots = -round(delta / unit value of the hedge), for the accounts whose |delta| exceeds
    `band_ppm` x their options' exposure (sum of |lots| x quote value per underlying tick),
    every account holding options when `force`; none for an account being liquidated or
    holding no option on the hedge's underlying.
    """
    underlying = underlying_of(state, hedge_market)
    terms = [t for t in option_terms(state) if t.underlying == underlying]
    if not terms or accounts.size == 0:
        return []
    accounts = accounts[~state.liquidating[accounts]]
    held = state.position[accounts][:, [t.market for t in terms]]
    exposure = np.abs(held) @ np.array([t.underlying_unit_value for t in terms], np.float64)
    delta = delta_exposure(state, accounts, underlying)
    per_lot = float(state.unit_value[hedge_market])
    out = []
    for account, d, e in zip(accounts.tolist(), delta.tolist(), exposure.tolist(), strict=True):
        if e > 0 and (force or abs(d) * PPM > band_ppm * e):
            lots = -round(d / per_lot)
            if lots:
                out.append((account, lots))
    return out
