"""Collateral assets: each one's venue price path and its own oracle (push or cadence).

The oracle publishes by the same rules as a market's (`clearing.core.oracle.publication`:
push on deviation or heartbeat, cadence every interval) and delivers after a fixed latency.

A delivery sets the price margin uses for the asset and re-checks every account, so a
depeg of a collateral asset can liquidate accounts whose positions did not move.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

import simpy

from clearing import events as ev
from clearing.core.oracle import CollateralOracleParams, publication_policy
from clearing.sim.bus import EventBus
from clearing.sim.clock import Clock
from clearing.sim.price_feed import path_process
from clearing.units import Int64Array


def collateral_price_process(
    env: Clock, bus: EventBus, asset: int, path_ticks: Int64Array, step_ns: int, latest: dict[int, int]
) -> Generator[simpy.Event, Any, None]:
    """Emit `collateral_price_updated` for the asset's venue path; record each seq in `latest`."""

    def emit_price(price: int) -> int:
        latest[asset] = bus.emit(ev.CollateralPriceUpdated(ts_ns=env.now, asset=asset, price_ticks=price))
        return latest[asset]

    return path_process(env, path_ticks, step_ns, emit_price)


def collateral_oracle_process(
    env: Clock,
    bus: EventBus,
    asset: int,
    params: CollateralOracleParams,
    latest: dict[int, int],
    on_price: Callable[[int, int], None],
) -> Generator[simpy.Event, Any, None]:
    """Read the venue price every interval; publish by the policy's rule (push or cadence); deliver after the latency."""
    s = bus.state
    policy = publication_policy(params.policy)
    while True:
        price = int(s.asset_venue_ticks[asset])
        if price > 0:
            reason = policy.reason(
                int(s.asset_published_ticks[asset]), int(s.asset_published_ns[asset]), price, env.now,
                params.deviation_ppm, params.heartbeat_ns,
            )  # fmt: skip
            if reason is not None:
                causes = (latest[asset],) if asset in latest else ()
                published = bus.emit(
                    ev.CollateralPricePublished(
                        ts_ns=env.now, causes=causes, asset=asset, price_ticks=price, ts_source_ns=env.now, reason=reason
                    )
                )
                env.process(_deliver(env, bus, asset, price, env.now, published, params.latency_ns, on_price))
        yield env.timeout(params.interval_ns)


def _deliver(
    env: Clock, bus: EventBus, asset: int, price: int, published_ns: int, published: int, latency_ns: int,
    on_price: Callable[[int, int], None],
) -> Generator[simpy.Event, Any, None]:  # fmt: skip
    if latency_ns:
        yield env.timeout(latency_ns)
    seq = bus.emit(
        ev.CollateralPriceDelivered(
            ts_ns=env.now, causes=(published,), asset=asset, price_ticks=price, ts_source_ns=published_ns,
            ts_published_ns=published_ns,
        )
    )  # fmt: skip
    on_price(asset, seq)
