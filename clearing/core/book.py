"""The limit order book of one market and its matching rule (price-time priority).

`Book` is state: only `clearing.core.state.apply` mutates it (through `add`, `add_ladder`,
`fill`, `remove` and `remove_range`), so a replay rebuilds it exactly. `match` is the pure
matching rule: it reads a book and an incoming order and returns what would happen, in
order, without changing anything; the shell turns that into events. Prices are ticks, sizes
lots; sides are +1 (buy, bid) and -1 (sell, ask).

Layout (an implementation detail; `walk` and `canonical` give the one order that counts).
A single order (`add`) joins a price level, a FIFO queue, of its side. A market maker's
ladder (`add_ladder`) is kept as one block per side: its prices (strictly monotonic, best
first), its lots (0 once an order is filled or removed) and the id of its first order, so
re-quoting a ladder of n levels costs a few list copies instead of n level updates. Every
addition takes the next value of a counter (`seq`); price-time priority is best price
first, then smallest `seq` (the order of arrival), which `walk` yields by merging the
levels with the blocks.
"""

from __future__ import annotations

import bisect
import heapq
from collections import deque
from collections.abc import Iterator
from typing import Any, NamedTuple

import msgspec

BUY = 1
SELL = -1
STP_MODES = ("expire_maker", "expire_taker", "expire_both")


class RestingOrder(msgspec.Struct, gc=False):
    """An order in the book; `lots` is what is left of it.

    An order of a ladder block is returned as a snapshot: change it through the `Book`.
    """

    order_id: int
    account: int
    side: int
    price: int
    lots: int
    seq: int = 0  # arrival in the book (set by `Book.add`), the tie-break within a price


class Ladder:
    """One side of a market maker's ladder: orders first_id, first_id + 1, ... best first."""

    __slots__ = ("account", "end", "first_id", "head", "live", "lots", "prices", "seq", "side")

    def __init__(
        self, first_id: int = 0, account: int = 0, side: int = 0, prices: list[int] | None = None, lots: list[int] | None = None,
        seq: int = 0,
    ) -> None:  # the defaults make an empty ladder: a snapshot's, before its attributes are set (the fast build needs them)
        prices, lots = prices or [], lots or []
        self.first_id = first_id
        self.end = first_id + len(prices)
        self.account = account
        self.side = side
        self.prices = prices
        self.lots = lots
        self.seq = seq
        self.head = 0  # index of the best live order
        self.live = len(prices)

    def order(self, i: int) -> RestingOrder:
        return RestingOrder(self.first_id + i, self.account, self.side, self.prices[i], self.lots[i], self.seq)

    def orders(self) -> Iterator[RestingOrder]:
        lots = self.lots
        for i in range(self.head, len(lots)):
            if lots[i]:
                yield self.order(i)


