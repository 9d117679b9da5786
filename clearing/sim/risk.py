"""Account risk at the current marks: equity and requirement, for the monitor and the liquidators.

One place computes both, through `clearing.margin.account_requirements`, so the margin
monitor's breach and the liquidator's re-check can never disagree. Positions are valued at
each market's mark (its index before the first mark).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Generator
from typing import Any

import numpy as np
import numpy.typing as npt
import simpy

from clearing import events as ev
from clearing.margin import (
    PortfolioParams,
    account_requirements,
    historical_returns_ppm,
    maintenance_amounts,
    position_values,
)
from clearing.sim.bus import EventBus
from clearing.sim.clock import Clock
from clearing.state import MODE_CODES, ROLE_CODES, ClearingState
from clearing.units import Int64Array

TRADER = ROLE_CODES[ev.ROLE_TRADER]
PORTFOLIO = MODE_CODES["portfolio"]


class ReturnWindow:
    """The rolling window of mark returns that expected-shortfall margin scans.

    Samples every market's mark each `step_ns`; keeps the last `length` returns over
    `horizon` samples (`historical_returns_ppm`).
    """

    def __init__(self, length: int, horizon: int = 1) -> None:
        self.horizon = horizon
        self.samples: deque[Int64Array] = deque(maxlen=length + horizon)
        self._returns: Int64Array | None = None

    def sample(self, marks: Int64Array) -> None:
        """Add one row of marks (skipped until every market has one)."""
        if (marks > 0).all():
            self.samples.append(marks.copy())
            self._returns = None

    def returns(self) -> Int64Array | None:
        """Return the window's returns (T, M) in ppm, or None before the first."""
        if len(self.samples) <= self.horizon:
            return None
        if self._returns is None:
            self._returns = historical_returns_ppm(np.stack(self.samples), self.horizon)
        return self._returns

    def process(self, env: Clock, state: ClearingState, step_ns: int) -> Generator[simpy.Event, Any, None]:
        """Sample the marks every `step_ns`, forever."""
        while True:
            self.sample(state.mark_ticks)
            yield env.timeout(step_ns)


class Risk:
    """Equity and maintenance requirement of accounts under their margin modes."""

    def __init__(self, bus: EventBus, portfolio: PortfolioParams | None = None, window: ReturnWindow | None = None) -> None:
        self.bus = bus
        self.portfolio = portfolio
        self.window = window
        self._single: tuple[int, int, bool] = (-1, -1, False)

    def prices(self) -> Int64Array:
        """Return the price each market's positions are valued at: the mark, the index before it."""
        s = self.bus.state
        return np.where(s.mark_ticks > 0, s.mark_ticks, s.index_ticks)  # type: ignore[no-any-return]

    def single_market(self) -> bool:
        """Return whether the one-market fast path applies: one market and no portfolio account."""
        s = self.bus.state
        if self._single[:2] != (s.n_accounts, s.n_markets):  # accounts and markets only ever grow
            single = s.n_markets == 1 and not (self.portfolio is not None and (s.margin_mode == PORTFOLIO).any())
            self._single = (s.n_accounts, s.n_markets, single)
        return self._single[2]

    def measure(self, rows: Int64Array, positions: Int64Array | None = None) -> tuple[Int64Array, Int64Array]:
        """Return (equity, requirement) of the accounts `rows`, shape (len(rows),) each.

        `positions` (len(rows), M) replaces their positions (a what-if); default: as held.
        """
        s = self.bus.state
        held = s.position[rows] if positions is None else positions
        values = position_values(held, self.prices(), s.unit_value)
        equity = s.margin_cash(rows) + values.sum(axis=1)
        portfolio: npt.NDArray[np.bool_] = s.margin_mode[rows] == PORTFOLIO
        returns = self.window.returns() if self.window is not None else None
        return equity, account_requirements(values, portfolio, s.brackets, self.portfolio, returns)

    def below(self, account: int) -> bool:
        """Return whether `account` holds a position and its equity is under its requirement."""
        s = self.bus.state
        if not s.position[account].any():
            return False
        equity, requirement = self.measure(np.array([account]))
        return bool(equity[0] < requirement[0])

    def breached(self, market: int) -> Int64Array:
        """Return the traders exposed to `market` and below their requirement, not yet queued, ascending."""
        s = self.bus.state
        rows = np.flatnonzero((s.position[:, market] != 0) & (s.role == TRADER) & ~s.liquidating)
        if rows.size == 0:
            return rows
        equity, requirement = self.measure(rows)
        return rows[equity < requirement]  # type: ignore[no-any-return]

    def requirement_of(self, account: int, market: int, lots: int) -> int:
        """Return the account's requirement if its position on `market` were `lots` (signed)."""
        positions = self.bus.state.position[account : account + 1].copy()
        positions[0, market] = lots
        return int(self.measure(np.array([account]), positions)[1][0])

    def backing(self, account: int, market: int) -> int:
        """Return what backs the account's position on `market`: its share of the equity, less the position's value.

        One position: the margin cash. Several: the account's equity at the marks is
        allocated to its positions in proportion to their maintenance amounts (dYdX v4
        allocates total net collateral by maintenance share, venues.md 3.4; by notional when
        no position needs maintenance), floor(equity x share), so each position has its
        own bankruptcy price and a deficit is shared out instead of landing on one leg.
        """
        s = self.bus.state
        row = s.position[account : account + 1]
        values = position_values(row, self.prices(), s.unit_value)[0]
        cash = int(s.margin_cash(slice(account, account + 1))[0])
        held = np.flatnonzero(values)
        if held.size <= 1:
            return cash + int(values.sum()) - int(values[market])
        weights = [int(maintenance_amounts(np.abs(values[m : m + 1]), s.brackets[m])[0]) for m in held.tolist()]
        if not sum(weights):
            weights = np.abs(values[held]).tolist()
        share = weights[held.tolist().index(market)] if market in held.tolist() else 0
        equity = cash + int(values.sum())
        return equity * share // max(sum(weights), 1) - int(values[market])
