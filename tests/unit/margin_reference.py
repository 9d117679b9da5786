"""Reference implementations the tests check the package against: one market, every account, no cache.

The margin monitor finds breaches with a cache of liquidation prices
(`clearing.sim.margin_monitor.TriggerCache`) and the liquidators re-check through
`clearing.core.risk`; these are the plain formulas both must agree with, kept out of the
package because nothing in a run calls them.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from clearing.core.margin import Brackets, maintenance_amounts
from clearing.core.state import ClearingState, Role
from clearing.units import Int64Array


def equity(cash: Int64Array, position_lots: Int64Array, price_ticks: int, unit_value: int) -> Int64Array:
    """Return cash + position x price x unit_value in quote minor units, shape (N,).

    `cash` is wallet balance minus open-position cost (see `clearing.core.state`), so this is
    wallet balance plus unrealised PnL at `price_ticks`.
    """
    return cash + position_lots * (price_ticks * unit_value)


def below_maintenance(
    cash: Int64Array, position_lots: Int64Array, price_ticks: int, unit_value: int, brackets: Brackets
) -> npt.NDArray[np.bool_]:
    """Return the mask of accounts with a position whose equity < maintenance amount, shape (N,).

    `cash` is what backs the position (`ClearingState.margin_cash`). Source:
    docs/references.md [binance-liq] (collateral including unrealised PnL below maintenance).
    """
    value = position_lots * (price_ticks * unit_value)
    requirement = maintenance_amounts(np.abs(value), brackets, position_lots)
    return (position_lots != 0) & (cash + value < requirement)


def breached_accounts(s: ClearingState, market: int, backing: Int64Array) -> Int64Array:
    """Return the traders below maintenance on `market` at its mark and not yet queued, ascending.

    One vectorised pass over every account: `below_maintenance` with the market's brackets.
    """
    below = below_maintenance(
        backing, s.position[:, market], int(s.mark_ticks[market]), int(s.unit_value[market]), s.brackets[market]
    )
    return np.flatnonzero(below & (s.role == Role.TRADER) & ~s.liquidating)
