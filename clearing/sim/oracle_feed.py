"""The push oracle: observes its source on a cadence, publishes by rule, delivers after latency.

The source is the external index, or the perpetual's own book ("mid") or last trade
("last"). Publication follows `clearing.oracle.publication_reason`; each publication
becomes visible `latency_ns` later as an `oracle_price_delivered`. With the "oracle" mark
method the delivery also sets the mark price and triggers the margin check.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any, NamedTuple

import simpy

from clearing import events as ev
from clearing.oracle import publication_reason
from clearing.sim.bus import EventBus
from clearing.sim.causes import Latest


class OracleParams(NamedTuple):
    """What the oracle watches and how it publishes (times in ns, deviation in ppm)."""

    source: str
    interval_ns: int
    deviation_ppm: int
    heartbeat_ns: int
    latency_ns: int
    sets_mark: bool


def observe(state: Any, market: int, source: str) -> int:
    """Return the price the oracle sees now (0 when its source has none yet)."""
    if source == "mid":
        return state.books[market].mid() or int(state.last_trade_ticks[market])
    if source == "last":
        return int(state.last_trade_ticks[market])
    return int(state.index_ticks[market])


def oracle_process(
    env: simpy.Environment,
    bus: EventBus,
    market: int,
    params: OracleParams,
    latest: Latest,
    on_mark: Callable[[int, int], None],
) -> Generator[simpy.Event, Any, None]:
    """Observe every interval; publish when the rule says so; deliver after the latency."""
    state = bus.state
    while True:
        price = observe(state, market, params.source)
        if price > 0:
            reason = publication_reason(
                int(state.published_ticks[market]), int(state.published_ns[market]), price, env.now,
                params.deviation_ppm, params.heartbeat_ns,
            )  # fmt: skip
            if reason is not None:
                published = bus.emit(
                    ev.OraclePricePublished(
                        ts_ns=env.now, causes=latest.of(params.source, market), market=market, price_ticks=price,
                        ts_source_ns=env.now, reason=reason,
                    )
                )  # fmt: skip
                env.process(_deliver(env, bus, market, price, env.now, published, params, latest, on_mark))
        yield env.timeout(params.interval_ns)


def _deliver(
    env: simpy.Environment,
    bus: EventBus,
    market: int,
    price: int,
    published_ns: int,
    published_seq: int,
    params: OracleParams,
    latest: Latest,
    on_mark: Callable[[int, int], None],
) -> Generator[simpy.Event, Any, None]:
    if params.latency_ns:
        yield env.timeout(params.latency_ns)
    delivered = bus.emit(
        ev.OraclePriceDelivered(
            ts_ns=env.now, causes=(published_seq,), market=market, price_ticks=price,
            ts_source_ns=published_ns, ts_published_ns=published_ns,
        )
    )  # fmt: skip
    latest.oracle[market] = delivered
    if params.sets_mark:
        mark = bus.emit(
            ev.MarkPriceUpdated(
                ts_ns=env.now, causes=(delivered,), market=market, price_ticks=price, index_ticks=price, method="oracle"
            )
        )
        on_mark(market, mark)
