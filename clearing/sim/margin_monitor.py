"""The margin monitor: one vectorised maintenance check per mark-price update.

Accounts found below maintenance (traders only, not already queued) get a
`margin_breached` event each and join the liquidation queue in account order.
"""

from __future__ import annotations

import numpy as np
import simpy

from clearing import events as ev
from clearing.margin import below_maintenance, equity, maintenance_amounts, notional
from clearing.sim.bus import EventBus
from clearing.state import ROLE_CODES, ClearingState
from clearing.units import Int64Array

TRADER = ROLE_CODES[ev.ROLE_TRADER]


def breached_accounts(s: ClearingState, market: int, backing: Int64Array) -> Int64Array:
    """Return the traders below maintenance on `market` at its mark and not yet queued, ascending.

    One vectorised pass over every account: `below_maintenance` with the market's brackets.
    """
    below = below_maintenance(
        backing, s.position[:, market], int(s.mark_ticks[market]), int(s.unit_value[market]), s.brackets[market]
    )
    return np.flatnonzero(below & (s.role == TRADER) & ~s.liquidating)


class MarginMonitor:
    """Checks every trader on a market when its mark moves; feeds the liquidation queue."""

    def __init__(self, env: simpy.Environment, bus: EventBus, queue: simpy.Store) -> None:
        self.env = env
        self.bus = bus
        self.queue = queue

    def on_collateral(self, asset: int, price_seq: int) -> None:
        """Re-check every market when a collateral price changes; `price_seq` is the cause."""
        for market in range(self.bus.state.n_markets):
            if self.bus.state.mark_ticks[market]:
                self.on_mark(market, price_seq)

    def on_mark(self, market: int, mark_seq: int) -> None:
        """Run the check for `market` at its current mark; `mark_seq` is the cause."""
        s = self.bus.state
        mark = int(s.mark_ticks[market])
        unit_value = int(s.unit_value[market])
        brackets = s.brackets[market]
        column = s.position[:, market]
        backing = s.margin_cash()
        for account in breached_accounts(s, market, backing).tolist():
            one = column[account : account + 1]
            seq = self.bus.emit(
                ev.MarginBreached(
                    ts_ns=self.env.now, causes=(mark_seq,), account=account, market=market, mark_ticks=mark,
                    equity=int(equity(backing[account : account + 1], one, mark, unit_value)[0]),
                    requirement=int(maintenance_amounts(notional(one, mark, unit_value), brackets)[0]),
                )
            )  # fmt: skip
            self.queue.put((account, market, seq))
