"""The push oracle: observes the index on a cadence, publishes by rule, delivers after latency.

Publication follows `clearing.oracle.publication_reason`; each publication becomes
visible `latency_ns` later as an `oracle_price_delivered`, which sets the mark price and
triggers the margin check.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

import simpy

from clearing import events as ev
from clearing.oracle import publication_reason
from clearing.sim.bus import EventBus


def oracle_process(
    env: simpy.Environment,
    bus: EventBus,
    market: int,
    interval_ns: int,
    deviation_ppm: int,
    heartbeat_ns: int,
    latency_ns: int,
    index_seq: dict[int, int],
    on_mark: Callable[[int, int], None],
) -> Generator[simpy.Event, Any, None]:
    """Observe every `interval_ns`; publish when the rule says so; deliver after latency."""
    state = bus.state
    while True:
        price = int(state.index_ticks[market])
        if price > 0:
            reason = publication_reason(
                int(state.published_ticks[market]), int(state.published_ns[market]), price, env.now,
                deviation_ppm, heartbeat_ns,
            )  # fmt: skip
            if reason is not None:
                cause = (index_seq[market],) if market in index_seq else ()
                published = bus.emit(
                    ev.OraclePricePublished(
                        ts_ns=env.now, causes=cause, market=market, price_ticks=price, ts_source_ns=env.now, reason=reason
                    )
                )
                env.process(_deliver(env, bus, market, price, env.now, published, latency_ns, on_mark))
        yield env.timeout(interval_ns)


def _deliver(
    env: simpy.Environment,
    bus: EventBus,
    market: int,
    price: int,
    published_ns: int,
    published_seq: int,
    latency_ns: int,
    on_mark: Callable[[int, int], None],
) -> Generator[simpy.Event, Any, None]:
    if latency_ns:
        yield env.timeout(latency_ns)
    delivered = bus.emit(
        ev.OraclePriceDelivered(
            ts_ns=env.now, causes=(published_seq,), market=market, price_ticks=price,
            ts_source_ns=published_ns, ts_published_ns=published_ns,
        )
    )  # fmt: skip
    mark = bus.emit(ev.MarkPriceUpdated(ts_ns=env.now, causes=(delivered,), market=market, price_ticks=price))
    on_mark(market, mark)
