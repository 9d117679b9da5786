"""Exogenous price paths: emit a precomputed path's price whenever it moves by a tick.

The same process plays the external index of a market and the venue price of a
collateral asset; `emit_price` builds and emits the event and returns its seq.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

import simpy

from clearing import events as ev
from clearing.core.discovery import next_index
from clearing.core.state import ClearingState
from clearing.scenario.params import DiscoveryParams
from clearing.sim.bus import EventBus
from clearing.sim.causes import Latest
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


def discovered_index_process(
    env: Clock, bus: EventBus, market: int, path_ticks: Int64Array, step_ns: int, latest: Latest, params: DiscoveryParams
) -> Generator[simpy.Event, Any, None]:
    """Emit the market's index when the venue's own price moves it (`[price_discovery]`).

    At each step of the path (the outside fundamental F) the index I moves by (1 - w) x dF + w x dV,
    V the venue's price (its book's mid, else its last trade), and is pulled back toward F
    (`clearing.core.discovery.next_index`, decay 2^(-step / half-life)). The index is emitted, rounded to a tick, when it
    changes; a move the venue's price made cites what made that price (its latest ladders and
    fills, or its last trade). Floats in pure Python: the same on every machine.
    """
    s = bus.state
    w, source = params.weight, params.venue_price
    decay = 0.5 ** (step_ns / params.reversion_halflife_ns)
    fundamental = [float(x) for x in path_ticks.tolist()]
    level = fundamental[0]
    before_f, before_v, before_from, emitted = fundamental[0], 0, "", 0
    for step, f in enumerate(fundamental):
        delay = step * step_ns - env.now
        if delay > 0:
            yield env.timeout(delay)
        venue, read_from = _venue_price(s, market, source)
        # A move between two readings of the same price only: the mid against a last trade is no move.
        moved = venue - before_v if venue and before_v and read_from == before_from else 0
        level = next_index(level, f, before_f, moved, w, decay)
        price = max(1, round(level))
        if price != emitted:
            causes = latest.of(read_from, market) if moved else ()
            latest.index[market] = bus.emit(ev.IndexPriceUpdated(ts_ns=env.now, causes=causes, market=market, price_ticks=price))
            emitted = price
        before_f = f
        if venue:
            before_v, before_from = venue, read_from


def _venue_price(s: ClearingState, market: int, source: str) -> tuple[int, str]:
    # The venue's own price and what it was read from: its book's mid (its last trade while a side is empty), or its
    # last trade; 0 before either.
    if source == "mid":
        mid = s.books[market].mid()
        if mid:
            return mid, "mid"
    return int(s.last_trade_ticks[market]), "last"