class Book:
    """Bids and asks: price levels of FIFO queues for single orders, plus ladder blocks."""

    def __init__(self) -> None:
        self.bid_prices: list[int] = []  # levels of single orders, ascending; best bid is the last
        self.ask_prices: list[int] = []  # ascending; best ask is the first
        self.bid_levels: dict[int, deque[RestingOrder]] = {}
        self.ask_levels: dict[int, deque[RestingOrder]] = {}
        self.singles: dict[int, RestingOrder] = {}  # single orders by id
        self.bid_ladders: list[Ladder] = []  # in arrival order
        self.ask_ladders: list[Ladder] = []
        self.seq = 0

    # Reading

    def best_bid(self) -> int:
        """Return the best bid in ticks, 0 when there is none."""
        best = self.bid_prices[-1] if self.bid_prices else 0
        for ladder in self.bid_ladders:
            price = ladder.prices[ladder.head]
            if price > best:
                best = price
        return best

    def best_ask(self) -> int:
        """Return the best ask in ticks, 0 when there is none."""
        best = self.ask_prices[0] if self.ask_prices else 0
        for ladder in self.ask_ladders:
            price = ladder.prices[ladder.head]
            if not best or price < best:
                best = price
        return best

    def mid(self) -> int:
        """Return floor((best bid + best ask) / 2) in ticks, or 0 unless both sides quote."""
        bid, ask = self.best_bid(), self.best_ask()
        return (bid + ask) // 2 if bid and ask else 0

    def get(self, order_id: int) -> RestingOrder | None:
        """Return the resting order `order_id` (a snapshot for a ladder order), None if not resting."""
        order = self.singles.get(order_id)
        if order is not None:
            return order
        ladder = self._ladder_of(order_id)
        if ladder is None:
            return None
        i = order_id - ladder.first_id
        return ladder.order(i) if ladder.lots[i] else None

    def __contains__(self, order_id: int) -> bool:
        return self.get(order_id) is not None

    @property
    def orders(self) -> dict[int, RestingOrder]:
        """Return every resting order by id, in the order they arrived (a new dict each call)."""
        ladders = sorted([*self.bid_ladders, *self.ask_ladders], key=lambda d: (d.seq, d.first_id))
        if self.singles:
            entries = [(o.seq, o.order_id, o) for o in self.singles.values()]
            entries += [(o.seq, o.order_id, o) for d in ladders for o in d.orders()]
            entries.sort(key=lambda entry: entry[:2])
            return {order_id: o for _, order_id, o in entries}
        out: dict[int, RestingOrder] = {}
        for d in ladders:
            out.update((o.order_id, o) for o in d.orders())
        return out

    def orders_of(self, account: int) -> list[RestingOrder]:
        """Return the resting orders of `account`, in the order they arrived."""
        return [o for o in self.orders.values() if o.account == account] if self._has(account) else []

    def _has(self, account: int) -> bool:
        if any(d.account == account for ladders in (self.bid_ladders, self.ask_ladders) for d in ladders):
            return True
        return any(o.account == account for o in self.singles.values())

    def _singles_walk(self, side: int) -> Iterator[RestingOrder]:
        prices, levels = self._side(side)
        ordered = reversed(prices) if side == BUY else iter(prices)
        for price in ordered:
            yield from levels[price]

    def walk(self, side: int) -> Iterator[RestingOrder]:
        """Yield the resting orders of `side` from the best price, in time priority."""
        ladders = self.bid_ladders if side == BUY else self.ask_ladders
        if not ladders:
            return self._singles_walk(side)
        prices = self.bid_prices if side == BUY else self.ask_prices
        if not prices and len(ladders) == 1:
            return ladders[0].orders()
        return self._merged(side, ladders, bool(prices))

    def _merged(self, side: int, ladders: list[Ladder], singles: bool) -> Iterator[RestingOrder]:
        # A k-way merge of the ladders (and the single orders) on (signed price, seq): seqs
        # are unique, so the rest of an entry is never compared.
        sign = -1 if side == BUY else 1
        heap: list[tuple[int, int, int, Any]] = [(sign * d.prices[d.head], d.seq, d.head, d) for d in ladders]
        rest = self._singles_walk(side) if singles else None
        if rest is not None:
            first = next(rest)
            heap.append((sign * first.price, first.seq, -1, first))
        heapq.heapify(heap)
        while heap:
            _, seq, i, source = heap[0]
            if i < 0:
                yield source
                following = next(rest, None)  # type: ignore[arg-type]
                if following is None:
                    heapq.heappop(heap)
                else:
                    heapq.heapreplace(heap, (sign * following.price, following.seq, -1, following))
                continue
            yield source.order(i)
            lots = source.lots
            j, n = i + 1, len(lots)
            while j < n and not lots[j]:
                j += 1
            if j == n:
                heapq.heappop(heap)
            else:
                heapq.heapreplace(heap, (sign * source.prices[j], seq, j, source))

    def best_of_others(self, side: int, account: int) -> int:
        """Return the best price on `side` among orders not of `account` (0 when none)."""
        best = 0
        if self.bid_prices if side == BUY else self.ask_prices:
            for order in self._singles_walk(side):
                if order.account != account:
                    best = order.price
                    break
        if side == BUY:
            for d in self.bid_ladders:
                if d.account != account and d.prices[d.head] > best:
                    best = d.prices[d.head]
        else:
            for d in self.ask_ladders:
                if d.account != account and (not best or d.prices[d.head] < best):
                    best = d.prices[d.head]
        return best

    def levels(self, side: int, count: int) -> list[tuple[int, int]]:
        """Return up to `count` (price, total lots) levels of `side`, best first."""
        out: list[list[int]] = []
        for order in self.walk(side):
            if out and out[-1][0] == order.price:
                out[-1][1] += order.lots
            elif len(out) == count:
                break
            else:
                out.append([order.price, order.lots])
        return [(price, lots) for price, lots in out]

    def canonical(self) -> tuple[tuple[int, int, int, int, int], ...]:
        """Return every resting order as (side, price, order_id, account, lots) in priority order."""
        return tuple((o.side, o.price, o.order_id, o.account, o.lots) for side in (BUY, SELL) for o in self.walk(side))

    # Changing (only through `clearing.core.state.apply`)

    def _side(self, side: int) -> tuple[list[int], dict[int, deque[RestingOrder]]]:
        return (self.bid_prices, self.bid_levels) if side == BUY else (self.ask_prices, self.ask_levels)

    def _ladder_of(self, order_id: int) -> Ladder | None:
        for ladders in (self.bid_ladders, self.ask_ladders):
            for ladder in ladders:
                if ladder.first_id <= order_id < ladder.end:
                    return ladder
        return None

    def add(self, order: RestingOrder) -> None:
        """Queue `order` at the back of its price level."""
        self.seq += 1
        order.seq = self.seq
        prices, levels = self._side(order.side)
        level = levels.get(order.price)
        if level is None:
            bisect.insort(prices, order.price)
            level = levels[order.price] = deque()
        level.append(order)
        self.singles[order.order_id] = order

    def add_ladder(
        self, account: int, first_id: int, bid_prices: list[int], bid_lots: list[int], ask_prices: list[int], ask_lots: list[int]
    ) -> int:
        """Rest a maker's ladder: ids first_id, ... for the bids (best first), then the asks.

        Prices must be strictly monotonic, best first, every size positive and each side's
        lists of one length (the caller checks). Returns the id after the last order.
        """
        self.seq += 1
        order_id = first_id
        if bid_prices:
            self.bid_ladders.append(Ladder(order_id, account, BUY, bid_prices, bid_lots, self.seq))
            order_id += len(bid_prices)
        if ask_prices:
            self.ask_ladders.append(Ladder(order_id, account, SELL, ask_prices, ask_lots, self.seq))
            order_id += len(ask_prices)
        return order_id

    def remove(self, order_id: int) -> RestingOrder:
        """Take an order out of the book and return it."""
        order = self.singles.pop(order_id, None)
        if order is None:
            ladder = self._ladder_of(order_id)
            if ladder is None or not ladder.lots[order_id - ladder.first_id]:
                raise KeyError(order_id)
            i = order_id - ladder.first_id
            order = ladder.order(i)
            self._kill(ladder, i)
            return order
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

    def remove_range(self, first_id: int, end_id: int) -> None:
        """Remove every resting order with first_id <= id < end_id (whatever is left of each)."""
        for ladders in (self.bid_ladders, self.ask_ladders):
            for ladder in [d for d in ladders if d.first_id < end_id and first_id < d.end]:
                if first_id <= ladder.first_id and ladder.end <= end_id:
                    ladders.remove(ladder)
                else:
                    for order_id in range(max(first_id, ladder.first_id), min(end_id, ladder.end)):
                        if ladder.live and ladder.lots[order_id - ladder.first_id]:
                            self._kill(ladder, order_id - ladder.first_id)
        if self.singles:
            for order_id in [i for i in self.singles if first_id <= i < end_id]:
                self.remove(order_id)

    def _kill(self, ladder: Ladder, i: int) -> None:
        lots = ladder.lots
        lots[i] = 0
        ladder.live -= 1
        if not ladder.live:
            (self.bid_ladders if ladder.side == BUY else self.ask_ladders).remove(ladder)
        elif i == ladder.head:
            head = i + 1
            while not lots[head]:
                head += 1
            ladder.head = head

    def fill_maker(self, order_id: int, lots: int, account: int, side: int, price: int) -> bool:
        """Fill `lots` of resting order `order_id` if it is of `account` on `side` at `price`.

        Returns False (and changes nothing) when no such order rests. Raises ValueError
        when the order has fewer than `lots` left.
        """
        order = self.singles.get(order_id)
        if order is not None:
            if order.account != account or order.side != side or order.price != price:
                return False
            self.fill(order_id, lots)
            return True
        for ladder in self.bid_ladders if side == BUY else self.ask_ladders:
            if ladder.first_id <= order_id < ladder.end:
                i = order_id - ladder.first_id
                left = ladder.lots[i]
                if not left or ladder.account != account or ladder.prices[i] != price:
                    return False
                self._take(ladder, i, lots, order_id)
                return True
        return False

    def fill(self, order_id: int, lots: int) -> None:
        """Reduce a resting order by `lots`, removing it when nothing is left."""
        order = self.singles.get(order_id)
        if order is not None:
            if lots > order.lots:
                raise ValueError(f"expected at most {order.lots} lots on order {order_id}, was {lots}")
            order.lots -= lots
            if order.lots == 0:
                self.remove(order_id)
            return
        ladder = self._ladder_of(order_id)
        i = order_id - ladder.first_id if ladder is not None else 0
        if ladder is None or not ladder.lots[i]:
            raise KeyError(order_id)
        self._take(ladder, i, lots, order_id)

    def _take(self, ladder: Ladder, i: int, lots: int, order_id: int) -> None:
        # Fill `lots` of level i of a ladder: the level goes when nothing is left.
        left = ladder.lots[i]
        if lots > left:
            raise ValueError(f"expected at most {left} lots on order {order_id}, was {lots}")
        if lots == left:
            self._kill(ladder, i)
        else:
            ladder.lots[i] = left - lots


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
    if remaining == 0:
        return MatchResult((), 0, 0, False)
    buy = side == BUY
    for order in book.walk(-side):
        price = order.price
        if limit_ticks is not None and (price > limit_ticks if buy else price < limit_ticks):  # not crosses(...)
            break
        if order.account == account:
            if stp != "expire_taker":
                steps.append(SelfTradeCancel(order.order_id, order.lots))
            if stp == "expire_maker":
                continue
            return MatchResult(tuple(steps), lots - remaining, remaining, True)
        size = min(remaining, order.lots)
        steps.append(Fill(order.order_id, order.account, price, size))
        remaining -= size
        if remaining == 0:  # stop without reading the next order
            break
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
    return book.best_of_others(side, account)
