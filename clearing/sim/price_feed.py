"""The exogenous index: emits the precomputed price path whenever it moves by a tick."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import simpy

from clearing import events as ev
from clearing.sim.bus import EventBus
from clearing.units import Int64Array


def index_feed_process(
    env: simpy.Environment, bus: EventBus, market: int, path_ticks: Int64Array, step_ns: int, last_seq: dict[int, int]
) -> Generator[simpy.Event, Any, None]:
    """Emit `index_price_updated` at each step whose price differs from the last one."""
    previous = 0
    for step, price in enumerate(path_ticks.tolist()):
        delay = step * step_ns - env.now
        if delay > 0:
            yield env.timeout(delay)
        if price != previous:
            last_seq[market] = bus.emit(ev.IndexPriceUpdated(ts_ns=env.now, market=market, price_ticks=price))
            previous = price
