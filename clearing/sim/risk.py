"""Account risk for the margin monitor, and the return-window sampler.

`Risk` is the shell's handle on `clearing.core.risk` (the one implementation, which the
liquidators' policies and replay's breach audit use too), so a breach and the
liquidator's re-check can never disagree.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import numpy as np
import simpy

from clearing import events as ev
from clearing.core.portfolio.revaluation import ScenarioCache
from clearing.core.risk import PORTFOLIO, account_risk
from clearing.core.scenario_margin import table_cache_update, table_rule, tables_ready
from clearing.core.state import Role
from clearing.core.state.schema import TOUCHED_ALL
from clearing.core.valuation import valuation_prices
from clearing.sim.bus import EventBus
from clearing.sim.clock import Clock
from clearing.units import Int64Array

TRADER = Role.TRADER


def return_window_process(env: Clock, bus: EventBus, step_ns: int) -> Generator[simpy.Event, Any, None]:
    """Sample every market's mark into the return window each `step_ns` (once every market has one)."""
    s = bus.state
    while True:
        if (s.mark_ticks > 0).all():
            bus.emit(ev.ReturnWindowSampled(ts_ns=env.now, prices_ticks=tuple(s.mark_ticks.tolist())))
        yield env.timeout(step_ns)


class Risk:
    """Equity and requirement of accounts under their margin modes, at the current prices."""

    def __init__(self, bus: EventBus) -> None:
        self.bus = bus
        self._single: tuple[int, int, bool] = (-1, -1, False)
        self.tables: ScenarioCache | None = None  # scenario-table margin: each account's scenario P/L, kept up to date

    def prices(self) -> Int64Array:
        """Return the price each market's positions are valued at (`clearing.core.valuation.valuation_prices`)."""
        return valuation_prices(self.bus.state)

    def single_market(self) -> bool:
        """Return whether the one-market fast path applies: one linear market and no portfolio account."""
        s = self.bus.state
        if self._single[:2] != (s.n_accounts, s.n_markets):  # accounts and markets only ever grow
            portfolio = s.portfolio is not None and (s.margin_mode == PORTFOLIO).any()
            single = s.n_markets == 1 and not portfolio and not s.inverse  # the cache's prices are linear
            self._single = (s.n_accounts, s.n_markets, single)
        return self._single[2]

    def measure(self, rows: Int64Array, positions: Int64Array | None = None) -> tuple[Int64Array, Int64Array]:
        """Return (equity, requirement) of the accounts `rows` (`clearing.core.risk.account_risk`).

        Under scenario-table margin the requirements come from the `ScenarioCache`, brought up
        to date first: the rows the state's journal (`ClearingState.touched`) names since
        the last call, and the holders of each underlying whose scenario table changed.
        """
        s = self.bus.state
        return account_risk(s, rows, positions, self._table_cache() if tables_ready(s) else None)

    def _table_cache(self) -> ScenarioCache:
        s = self.bus.state
        changed = None if s.touched is None or TOUCHED_ALL in s.touched else np.array(s.touched, np.int64)
        s.touched = []  # the journal runs from here on
        if self.tables is None:
            self.tables = ScenarioCache(table_rule(s))
            changed = None
        table_cache_update(s, self.tables, changed)
        return self.tables

    def breached(self, market: int) -> Int64Array:
        """Return the traders exposed to `market` and below their requirement, not yet queued, ascending."""
        s = self.bus.state
        rows = np.flatnonzero((s.position[:, market] != 0) & (s.role == TRADER) & ~s.liquidating)
        if rows.size == 0:
            return rows
        equity, requirement = self.measure(rows)
        return rows[equity < requirement]  # type: ignore[no-any-return]
