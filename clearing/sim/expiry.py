"""Expiry of a dated market: sample the underlying's index over the settlement window, then settle.

The process waits, reads the state and emits; the settlement price and each position's
amount come from `clearing.core.expiry`.
"""

from __future__ import annotations

from collections.abc import Generator
from decimal import Decimal
from typing import Any

import simpy

from clearing import events as ev
from clearing.core.expiry import option_settlement_ticks, sample_times_ns, settlement_average, settlements
from clearing.core.state.schema import Instrument
from clearing.sim.bus import EventBus
from clearing.sim.clock import Clock
from clearing.units import NS_PER_S


def expiry_process(env: Clock, bus: EventBus, market: int, step_ns: int = NS_PER_S) -> Generator[simpy.Event, Any, None]:
    """Sample the underlying's index every `step_ns` of the window, then settle `market` at its expiry."""
    s = bus.state
    contract = s.contracts[market]
    samples: list[int] = []
    for t in sample_times_ns(contract.expiry_ns, contract.settlement_window_ns, step_ns):
        if t > env.now:
            yield env.timeout(t - env.now)
        price = int(s.index_ticks[contract.underlying])
        if price > 0:
            samples.append(price)
    yield env.timeout(contract.expiry_ns - env.now)
    settle(env.now, bus, market, samples)


def settle(now_ns: int, bus: EventBus, market: int, samples: list[int]) -> None:
    """Cancel the market's resting orders, fix its settlement price and settle every open position."""
    s, emit = bus.state, bus.emit
    contract = s.contracts[market]
    for account, quoted_market in sorted(k for k, ids in s.quotes.items() if ids and k[1] == market):
        emit(ev.QuotesReplaced(ts_ns=now_ns, account=account, market=quoted_market, first_order_id=s.next_order_id,
                               **ev.QuotesReplaced.sides((), ()), reference_ticks=0, volatility_ppm=0))  # fmt: skip
    for order_id, order in sorted(s.books[market].orders.items()):
        emit(ev.OrderCancelled(ts_ns=now_ns, order_id=order_id, lots=order.lots, reason="expired"))
    underlying = settlement_average(samples)
    if contract.instrument == Instrument.OPTION:
        price = option_settlement_ticks(
            underlying, Decimal(s.markets[contract.underlying].tick_size), Decimal(contract.strike),
            Decimal(s.markets[market].tick_size), contract.option_type,
        )  # fmt: skip
    else:
        price = underlying
    settled = emit(ev.MarketSettled(ts_ns=now_ns, market=market, price_ticks=price, underlying_ticks=underlying,
                                    samples=len(samples)))  # fmt: skip
    accounts, lots, amounts = settlements(s.position[:, market], price, s.markets[market].unit_value)
    for account, n, amount in zip(accounts.tolist(), lots.tolist(), amounts.tolist(), strict=True):
        emit(ev.PositionSettled(ts_ns=now_ns, causes=(settled,), market=market, account=account, lots=n, price_ticks=price,
                                amount=amount))  # fmt: skip
