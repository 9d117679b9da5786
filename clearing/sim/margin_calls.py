"""Margin calls: traders between their maintenance and initial requirement are called, and some answer.

Every `check_interval_ns` the traders holding positions (not being liquidated) are measured
(`clearing.sim.risk.Risk.measure`, the monitor's requirements); each whose equity is at or
above its maintenance but below its initial requirement (`clearing.core.risk.
initial_requirements`) and was not called within `repeat_ns` gets a `margin_called`, in
account order. Its response is drawn then from the run's own stream (top up, reduce or
nothing, by the scenario's shares) with an exponential reaction delay, and recorded in the
event. After the delay a topping-up trader deposits what brings it back to its initial
requirement (`margin_topped_up`), within outside funds fixed at its first call; a reducing
trader closes part of every position by reduce-only market orders. Both cite the call.
Below maintenance the margin monitor and the liquidators act as they do without calls.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import numpy as np
import simpy

from clearing import events as ev
from clearing.core.risk import initial_requirements
from clearing.scenario.holdings import MarginCallParams
from clearing.sim.clock import Clock
from clearing.sim.exchange import Exchange
from clearing.sim.risk import Risk
from clearing.units import PPM, Int64Array, div_ceil


class MarginCaller:
    """Calls the traders below their initial requirement and plays their answers."""

    def __init__(
        self, env: Clock, exchange: Exchange, risk: Risk, traders: Int64Array, params: MarginCallParams,
        rng: np.random.Generator,
    ) -> None:  # fmt: skip
        self.env = env
        self.exchange = exchange
        self.risk = risk
        self.traders = traders
        self.params = params
        self.rng = rng
        self.funds: dict[int, int] = {}  # each called trader's outside funds left, quote minor units

    def process(self) -> Generator[simpy.Event, Any, None]:
        """Check every `check_interval_ns` and call who is between maintenance and initial."""
        p, s = self.params, self.exchange.bus.state
        while True:
            yield self.env.timeout(p.check_interval_ns)
            rows = self.traders[s.position[self.traders].any(axis=1) & ~s.liquidating[self.traders]]
            if not rows.size:
                continue
            equity, maintenance = self.risk.measure(rows)
            initial = initial_requirements(s, rows, maintenance, p.call_level_ppm)
            below = (equity >= maintenance) & (equity < initial)
            for account, e, m, i in zip(rows[below].tolist(), equity[below].tolist(), maintenance[below].tolist(),
                                        initial[below].tolist(), strict=True):  # fmt: skip
                last = s.margin_calls.get(account)
                if last is not None and self.env.now - last < p.repeat_ns:
                    continue
                self._call(account, e, m, i)

    def _call(self, account: int, equity: int, maintenance: int, initial: int) -> None:
        p = self.params
        draw = float(self.rng.random())
        response = "top_up" if draw < p.top_up_share else "reduce" if draw < p.top_up_share + p.reduce_share else "none"
        delay = round(float(self.rng.exponential(p.reaction_mean_ns))) if p.reaction_mean_ns else 0
        self.funds.setdefault(account, int(p.outside_funds * initial))
        seq = self.exchange.bus.emit(ev.MarginCalled(
            ts_ns=self.env.now, account=account, equity=equity, requirement=maintenance, initial=initial,
            response=response, delay_ns=delay,
        ))  # fmt: skip
        if response != "none":
            self.env.process(self._answer(account, response, delay, seq))

    def _answer(self, account: int, response: str, delay: int, call_seq: int) -> Generator[simpy.Event, Any, None]:
        yield self.env.timeout(delay)
        s = self.exchange.bus.state
        if s.liquidating[account] or not s.position[account].any():
            return
        if response == "top_up":
            rows = np.array([account], np.int64)
            equity, maintenance = self.risk.measure(rows)
            initial = int(initial_requirements(s, rows, maintenance, self.params.call_level_ppm)[0])
            amount = min(initial - int(equity[0]), self.funds[account])
            if amount > 0:
                self.funds[account] -= amount
                self.exchange.bus.emit(ev.MarginToppedUp(ts_ns=self.env.now, causes=(call_seq,), account=account, amount=amount))
            return
        for market in np.flatnonzero(s.position[account]).tolist():
            held = s.position.item(account, market)
            lots = div_ceil(abs(held) * self.params.reduce_fraction_ppm, PPM)
            self.exchange.submit(self.env.now, account, market, -1 if held > 0 else 1, lots, "market", reduce_only=True,
                                 causes=(call_seq,))  # fmt: skip
