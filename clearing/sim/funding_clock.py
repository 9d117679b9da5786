"""Funding: samples the premium on a cadence and settles payments every interval (in coin on an inverse perpetual)."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import simpy

from clearing import events as ev
from clearing.core.book import BUY, SELL, Book, impact_price
from clearing.core.funding import (
    FundingParams,
    average_premium_ppb,
    clamp_ppb,
    mean_premium_ppb,
    mid_premium_ppb,
    payment_rate_ppb,
    payments,
    period_rate_ppb,
    premium_ppb,
)
from clearing.core.inverse import funding_payments
from clearing.sim.bus import EventBus
from clearing.sim.clock import Clock

CHUNK = 4096  # accounts per funding_paid event


def funding_process(env: Clock, bus: EventBus, market: int, params: FundingParams) -> Generator[simpy.Event, Any, None]:
    """Sample every `sample_ns`; at every multiple of `interval_ns`, set the rate and pay its share of it.

    `params` are the market's (`FundingParams.for_market`). The plain sum and count of the
    interval's samples (for the "mean" averages) are kept here; they are the `premium_sampled`
    rows since the last `funding_rate_set`, so the log holds everything the rate came from.
    """
    s = bus.state
    unit_value = s.markets[market].unit_value
    next_settlement = params.interval_ns
    premium_of = mid_premium_ppb if params.premium == "impact_mid" else premium_ppb
    total = count = 0
    while True:
        yield env.timeout(params.sample_ns)
        index = int(s.oracle_ticks[market]) or int(s.index_ticks[market])
        if index > 0:
            book = s.books[market]
            if market in s.inverse:  # the impact notional in contracts, each worth its unit value
                contracts = max(1, -(-params.impact_notional_minor // unit_value))
                bid, ask = impact_price_of_lots(book, SELL, contracts), impact_price_of_lots(book, BUY, contracts)
            else:
                bid = impact_price(book, SELL, params.impact_notional_minor, unit_value)
                ask = impact_price(book, BUY, params.impact_notional_minor, unit_value)
            premium = clamp_ppb(premium_of(bid, ask, index), params.sample_clamp_ppb)
            total, count = total + premium, count + 1
            bus.emit(
                ev.PremiumSampled(
                    ts_ns=env.now, market=market, premium_ppb=premium, impact_bid_ticks=bid, impact_ask_ticks=ask,
                    index_ticks=index,
                )
            )  # fmt: skip
        if env.now >= next_settlement:
            next_settlement += params.interval_ns
            _settle(env.now, bus, market, params, total, count)
            total = count = 0


def _average(s: Any, market: int, params: FundingParams, total: int, count: int) -> int:
    # The interval's average premium, as the venue takes it (clearing.core.funding).
    if params.average == "weighted":
        return average_premium_ppb(int(s.premium_weighted_sum[market]), int(s.premium_weight[market]))
    padded = params.interval_ns // params.sample_ns if params.average == "padded_mean" else 0
    return mean_premium_ppb(total, count, padded)


def _settle(now: int, bus: EventBus, market: int, params: FundingParams, total: int, count: int) -> None:
    s = bus.state
    average = _average(s, market, params, total, count)
    period_rate = period_rate_ppb(average, params.interest_ppb, params.clamp_ppb, params.cap_ppb, params.interest)
    rate = payment_rate_ppb(period_rate, params.interval_ns, params.rate_period_ns or params.interval_ns)
    # The price the positions are valued at: the mark (Binance, BitMEX) or the oracle (Hyperliquid, dYdX, Drift).
    held = s.oracle_ticks if params.pays_on == "oracle" else s.mark_ticks
    mark = int(held[market]) or int(s.index_ticks[market])
    set_seq = bus.emit(
        ev.FundingRateSet(
            ts_ns=now, market=market, rate_ppb=rate, average_premium_ppb=average, samples=int(s.premium_samples[market]),
            mark_ticks=mark,
        )
    )  # fmt: skip
    if mark <= 0:
        return
    terms = s.inverse.get(market)
    if terms is None:
        accounts, amounts = payments(s.position[:, market], mark, s.markets[market].unit_value, rate)
    else:  # in the settlement asset, on the coin value at the mark (Binance COIN-M)
        accounts, amounts = funding_payments(s.position[:, market], mark, terms.k, rate)
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


def impact_price_of_lots(book: Book, side: int, lots: int) -> int:
    """Return the average price (ticks) a market order of `side` for `lots` would fill at, 0 when too thin.

    An inverse perpetual's impact notional is a number of contracts (each worth its
    contract value at any price); the average is sum(price x lots) / lots, rounded against
    the taker (up for a buy, down for a sell).
    """
    paid = filled = 0
    for order in book.walk(-side):
        take = min(order.lots, lots - filled)
        paid += take * order.price
        filled += take
        if filled >= lots:
            return -(-paid // filled) if side == BUY else paid // filled
    return 0
