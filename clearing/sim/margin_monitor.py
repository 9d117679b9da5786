"""The margin monitor: one vectorised maintenance check per mark-price update.

Accounts found below maintenance (traders only, not already queued) get a
`margin_breached` event each and join the liquidation queue in account order, keyed by
the queue priority (`clearing.core.liquidation.queue.queue_key`). With one market and no
portfolio-margined account, the check compares the mark with each trader's liquidation
price (`TriggerCache`: exactly the full check of every account, but the prices, and the
margin cash behind them, are only recomputed for the rows whose backing or position
changed since the last check); otherwise `Risk.breached` checks the accounts exposed to
the market, each on its whole portfolio (all its markets, under its margin mode).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import numpy as np
import simpy

from clearing import events as ev
from clearing.core.liquidation.queue import queue_key
from clearing.core.margin import Brackets, liquidation_price
from clearing.core.risk import breach_liquidation_price
from clearing.core.state import ClearingState, MarginMode, Role
from clearing.core.state.schema import TOUCHED_ALL
from clearing.core.valuation import market_values
from clearing.sim.bus import EventBus
from clearing.sim.clock import Clock
from clearing.sim.live import Live
from clearing.sim.risk import Risk
from clearing.units import Int64Array

TRADER = Role.TRADER
PORTFOLIO = MarginMode.PORTFOLIO


class TriggerCache:
    """Each trader's liquidation price on one market, recomputed only where its inputs changed.

    A long is below maintenance exactly when the mark <= its liquidation price, a short when
    the mark >= it (`clearing.core.margin.liquidation_price`), so `breached` returns the
    traders with margin cash + position x mark x unit value < their maintenance amount,
    without recomputing a million requirements at every mark: it compares the backing
    (`ClearingState.margin_cash`, computed only for the rows that may have changed) and the
    position with the last check's and recomputes the prices of the rows that differ (a
    collateral price change shows as a backing change).
    """

    def __init__(self, market: int) -> None:
        self.market = market
        self.backing: Int64Array = np.zeros(0, np.int64)
        self.position: Int64Array = np.zeros(0, np.int64)
        self.long_trigger: Int64Array = np.zeros(0, np.int64)
        self.short_trigger: Int64Array = np.zeros(0, np.int64)
        self.trader = np.zeros(0, np.bool_)
        self.highest_long = 0
        self.lowest_short = 0
        self.brackets: Brackets | None = None  # the rates the triggers were computed at

    def breached(self, s: ClearingState, touched: list[int] | None = None) -> Int64Array:
        """Return the traders below maintenance at the market's mark, not yet queued, ascending.

        `touched`: the rows whose backing or position may have changed since the last call
        (`ClearingState.touched`, `TOUCHED_ALL` for every row); None compares every row.
        Only those rows' margin cash is computed.
        """
        column = s.position[:, self.market]
        if self.position.shape[0] != column.shape[0] or s.brackets[self.market] is not self.brackets:
            # Accounts were opened, or dynamic margin moved the rates (`margin_rates_set`): start over.
            self.brackets = s.brackets[self.market]
            self.backing, self.position = s.margin_cash().copy(), column.copy()
            self.long_trigger = np.zeros(column.shape[0], np.int64)  # longs: breached at or below
            self.short_trigger = np.full(column.shape[0], np.iinfo(np.int64).max)  # shorts: at or above
            self.trader = s.role == TRADER
            changed = np.flatnonzero((column != 0) & self.trader)
        else:
            if touched is None or TOUCHED_ALL in touched:
                backing = s.margin_cash()
                changed = np.flatnonzero((backing != self.backing) | (column != self.position))
                self.backing[changed] = backing[changed]
            else:
                rows = np.unique(np.array(touched, np.int64))
                # Valuing every row's collateral at each mark was the monitor's largest cost: only
                # these rows'. With no collateral listed, the full margin cash is a view of the cash.
                backing = s.margin_cash(rows) if s.assets else s.margin_cash()[rows]
                differs = (backing != self.backing[rows]) | (column[rows] != self.position[rows])
                changed = rows[differs]
                self.backing[changed] = backing[differs]
            self.position[changed] = column[changed]
            changed = changed[self.trader[changed]]  # the house accounts are never checked
        if changed.size:
            market = self.market
            held = column[changed]
            trigger = liquidation_price(self.backing[changed], held, int(s.unit_value[market]), s.brackets[market])
            trader = self.trader[changed]
            self.long_trigger[changed] = np.where((held > 0) & trader, trigger, 0)
            self.short_trigger[changed] = np.where((held < 0) & trader, trigger, np.iinfo(np.int64).max)
            self.highest_long = int(self.long_trigger.max())
            self.lowest_short = int(self.short_trigger.min())
        mark = int(s.mark_ticks[self.market])
        if self.lowest_short > mark > self.highest_long:  # nobody's price is crossed
            return np.zeros(0, np.int64)
        rows = np.flatnonzero((self.long_trigger >= mark) | (self.short_trigger <= mark))
        return rows[~s.liquidating[rows]]  # type: ignore[no-any-return]


class MarginMonitor:
    """Checks every trader on a market when its mark moves; feeds the liquidation queue."""

    def __init__(
        self,
        env: Clock,
        bus: EventBus,
        queue: simpy.PriorityStore,
        live: Live,
        risk: Risk | None = None,
    ) -> None:
        self.env = env
        self.bus = bus
        self.risk = risk or Risk(bus)
        self.queue = queue
        self.live = live
        self.trigger: TriggerCache | None = None  # the one-market path's cache (`Risk.single_market`)

    def on_collateral(self, asset: int, price_seq: int) -> None:
        """Re-check every market when a collateral price changes; `price_seq` is the cause."""
        for market in range(self.bus.state.n_markets):
            if self.bus.state.mark_ticks[market]:
                self.on_mark(market, price_seq)

    def on_mark(self, market: int, mark_seq: int) -> None:
        """Run the check for `market` at its current mark; `mark_seq` is the cause."""
        s = self.bus.state
        mark = int(s.mark_ticks[market])
        if self.risk.single_market():  # one market: the cache reads the rows touched since its last check
            touched = [TOUCHED_ALL] if s.touched is None else s.touched
            s.touched = []
            if self.trigger is None:
                self.trigger = TriggerCache(market)
            breached = self.trigger.breached(s, touched)
        else:
            if s.table_method is None:  # no cache to feed: stop the journal (a cache would start over)
                s.touched = None
            self.trigger = None
            breached = self.risk.breached(market)
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

    def _enqueue(self, breached: Int64Array, market: int, mark: int, cause_seq: int) -> None:
        # One margin_breached per account, in account order, each put on the queue.
        s = self.bus.state
        if breached.size == 0 or not self.live.params.liquidation.engine_on:  # switched off: nobody is liquidated
            return
        equities, requirements = self.risk.measure(breached)
        sizes = np.abs(market_values(s, s.position[breached], self.risk.prices())).sum(axis=1)
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
            queue = self.live.params.queue
            key = queue_key(queue.priority, account_equity, requirement, size, seq)
            item = simpy.PriorityItem(key, (account, market, seq))
            if queue.detection_ns:
                self.env.process(self._detect_later(item, queue.detection_ns))
            else:
                self.queue.put(item)

    def _detect_later(self, item: simpy.PriorityItem, detection_ns: int) -> Generator[simpy.Event, Any, None]:
        yield self.env.timeout(detection_ns)
        yield self.queue.put(item)
