"""Trader entries: each trader deposits margin and opens its position at its entry time.

The liquidity provider takes the other side at the current mark (the index before the
first oracle delivery) plus half the spread against the trader. Collateral is the
initial margin notional / leverage plus the taker fee, both rounded up.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import simpy

from clearing import events as ev
from clearing.population import Population
from clearing.sim.bus import EventBus
from clearing.units import PPM, div_ceil, mul_div_ceil, mul_div_floor


def trader_entry_process(
    env: simpy.Environment,
    bus: EventBus,
    market: int,
    population: Population,
    first_account: int,
    liquidity_provider: int,
    half_spread_ppm: int,
    taker_fee_ppm: int,
) -> Generator[simpy.Event, Any, None]:
    """Open every trader's position at its entry time, in entry order."""
    s = bus.state
    unit_value = int(s.unit_value[market])
    for i, (entry_ns, side, lots, leverage) in enumerate(
        zip(
            population.entry_ns.tolist(),
            population.side.tolist(),
            population.lots.tolist(),
            population.leverage.tolist(),
            strict=True,
        )
    ):
        if entry_ns > env.now:
            yield env.timeout(entry_ns - env.now)
        reference = int(s.mark_ticks[market]) or int(s.index_ticks[market])
        if side > 0:
            price = int(mul_div_ceil(reference, PPM + half_spread_ppm, PPM))
        else:
            price = max(1, int(mul_div_floor(reference, PPM - half_spread_ppm, PPM)))
        notional = lots * price * unit_value
        fee = int(mul_div_ceil(notional, taker_fee_ppm, PPM))
        account = first_account + i
        deposit = bus.emit(ev.Deposited(ts_ns=env.now, account=account, amount=div_ceil(notional, leverage) + fee))
        buyer, seller = (account, liquidity_provider) if side > 0 else (liquidity_provider, account)
        bus.emit(
            ev.TradeExecuted(
                ts_ns=env.now, causes=(deposit,), market=market, buyer=buyer, seller=seller, lots=lots,
                price_ticks=price, buyer_fee=fee if side > 0 else 0, seller_fee=0 if side > 0 else fee,
                liquidation=False,
            )
        )  # fmt: skip
