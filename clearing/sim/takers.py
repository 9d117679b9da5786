"""Noise takers and arbitrageurs: the order flow that is not the leveraged population."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import numpy as np
import simpy

from clearing.core.agents.arbitrageur import ArbitrageParams, arbitrage_order
from clearing.core.agents.noise import NoiseParams, next_order
from clearing.core.valuation import lot_value, valuation_price
from clearing.sim.bus import EventBus
from clearing.sim.causes import Latest
from clearing.sim.clock import Clock
from clearing.sim.exchange import Exchange


def noise_taker_process(
    env: Clock, exchange: Exchange, market: int, account: int, params: NoiseParams, rng: np.random.Generator
) -> Generator[simpy.Event, Any, None]:
    """Send market orders at Poisson times, sized at the current mark (index before the first)."""
    s = exchange.bus.state
    while True:
        wait_ns, side, notional = next_order(rng, params)
        yield env.timeout(wait_ns)
        if market in s.settlement_prices:  # a dated market takes no orders once it has expired
            return
        price = valuation_price(s, market)
        lots = int(notional // lot_value(s, market, price)) if price else 0
        if lots > 0:
            exchange.submit(env.now, account, market, side, lots, "market")


def arbitrageur_process(
    env: Clock,
    exchange: Exchange,
    market: int,
    account: int,
    params: ArbitrageParams,
    interval_ns: int,
    latest: Latest,
) -> Generator[simpy.Event, Any, None]:
    """Every `interval_ns`, trade the perpetual toward the index when it leaves the band."""
    bus: EventBus = exchange.bus
    s = bus.state
    unit_value = s.markets[market].unit_value
    while True:
        yield env.timeout(interval_ns)
        if market in s.settlement_prices:
            return
        book = s.books[market]
        order = arbitrage_order(
            book.best_bid(), book.best_ask(), int(s.index_ticks[market]), s.position.item(account, market), unit_value, params
        )
        if order is not None:
            side, lots, limit = order
            exchange.submit(env.now, account, market, side, lots, "ioc", limit, causes=latest.of("index", market))
