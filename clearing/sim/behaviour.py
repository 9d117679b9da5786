"""How the traders' positions live after entry: stop-losses, and re-entry after a liquidation or a stop.

Each trader's draws come from the run's `population/behaviour` stream in the order the run
meets them (entries, closes), so a seed fixes them. A stop is kept in one heap per side of the
primary market: the longs' highest stop first, the shorts' lowest first; each mark pops the
stops it reaches (`on_mark`, called before the margin monitor's check at the same mark). A
trader's stop is armed at each entry (a new generation: an older heap entry is ignored), from
its average entry price (entry cost / lots). A stop sends one reduce-only market order for the
whole position, citing the mark. A close by the stop or the liquidation engine draws a
re-entry, which after its delay opens the trader again (`clearing.sim.traders.enter`),
citing the close.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Generator
from typing import Any

import numpy as np
import simpy

from clearing import events as ev
from clearing.scenario.holdings import BehaviourParams
from clearing.sim.traders import Desk, enter


class Behaviour:
    """The population's stop-losses and re-entries on its one market."""

    def __init__(self, desk: Desk, params: BehaviourParams, rng: np.random.Generator) -> None:
        self.desk = desk
        self.params = params
        self.rng = rng
        leg = desk.legs[0]
        self.market = leg.market
        self.trader_of = {int(account): i for i, account in enumerate(leg.accounts.tolist())}
        self.generation = [0] * len(leg.accounts)
        self.longs: list[tuple[int, int, int]] = []  # (-stop ticks, account, generation)
        self.shorts: list[tuple[int, int, int]] = []  # (stop ticks, account, generation)

    def after_entry(self, accounts: list[int], market: int, fill_seq: int) -> None:
        """Arm the stop of the trader who just entered (drawn: whether it uses one, and how far)."""
        p, s = self.params, self.desk.exchange.bus.state
        for account in accounts:
            i = self.trader_of[account]
            self.generation[i] += 1
            if not p.stop_fraction or float(self.rng.random()) >= p.stop_fraction:
                continue
            held = s.position.item(account, self.market)
            if not held:
                continue
            distance = min(p.stop_distance * math.exp(p.stop_distance_sigma * float(self.rng.standard_normal())),
                           p.stop_distance_max)  # fmt: skip
            entry = abs(s.entry_cost.item(account, self.market)) / (abs(held) * s.markets[self.market].unit_value)
            stop = math.floor(entry * (1 - distance)) if held > 0 else math.ceil(entry * (1 + distance))
            mark = int(s.mark_ticks[self.market]) or int(s.index_ticks[self.market])
            if (mark <= stop) if held > 0 else (mark >= stop):
                continue  # a position standing at the start whose stop its pre-history crossed holds none (it survived)
            self._arm(stop if held < 0 else -stop, account, self.generation[i], held > 0)

    def _arm(self, key: int, account: int, generation: int, long: bool) -> None:
        heapq.heappush(self.longs if long else self.shorts, (key, account, generation))

    def on_mark(self, market: int, mark_seq: int) -> None:
        """Fire every stop the market's new mark reaches: longs at or above it, shorts at or below, in price order."""
        if market != self.market:
            return
        mark = int(self.desk.exchange.bus.state.mark_ticks[market])
        fired: list[tuple[int, int, int]] = []  # (stop ticks, account, generation)
        while self.longs and -self.longs[0][0] >= mark:
            stop, account, generation = heapq.heappop(self.longs)
            fired.append((-stop, account, generation))
        while self.shorts and self.shorts[0][0] <= mark:
            fired.append(heapq.heappop(self.shorts))
        for stop, account, generation in fired:
            self._stop(stop, account, generation, mark_seq)

    def _stop(self, stop: int, account: int, generation: int, mark_seq: int) -> None:
        desk = self.desk
        s = desk.exchange.bus.state
        held = s.position.item(account, self.market)
        if generation != self.generation[self.trader_of[account]] or not held:
            return
        if s.liquidating[account]:  # kept for when a cancelled liquidation leaves the position open
            self._arm(-stop if held > 0 else stop, account, generation, held > 0)
            return
        now = desk.env.now
        seq = desk.exchange.bus.emit(ev.StopTriggered(ts_ns=now, causes=(mark_seq,), account=account, market=self.market,
                                                      stop_ticks=stop))  # fmt: skip
        outcome = desk.exchange.submit(now, account, self.market, -1 if held > 0 else 1, abs(held), "market",
                                       reduce_only=True, causes=(seq,))  # fmt: skip
        # A stop fires once: what a thin book did not fill stays open without a stop (as a venue's stop-market
        # order's unfilled rest is cancelled); re-arming it would fire it again at every mark.
        if outcome.trade_seqs and not s.position.item(account, self.market):
            self.closed(account, outcome.trade_seqs[-1])

    def closed(self, account: int, seq: int) -> None:
        """A trader's position was closed out (by its stop, or its liquidation: event `seq`): draw its re-entry."""
        i = self.trader_of.get(account)
        p = self.params
        if i is None or not p.reentry_fraction or float(self.rng.random()) >= p.reentry_fraction:
            return
        delay = round(float(self.rng.exponential(p.reentry_delay_mean_ns))) if p.reentry_delay_mean_ns else 0
        self.desk.env.process(self._reenter(i, account, delay, seq))

    def _reenter(self, i: int, account: int, delay_ns: int, seq: int) -> Generator[simpy.Event, Any, None]:
        yield self.desk.env.timeout(delay_ns)
        s = self.desk.exchange.bus.state
        if s.liquidating[account] or s.position.item(account, self.market):
            return
        again = self.desk.exchange.bus.emit(ev.TraderReentered(ts_ns=self.desk.env.now, causes=(seq,), account=account,
                                                               market=self.market))  # fmt: skip
        enter(self.desk, i, causes=(again,), reentry=True)
