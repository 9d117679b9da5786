"""Exogenous price paths: emit a precomputed path's price whenever it moves by a tick.

The same process plays the external index of a market and the venue price of a
collateral asset; `emit_price` builds and emits the event and returns its seq.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

import simpy

from clearing import events as ev
from clearing.sim.bus import EventBus
from clearing.sim.clock import Clock
from clearing.units import Int64Array


def path_process(
    env: Clock, path_ticks: Int64Array, step_ns: int, emit_price: Callable[[int], int]
) -> Generator[simpy.Event, Any, None]:
    """Call `emit_price(price)` at each step whose price differs from the last one."""
    previous = 0
    for step, price in enumerate(path_ticks.tolist()):
        delay = step * step_ns - env.now
        if delay > 0:
            yield env.timeout(delay)
        if price != previous:
            emit_price(price)
            previous = price


def index_feed_process(
    env: Clock, bus: EventBus, market: int, path_ticks: Int64Array, step_ns: int, last_seq: dict[int, int]
) -> Generator[simpy.Event, Any, None]:
    """Emit `index_price_updated` for the market's index path; record each seq in `last_seq`."""

    def emit_price(price: int) -> int:
        last_seq[market] = bus.emit(ev.IndexPriceUpdated(ts_ns=env.now, market=market, price_ticks=price))
        return last_seq[market]

    return path_process(env, path_ticks, step_ns, emit_price)
