"""The limit order book of one market and its matching rule (price-time priority).

`Book` is state: only `clearing.state.apply` mutates it (through `add`, `fill` and
`remove`), so a replay rebuilds it exactly. `match` is the pure matching rule: it reads a
book and an incoming order and returns what would happen, in order, without changing
anything; the shell turns that into events. Prices are ticks, sizes lots; sides are +1
(buy, bid) and -1 (sell, ask).
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Iterator
from typing import NamedTuple

BUY = 1
SELL = -1
STP_MODES = ("expire_maker", "expire_taker", "expire_both")


class RestingOrder:
    """An order in the book; `lots` is what is left of it."""

    __slots__ = ("account", "lots", "order_id", "price", "side")

    def __init__(self, order_id: int, account: int, side: int, price: int, lots: int) -> None:
        self.order_id = order_id
        self.account = account
        self.side = side
        self.price = price
        self.lots = lots


class Book:
    """Bids and asks as price levels of FIFO queues, plus an index by order id."""

    def __init__(self) -> None:
        self.bid_prices: list[int] = []  # ascending; best bid is the last
        self.ask_prices: list[int] = []  # ascending; best ask is the first
        self.bid_levels: dict[int, deque[RestingOrder]] = {}
        self.ask_levels: dict[int, deque[RestingOrder]] = {}
        self.orders: dict[int, RestingOrder] = {}

    def best_bid(self) -> int:
        """Return the best bid in ticks, 0 when there is none."""
        return self.bid_prices[-1] if self.bid_prices else 0

    def best_ask(self) -> int:
        """Return the best ask in ticks, 0 when there is none."""
        return self.ask_prices[0] if self.ask_prices else 0

    def mid(self) -> int:
        """Return floor((best bid + best ask) / 2) in ticks, or 0 unless both sides quote."""
        bid, ask = self.best_bid(), self.best_ask()
        return (bid + ask) // 2 if bid and ask else 0

    def _side(self, side: int) -> tuple[list[int], dict[int, deque[RestingOrder]]]:
        return (self.bid_prices, self.bid_levels) if side == BUY else (self.ask_prices, self.ask_levels)

    def add(self, order: RestingOrder) -> None:
        """Queue `order` at the back of its price level."""
        prices, levels = self._side(order.side)
        level = levels.get(order.price)
        if level is None:
            bisect.insort(prices, order.price)
            level = levels[order.price] = deque()
        level.append(order)
        self.orders[order.order_id] = order

    def remove(self, order_id: int) -> RestingOrder:
        """Take an order out of the book and return it."""
        order = self.orders.pop(order_id)
        prices, levels = self._side(order.side)
        level = levels[order.price]
        if level[0] is order:
            level.popleft()
        else:
            level.remove(order)
        if not level:
            del levels[order.price]
            del prices[bisect.bisect_left(prices, order.price)]
        return order

    def fill(self, order_id: int, lots: int) -> None:
        """Reduce a resting order by `lots`, removing it when nothing is left."""
        order = self.orders[order_id]
        if lots > order.lots:
            raise ValueError(f"expected at most {order.lots} lots on order {order_id}, was {lots}")
        order.lots -= lots
        if order.lots == 0:
            self.remove(order_id)

    def walk(self, side: int) -> Iterator[RestingOrder]:
        """Yield the resting orders of `side` from the best price, in time priority."""
        prices, levels = self._side(side)
        ordered = reversed(prices) if side == BUY else iter(prices)
        for price in ordered:
            yield from levels[price]

    def levels(self, side: int, count: int) -> list[tuple[int, int]]:
        """Return up to `count` (price, total lots) levels of `side`, best first."""
        prices, levels = self._side(side)
        ordered = prices[::-1] if side == BUY else prices
        return [(p, sum(o.lots for o in levels[p])) for p in ordered[:count]]

    def canonical(self) -> tuple[tuple[int, int, int, int, int], ...]:
        """Return every resting order as (side, price, order_id, account, lots) in priority order."""
        return tuple((o.side, o.price, o.order_id, o.account, o.lots) for side in (BUY, SELL) for o in self.walk(side))


class Fill(NamedTuple):
    """One match of the incoming order against a resting order."""

    maker_order: int
    maker_account: int
    price: int
    lots: int


class SelfTradeCancel(NamedTuple):
    """A resting order of the taker's own account expired by self-trade prevention."""

    maker_order: int
    lots: int


class MatchResult(NamedTuple):
    """What an incoming order does, in order: fills and self-trade cancels, then the rest."""

    steps: tuple[Fill | SelfTradeCancel, ...]
    filled: int
    remaining: int
    taker_expired: bool


def crosses(side: int, limit_ticks: int | None, resting_ticks: int) -> bool:
    """Return whether an order of `side` with limit `limit_ticks` (None: market) trades at `resting_ticks`."""
    if limit_ticks is None:
        return True
    return resting_ticks <= limit_ticks if side == BUY else resting_ticks >= limit_ticks


def match(book: Book, account: int, side: int, lots: int, limit_ticks: int | None, stp: str = "expire_maker") -> MatchResult:
    """Match an incoming order against `book` without changing it.

    Walks the opposite side from the best price in time priority while the price is
    acceptable (at or better than `limit_ticks`; any price when None), filling
    min(remaining, resting) at the resting order's price. A resting order of the same
    account triggers self-trade prevention: `expire_maker` cancels it and goes on,
    `expire_taker` stops (the rest of the incoming order expires), `expire_both` does both.
    """
    if stp not in STP_MODES:
        raise ValueError(f"expected an STP mode in {STP_MODES}, was {stp!r}")
    steps: list[Fill | SelfTradeCancel] = []
    remaining = lots
    for order in book.walk(-side):
        if remaining == 0 or not crosses(side, limit_ticks, order.price):
            break
        if order.account == account:
            if stp != "expire_taker":
                steps.append(SelfTradeCancel(order.order_id, order.lots))
            if stp == "expire_maker":
                continue
            return MatchResult(tuple(steps), lots - remaining, remaining, True)
        size = min(remaining, order.lots)
        steps.append(Fill(order.order_id, order.account, order.price, size))
        remaining -= size
    return MatchResult(tuple(steps), lots - remaining, remaining, False)


def impact_price(book: Book, side: int, notional_minor: int, unit_value: int) -> int:
    """Return the average price (ticks) a market order of `side` for `notional_minor` would fill at.

    Walks the opposite side until the cumulative notional sum(price x lots x unit_value)
    reaches `notional_minor`; the average is total value / lots rounded against the taker
    (up for a buy, down for a sell). Returns 0 when the book is too thin to fill it.
    """
    value = 0
    filled = 0
    for order in book.walk(-side):
        need = notional_minor - value
        take = min(order.lots, -(-need // (order.price * unit_value)))
        value += take * order.price * unit_value
        filled += take
        if value >= notional_minor:
            per_lot = value // unit_value
            return -(-per_lot // filled) if side == BUY else per_lot // filled
    return 0


def best_of_others(book: Book, side: int, account: int) -> int:
    """Return the best price on `side` among orders not of `account` (0 when none)."""
    for order in book.walk(side):
        if order.account != account:
            return order.price
    return 0
