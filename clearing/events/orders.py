"""Event kinds of orders and trades: placement, rejection, resting, cancels, quote ladders, fills."""

from __future__ import annotations

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

    Each side is two arrays of one length, best first: the levels' prices in ticks and their
    lots. The new orders get ids first_order_id, first_order_id + 1, ... bids first (best
    first), then asks. `reference_ticks` and `volatility_ppm` record the maker's inputs.
    v2 holds a side as its two arrays where v1 held (price, lots) pairs: the same ladder in
    about 40 fewer bytes a refresh, the log's largest payload (decision 0031).
    """

    VERSION: ClassVar[int] = 2
    account: int
    market: int
    first_order_id: int
    bid_prices: tuple[int, ...]
    bid_lots: tuple[int, ...]
    ask_prices: tuple[int, ...]
    ask_lots: tuple[int, ...]
    reference_ticks: int
    volatility_ppm: int

    @staticmethod
    def sides(bids: tuple[tuple[int, int], ...], asks: tuple[tuple[int, int], ...]) -> dict[str, tuple[int, ...]]:
        """Return the four arrays of a ladder given as ((price, lots), ...) per side, as this event's fields."""
        return {"bid_prices": tuple(p for p, _ in bids), "bid_lots": tuple(n for _, n in bids),
                "ask_prices": tuple(p for p, _ in asks), "ask_lots": tuple(n for _, n in asks)}  # fmt: skip


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
