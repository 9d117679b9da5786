"""Market makers: each refreshes its quote ladder on a cadence, as one event per refresh."""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from typing import Any

import simpy

from clearing import events as ev
from clearing.core.agents.market_maker import (
    Anchor,
    MakerParams,
    anchor_price,
    clip_to_book,
    ladder,
    profile_notionals,
    updated_variance,
)
from clearing.core.book import BUY, SELL, best_of_others
from clearing.sim.bus import EventBus
from clearing.sim.causes import Latest
from clearing.sim.clock import Clock
from clearing.units import SECONDS_PER_YEAR

DepthAt = Callable[[int], tuple[tuple[float, ...], tuple[float, ...]]]


def market_maker_process(
    env: Clock,
    bus: EventBus,
    market: int,
    account: int,
    params: MakerParams,
    refresh_ns: int,
    anchor: Anchor,
    latest: Latest,
    depth_at: DepthAt | None = None,
    depth_share: float = 1.0,
    option_underlying: int | None = None,
) -> Generator[simpy.Event, Any, None]:
    """Quote around the anchor price every `refresh_ns`; the anchor's latest move is the cause of each ladder.

    An option's maker (`option_underlying` set) quotes around the option's model value at
    the underlying's index (`Latest.model`, from the option pricer), with spreads that widen
    with its underlying's volatility (the variance follows the underlying's index, not the
    premium, whose own moves are many times larger); it leaves a ladder resting, instead of
    re-posting it, while it is unchanged and nothing filled against it.
    """
    s = bus.state
    causes_of = latest.readers[anchor]
    unit_value, inverse = s.markets[market].unit_value, market in s.inverse
    variance = params.calm_volatility**2 / SECONDS_PER_YEAR
    previous, previous_ns = 0, 0
    posted: tuple[object, object] = ((), ())
    if option_underlying is not None:  # an option's ladder follows its model value, made by its underlying and surface
        def option_causes(_market: int) -> tuple[int, ...]:
            return tuple(sorted({*latest.of_index(option_underlying), *latest.surfaces.get(option_underlying, ())}))

        causes_of = option_causes
    while market not in s.settlement_prices:  # a dated market stops quoting once it has expired
        if option_underlying is None:
            reference = tracked = anchor_price(
                anchor, int(s.index_ticks[market]), int(s.oracle_ticks[market]), int(s.last_trade_ticks[market])
            )
        else:
            reference, tracked = latest.model.get(market, 0), int(s.index_ticks[option_underlying])
        if reference > 0 and tracked > 0:
            variance = updated_variance(variance, previous, tracked, env.now - previous_ns, params.halflife_ns)
            previous, previous_ns = tracked, env.now
            notionals = None
            if depth_at is not None:
                bid_depth, ask_depth = depth_at(env.now)
                notionals = (profile_notionals(bid_depth, params, depth_share), profile_notionals(ask_depth, params, depth_share))
            bids, asks = ladder(reference, variance, s.position.item(account, market), params, unit_value, notionals, inverse)
            book = s.books[market]
            bids, asks = clip_to_book(bids, asks, best_of_others(book, BUY, account), best_of_others(book, SELL, account))
            if option_underlying is not None:  # the perpetuals' makers re-post every refresh (their log is pinned)
                if (bids, asks) == posted and not latest.fills.get(market, {}).get(account):
                    yield env.timeout(refresh_ns)
                    continue
                posted = (bids, asks)
            quoted = bus.emit(
                ev.QuotesReplaced(
                    ts_ns=env.now, causes=causes_of(market), account=account,
                    market=market, first_order_id=s.next_order_id, **ev.QuotesReplaced.sides(bids, asks),
                    reference_ticks=reference,
                    volatility_ppm=round(math.sqrt(max(variance, 0.0) * SECONDS_PER_YEAR) * 1e6),
                )
            )  # fmt: skip
            latest.quoted(market, account, quoted)
        yield env.timeout(refresh_ns)

