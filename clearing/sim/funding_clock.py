"""Funding: samples the premium on a cadence and settles payments every interval."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import simpy

from clearing import events as ev
from clearing.core.book import BUY, SELL, impact_price
from clearing.core.funding import FundingParams, average_premium_ppb, funding_rate_ppb, payments, premium_ppb
from clearing.sim.bus import EventBus
from clearing.sim.clock import Clock

CHUNK = 4096  # accounts per funding_paid event


def funding_process(env: Clock, bus: EventBus, market: int, params: FundingParams) -> Generator[simpy.Event, Any, None]:
    """Sample every `sample_ns`; at every multiple of `interval_ns`, set the rate and pay it."""
    s = bus.state
    unit_value = s.markets[market].unit_value
    next_settlement = params.interval_ns
    while True:
        yield env.timeout(params.sample_ns)
        index = int(s.oracle_ticks[market]) or int(s.index_ticks[market])
        if index > 0:
            book = s.books[market]
            bid = impact_price(book, SELL, params.impact_notional_minor, unit_value)
            ask = impact_price(book, BUY, params.impact_notional_minor, unit_value)
            bus.emit(
                ev.PremiumSampled(
                    ts_ns=env.now, market=market, premium_ppb=premium_ppb(bid, ask, index), impact_bid_ticks=bid,
                    impact_ask_ticks=ask, index_ticks=index,
                )
            )  # fmt: skip
        if env.now >= next_settlement:
            next_settlement += params.interval_ns
            _settle(env.now, bus, market, params)


def _settle(now: int, bus: EventBus, market: int, params: FundingParams) -> None:
    s = bus.state
    average = average_premium_ppb(int(s.premium_weighted_sum[market]), int(s.premium_weight[market]))
    rate = funding_rate_ppb(average, params.interest_ppb, params.clamp_ppb, params.cap_ppb)
    mark = int(s.mark_ticks[market]) or int(s.index_ticks[market])
    set_seq = bus.emit(
        ev.FundingRateSet(
            ts_ns=now, market=market, rate_ppb=rate, average_premium_ppb=average, samples=int(s.premium_samples[market]),
            mark_ticks=mark,
        )
    )  # fmt: skip
    if mark <= 0:
        return
    accounts, amounts = payments(s.position[:, market], mark, s.markets[market].unit_value, rate)
    if accounts.size == 0:
        return
    accounts_list, amounts_list = accounts.tolist(), amounts.tolist()
    for start in range(0, len(accounts_list), CHUNK):
        end = start + CHUNK
        bus.emit(
            ev.FundingPaid(
                ts_ns=now, causes=(set_seq,), market=market, accounts=tuple(accounts_list[start:end]),
                amounts=tuple(amounts_list[start:end]), final=end >= len(accounts_list),
            )
        )  # fmt: skip
