"""Delta hedgers: option portfolios of the population re-hedged on their hedge market.

Each strategy with a `hedge` market runs one process over its cross and portfolio traders'
accounts: every `hedge_interval_ns` it sends a market order on the hedge market for each
account whose net delta left the band (`clearing.core.agents.hedge.hedge_trades`). At entry
(`on_entry`) a trader's account is hedged at once, whatever the band, the same way its legs
were opened (a trade with the backstop when entries are, else a market order). Isolated
traders hold each leg in its own account and are not hedged.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import numpy as np
import simpy

from clearing.core.agents.hedge import hedge_trades
from clearing.scenario.holdings import StrategyParams
from clearing.sim.clock import Clock
from clearing.sim.exchange import Exchange
from clearing.sim.traders import open_against
from clearing.units import Int64Array


class Hedger:
    """One strategy's delta hedge over its accounts."""

    def __init__(self, env: Clock, exchange: Exchange, strategy: StrategyParams, accounts: Int64Array, counterparty: int) -> None:
        self.env = env
        self.exchange = exchange
        self.strategy = strategy
        self.accounts = np.unique(accounts)
        self.counterparty = counterparty

    def on_entry(self, accounts: list[int], _market: int, cause_seq: int) -> None:
        """Hedge the accounts of traders who just entered (those of this strategy), whatever the band.

        The traders' entry hook: `cause_seq` is their last entry fill.
        """
        mine = np.intersect1d(np.array(accounts, np.int64), self.accounts)
        for account, lots in hedge_trades(self.exchange.bus.state, mine, self.strategy.hedge_market, 0, force=True):
            if self.counterparty >= 0:
                open_against(self.exchange, self.env.now, account, self.counterparty, self.strategy.hedge_market, lots, cause_seq)
            else:
                self._order(account, lots)

    def process(self) -> Generator[simpy.Event, Any, None]:
        """Re-hedge every `hedge_interval_ns` the accounts whose delta left the band."""
        x = self.strategy
        while True:
            yield self.env.timeout(x.hedge_interval_ns)
            s = self.exchange.bus.state
            held = self.accounts[s.position[self.accounts].any(axis=1)]
            for account, lots in hedge_trades(s, held, x.hedge_market, x.delta_band_ppm):
                self._order(account, lots)

    def _order(self, account: int, lots: int) -> None:
        self.exchange.submit(self.env.now, account, self.strategy.hedge_market, 1 if lots > 0 else -1, abs(lots), "market")
