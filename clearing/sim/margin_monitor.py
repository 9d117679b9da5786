"""The margin monitor: one vectorised maintenance check per mark-price update.

Accounts found below maintenance (traders only, not already queued) get a
`margin_breached` event each and join the liquidation queue in account order. With one
market and no portfolio-margined account, the check is `breached_accounts` over every
account; otherwise `Risk.breached` checks the accounts exposed to the market, each on
its whole portfolio (all its markets, under its margin mode).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import simpy

from clearing import events as ev
from clearing.margin import below_maintenance
from clearing.risk import breach_liquidation_price
from clearing.sim.bus import EventBus
from clearing.sim.clock import Clock
from clearing.sim.risk import Risk
from clearing.state import MODE_CODES, ROLE_CODES, ClearingState
from clearing.units import Int64Array

TRADER = ROLE_CODES[ev.ROLE_TRADER]
PORTFOLIO = MODE_CODES["portfolio"]


PRIORITIES = ("fifo", "worst_health", "largest")


def queue_priority(priority: str, equity_minor: int, requirement_minor: int, notional_minor: int, seq: int) -> tuple[int, int]:
    """Return the queue key (lowest first): "fifo" by breach, "worst_health" by equity / requirement
    (in ppm, lowest first), "largest" by notional (largest first); ties by breach order."""
    if priority == "worst_health":
        return (equity_minor * 1_000_000 // max(requirement_minor, 1), seq)
    if priority == "largest":
        return (-notional_minor, seq)
    return (seq, seq)


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

    def __init__(
        self,
        env: Clock,
        bus: EventBus,
        queue: simpy.PriorityStore,
        priority: str = "fifo",
        detection_ns: int = 0,
        risk: Risk | None = None,
    ) -> None:
        self.env = env
        self.bus = bus
        self.risk = risk or Risk(bus)
        self.queue = queue
        self.priority = priority
        self.detection_ns = detection_ns

    def on_collateral(self, asset: int, price_seq: int) -> None:
        """Re-check every market when a collateral price changes; `price_seq` is the cause."""
        for market in range(self.bus.state.n_markets):
            if self.bus.state.mark_ticks[market]:
                self.on_mark(market, price_seq)

    def on_mark(self, market: int, mark_seq: int) -> None:
        """Run the check for `market` at its current mark; `mark_seq` is the cause."""
        s = self.bus.state
        mark = int(s.mark_ticks[market])
        single = self.risk.single_market()
        breached = breached_accounts(s, market, s.margin_cash()) if single else self.risk.breached(market)
        self._enqueue(breached, market, mark, mark_seq)

    def on_entry(self, accounts: list[int], market: int, cause_seq: int) -> None:
        """Check portfolio-margined `accounts` right after their entry orders filled; `cause_seq` is the last fill.

        A portfolio requirement (the scan-range loss of a concentrated book) can exceed the
        margin a trader deposits; such an account is queued at once rather than at the next
        mark update. Other modes enter within their initial margin and are not re-checked.
        """
        s = self.bus.state
        rows = np.array(sorted(set(accounts)), np.int64)
        rows = rows[(s.margin_mode[rows] == PORTFOLIO) & (s.role[rows] == TRADER) & ~s.liquidating[rows]]
        rows = rows[s.position[rows].any(axis=1)]
        if rows.size:
            equity, requirement = self.risk.measure(rows)
            self._enqueue(rows[equity < requirement], market, int(s.mark_ticks[market]), cause_seq)

    def _enqueue(self, breached: Any, market: int, mark: int, cause_seq: int) -> None:
        # One margin_breached per account, in account order, each put on the queue.
        s = self.bus.state
        if breached.size == 0:
            return
        equities, requirements = self.risk.measure(breached)
        sizes = np.abs(s.position[breached] * (self.risk.prices() * s.unit_value)).sum(axis=1)
        for account, account_equity, requirement, size in zip(
            breached.tolist(), equities.tolist(), requirements.tolist(), sizes.tolist(), strict=True
        ):
            seq = self.bus.emit(
                ev.MarginBreached(
                    ts_ns=self.env.now, causes=(cause_seq,), account=account, market=market, mark_ticks=mark,
                    equity=account_equity, requirement=requirement,
                    liquidation_price_ticks=breach_liquidation_price(s, account, market),
                )
            )  # fmt: skip
            item = simpy.PriorityItem(
                queue_priority(self.priority, account_equity, requirement, size, seq), (account, market, seq)
            )
            if self.detection_ns:
                self.env.process(self._detect_later(item))
            else:
                self.queue.put(item)

    def _detect_later(self, item: simpy.PriorityItem) -> Any:
        yield self.env.timeout(self.detection_ns)
        yield self.queue.put(item)
