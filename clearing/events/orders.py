"""Event kinds of orders and trades: placement, rejection, resting, cancels, quote ladders, fills."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import accumulate, pairwise
from typing import ClassVar

from clearing.events.base import Event


class OrderPlaced(Event, frozen=True, kw_only=True, tag="order_placed"):
    """An order arrived at the matching engine (price 0 for a market order)."""

    order_id: int
    account: int
    market: int
    side: int
    lots: int
    price_ticks: int
    order_type: str
    reduce_only: bool
    liquidation: bool


class OrderRejected(Event, frozen=True, kw_only=True, tag="order_rejected"):
    """An order was refused before matching; nothing changed but the record."""

    order_id: int
    account: int
    market: int
    reason: str


class OrderRested(Event, frozen=True, kw_only=True, tag="order_rested"):
    """The unfilled part of a limit order joined the book at the back of its level."""

    order_id: int
    lots: int


class OrderCancelled(Event, frozen=True, kw_only=True, tag="order_cancelled"):
    """An order (resting or incoming) left the book unfilled for `lots`, for `reason`."""

    order_id: int
    lots: int
    reason: str


class QuotesReplaced(Event, frozen=True, kw_only=True, tag="quotes_replaced"):
    """A market maker cancelled its quotes on a market and posted a new ladder.

    Each side is two arrays of one length, best level first: its prices as steps in ticks (the
    best price, then each level's distance from the one before it: below for bids, above for
    asks, each > 0) and its lots (`prices` turns the steps back into prices; the SQL view has
    `bid_prices` and `ask_prices`). The new orders get ids first_order_id, first_order_id + 1,
    ... bids first (best first), then asks. `reference_ticks` and `volatility_ppm` record the
    maker's inputs. v2 holds a side as these two arrays where v1 held (price, lots) pairs: the
    same ladder in about 90 fewer bytes a refresh, the log's largest payload (decision 0031).
    """

    VERSION: ClassVar[int] = 2
    account: int
    market: int
    first_order_id: int
    bid_price_steps: tuple[int, ...]
    bid_lots: tuple[int, ...]
    ask_price_steps: tuple[int, ...]
    ask_lots: tuple[int, ...]
    reference_ticks: int
    volatility_ppm: int

    @staticmethod
    def sides(bids: Sequence[Sequence[int]], asks: Sequence[Sequence[int]]) -> dict[str, tuple[int, ...]]:
        """Return this event's four arrays of a ladder given as ((price, lots), ...) per side, best first."""
        return {"bid_price_steps": _steps([p for p, _ in bids], -1), "bid_lots": tuple(n for _, n in bids),
                "ask_price_steps": _steps([p for p, _ in asks], 1), "ask_lots": tuple(n for _, n in asks)}  # fmt: skip

    @staticmethod
    def prices(price_steps: tuple[int, ...], direction: int) -> list[int]:
        """Return a side's prices from its steps: the best, then each a step away (`direction` -1 for bids, 1 for asks)."""
        return list(accumulate(price_steps, lambda price, step: price + direction * step))


def _steps(prices: list[int], direction: int) -> tuple[int, ...]:
    # A side's price steps (`QuotesReplaced`): the best price, then each level's distance from the one before.
    return tuple(prices[:1]) + tuple(direction * (b - a) for a, b in pairwise(prices))


class TradeExecuted(Event, frozen=True, kw_only=True, tag="trade_executed"):
    """`lots` changed hands from seller to buyer at `price_ticks`; fees go to the fee pool.

    v2 adds the orders: `maker_order` (0 when the backstop took the other side),
    `taker_order` and `taker_side` (+1 buy, -1 sell; 0 in upcast v1 rows).
    """

    VERSION: ClassVar[int] = 2
    market: int
    buyer: int
    seller: int
    lots: int
    price_ticks: int
    buyer_fee: int
    seller_fee: int
    liquidation: bool
    maker_order: int
    taker_order: int
    taker_side: int
