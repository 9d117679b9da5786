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
from clearing.core.margin import Brackets, liquidation_price, maintenance_amounts
from clearing.core.risk import breach_liquidation_price
from clearing.core.state import ClearingState, MarginMode, Role
from clearing.core.state.schema import TOUCHED_ALL
from clearing.core.valuation import market_values
from clearing.sim.bus import EventBus
from clearing.sim.clock import Clock
from clearing.sim.live import Live
from clearing.sim.risk import Risk
from clearing.units import PPM, Int64Array

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

    A liquidation price costs about fifteen times the maintenance check of the same row. When
    more than one row in `direct_share` changed (a funding settlement, a collateral price), the
    cache checks every row directly instead (the same formula, on the backing and positions it
    keeps) and leaves the prices stale; it keeps checking directly until the rows settle, and
    rebuilds every price after `rebuild_after` direct checks (it then has spent about what the
    rebuild costs). Either way the result is the full check's.
    """

    def __init__(self, market: int, direct_share: int = 16, rebuild_after: int = 16) -> None:
        self.market = market
        self.direct_share = direct_share  # check directly when more than 1 row in this many changed (0: never)
        self.rebuild_after = rebuild_after
        self.stale = False  # the prices are not the current rows' (checked directly meanwhile)
        self.direct_checks = 0  # since the prices went stale
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
        rows = column.shape[0]
        if self.position.shape[0] != rows or s.brackets[self.market] is not self.brackets:
            # Accounts were opened, or dynamic margin moved the rates (`margin_rates_set`): start over.
            self.brackets = s.brackets[self.market]
            self.backing, self.position = s.margin_cash().copy(), column.copy()
            self.long_trigger = np.zeros(rows, np.int64)  # longs: breached at or below
            self.short_trigger = np.full(rows, np.iinfo(np.int64).max)  # shorts: at or above
            self.trader = s.role == TRADER
            self.stale = False
            return self._triggered(s, np.flatnonzero((column != 0) & self.trader))
        # The rows touched (the journal repeats a row per change, a maker's in every trade); None: every row.
        near = None if touched is None or TOUCHED_ALL in touched else np.unique(np.array(touched, np.int64))
        if self.stale:
            return self._while_stale(s, column, settled=near is not None and not self._direct_for(near.size, rows))
        if near is None:
            backing = s.margin_cash()
            differs = backing != self.backing
            differs |= column != self.position
            if self._direct_for(int(np.count_nonzero(differs)), rows):  # most rows changed: check them directly
                found = self._go_stale(s, backing, column)
                if found is not None:
                    return found
            changed = np.flatnonzero(differs)
            self.backing[changed] = backing[changed]
        else:
            # Valuing every row's collateral at each mark was the monitor's largest cost: only
            # these rows'. With no collateral listed, the full margin cash is a view of the cash.
            backing = s.margin_cash(near) if s.assets else s.margin_cash()[near]
            differs = (backing != self.backing[near]) | (column[near] != self.position[near])
            changed = near[differs]
            self.backing[changed] = backing[differs]
            if self._direct_for(changed.size, rows):
                found = self._go_stale(s, s.margin_cash(), column)
                if found is not None:
                    return found
        self.position[changed] = column[changed]
        return self._triggered(s, changed[self.trader[changed]])  # the house accounts are never checked

    def _direct_for(self, changed: int, rows: int) -> bool:
        return self.direct_share > 0 and changed * self.direct_share > rows

    def _go_stale(self, s: ClearingState, backing: Int64Array, position: Int64Array) -> Int64Array | None:
        # The direct check of every row, the prices left stale from now on (None, and not stale, beyond int64).
        found = self._below_maintenance(s, backing, position)
        if found is not None:
            self.stale, self.direct_checks = True, 0
        return found

    def _while_stale(self, s: ClearingState, column: Int64Array, settled: bool) -> Int64Array:
        # Every row checked directly while the rows keep changing; once `settled` (few touched since the last check)
        # after `rebuild_after` checks, every trader's price rebuilt from the rows as they are.
        self.direct_checks += 1
        if not settled or self.direct_checks <= self.rebuild_after:
            found = self._below_maintenance(s, s.margin_cash(), column)
            if found is not None:
                return found
        self.stale = False
        np.copyto(self.backing, s.margin_cash())
        np.copyto(self.position, column)
        return self._triggered(s, np.flatnonzero(self.trader))

    def _below_maintenance(self, s: ClearingState, backing: Int64Array, position: Int64Array) -> Int64Array | None:
        # The traders not yet queued whose backing + position x mark x unit value < maintenance (`core.margin.
        # maintenance_amounts`), ascending; None if a product could leave int64 (the prices handle those rows in Python
        # integers).
        market = self.market
        mark, unit, brackets = int(s.mark_ticks[market]), int(s.unit_value[market]), s.brackets[market]
        if position.size == 0:
            return np.zeros(0, np.int64)
        largest = max(int(position.max()), -int(position.min())) * mark * unit
        if largest >= 2**62 or max(int(backing.max()), -int(backing.min())) >= 2**62:
            return None
        value = position * (mark * unit)
        notional = np.abs(value)
        if len(brackets.floors) == 1 and not brackets.by_size and largest * int(brackets.rates_ppm[0]) < 2**63 - PPM:
            rate = int(brackets.rates_ppm[0])
            notional *= rate
            notional += PPM - 1
            requirement = notional // PPM  # ceil(notional x rate / 10^6), in one int64 product
        else:
            requirement = maintenance_amounts(notional, brackets, position)
        value += backing
        below = value < requirement
        below &= position != 0
        below &= self.trader
        below &= ~s.liquidating
        return np.flatnonzero(below)

    def _triggered(self, s: ClearingState, changed: Int64Array) -> Int64Array:
        # The prices of the `changed` traders recomputed, then the mark compared with every price.
        if changed.size:
            market = self.market
            held = self.position[changed]
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
