"""Dynamic margin: each market's rates follow its realised volatility and open interest (`[dynamic_margin]`).

One process per market that is not an option. Every interval it updates the EWMA of the
mark's squared log returns (seeded at the reference volatility, so the multiplier starts at
1), reads the open interest's notional, asks `clearing.core.dynamic_margin` for the next
multiplier and, when the scaled rates differ from those in force, emits `margin_rates_set`.
The event carries the decision; replay applies it without recomputing the volatility.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from typing import Any

import simpy

from clearing import events as ev
from clearing.core.dynamic_margin import PPM, annualised, ewma_update, next_multiplier_ppm, scaled_rates
from clearing.core.valuation import trade_notional, valuation_price
from clearing.sim.bus import EventBus
from clearing.sim.clock import Clock
from clearing.sim.live import Live

NS_PER_YEAR = 365 * 86_400 * 10**9


def dynamic_margin_process(env: Clock, bus: EventBus, market: int, live: Live) -> Generator[simpy.Event, Any, None]:
    """Every interval, move `market`'s bracket rates by the dynamic-margin rule (while `live.params.dynamic` is set)."""
    s = bus.state
    listing = s.markets[market]
    multiplier, rates = PPM, tuple(listing.bracket_rates_ppm)
    variance, last_price, last_ns = -1.0, 0, 0
    while True:
        params = live.params.dynamic
        if params is None or market in s.settlement_prices:
            return
        yield env.timeout(params.interval_ns)
        price = valuation_price(s, market)
        if price <= 0:
            continue
        if variance < 0:
            variance = params.reference_vol**2 / NS_PER_YEAR
        elif last_price > 0:
            variance = ewma_update(variance, math.log(price / last_price), env.now - last_ns, params.halflife_ns)
        last_price, last_ns = price, env.now
        column = s.position[:, market]
        open_interest = trade_notional(s, market, int(column[column > 0].sum()), price)
        vol = annualised(variance)
        multiplier = next_multiplier_ppm(multiplier, vol, open_interest, params)
        new = scaled_rates(tuple(listing.bracket_floors), tuple(listing.bracket_rates_ppm), multiplier)
        if new != rates:
            rates = new
            bus.emit(
                ev.MarginRatesSet(
                    ts_ns=env.now, market=market, multiplier_ppm=multiplier, bracket_rates_ppm=new,
                    vol_ppm=round(vol * PPM), open_interest=open_interest,
                )
            )  # fmt: skip
