"""Reducers of orders and books: placement, resting, cancels, quote ladders, fills.

An incoming order lives in `state.incoming` from `order_placed` until it is filled,
rests (`order_rested` moves it into the book) or expires (`order_cancelled`). Resting
orders live only in `state.books`. Order ids are consecutive and consumed by
`order_placed`, `order_rejected` and `quotes_replaced`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from clearing import events as ev
from clearing.core.book import BUY, SELL, RestingOrder
from clearing.core.state.reducers.checks import account, market, require
from clearing.core.state.schema import ORDER_TYPES, IncomingOrder
from clearing.errors import InvariantViolation

if TYPE_CHECKING:
    from clearing.core.state.state import ClearingState


def order_placed(state: ClearingState, e: ev.OrderPlaced) -> None:
    """Register an incoming order under the next order id."""
    account(state, e.account)
    market(state, e.market)
    if e.order_id != state.next_order_id:
        raise InvariantViolation(f"order id {e.order_id}, expected {state.next_order_id}")
    if e.market in state.settlement_prices:
        raise InvariantViolation(f"order on market {e.market}, which has expired")
    if not (e.side in (BUY, SELL) and e.lots > 0 and e.order_type in ORDER_TYPES):
        raise InvariantViolation(f"bad order {e}")
    if not ((e.price_ticks == 0) == (e.order_type == "market") and e.price_ticks >= 0):
        raise InvariantViolation(f"bad order price {e}")
    state.next_order_id += 1
    state.incoming[e.order_id] = IncomingOrder(e)


def order_rejected(state: ClearingState, e: ev.OrderRejected) -> None:
    """Consume the order id of a refused order; nothing else changes."""
    account(state, e.account)
    market(state, e.market)
    if e.order_id != state.next_order_id:
        raise InvariantViolation(f"order id {e.order_id}, expected {state.next_order_id}")
    state.next_order_id += 1
    state.rejections += 1


def order_rested(state: ClearingState, e: ev.OrderRested) -> None:
    """Move the unfilled part of an incoming limit order into its book."""
    o = state.incoming.get(e.order_id)
    if not (o is not None and o.lots == e.lots):
        raise InvariantViolation(f"order {e.order_id} cannot rest {e.lots} lots")
    assert o is not None
    if o.order_type not in ("limit", "post_only"):
        raise InvariantViolation(f"order {e.order_id} ({o.order_type}) cannot rest")
    book = state.books[o.market]
    opposite = book.best_ask() if o.side == BUY else book.best_bid()
    if opposite and (o.price >= opposite if o.side == BUY else o.price <= opposite):
        raise InvariantViolation(f"order {e.order_id} would cross")
    del state.incoming[e.order_id]
    book.add(RestingOrder(e.order_id, o.account, o.side, o.price, o.lots))


def order_cancelled(state: ClearingState, e: ev.OrderCancelled) -> None:
    """Take an incoming or resting order away unfilled."""
    o = state.incoming.pop(e.order_id, None)
    if o is not None:
        if o.lots != e.lots:
            raise InvariantViolation(f"order {e.order_id} has {o.lots} lots left, cancel says {e.lots}")
        return
    for book in state.books:
        resting = book.get(e.order_id)
        if resting is not None:
            if resting.lots != e.lots:
                raise InvariantViolation(f"order {e.order_id} has {resting.lots} lots left, cancel says {e.lots}")
            book.remove(e.order_id)
            return
    raise InvariantViolation(f"order {e.order_id} is not open")


def quotes_replaced(state: ClearingState, e: ev.QuotesReplaced) -> None:
    """Cancel a maker's quotes on one market and rest its new ladder."""
    account(state, e.account)
    market(state, e.market)
    if e.first_order_id != state.next_order_id:
        raise InvariantViolation(f"order id {e.first_order_id}, expected {state.next_order_id}")
    if e.market in state.settlement_prices and (e.bid_price_steps or e.ask_price_steps):
        raise InvariantViolation(f"quotes on market {e.market}, which has expired")
    book = state.books[e.market]
    key = (e.account, e.market)
    previous = state.quotes.get(key)
    if previous:  # one ladder's consecutive ids (set below)
        book.remove_range(previous[0], previous[-1] + 1)
    bid_lots, ask_lots = e.bid_lots, e.ask_lots
    bid_prices, ask_prices = e.prices(e.bid_price_steps, -1), e.prices(e.ask_price_steps, 1)
    # Strictly monotonic prices (every step after the best > 0) are all positive when the worst bid and the best ask are.
    if len(bid_prices) != len(bid_lots) or len(ask_prices) != len(ask_lots) or not (
        (not bid_prices or (bid_prices[-1] > 0 and min(bid_lots) > 0 and min(e.bid_price_steps[1:], default=1) > 0))
        and (not ask_prices or (ask_prices[0] > 0 and min(ask_lots) > 0 and min(e.ask_price_steps[1:], default=1) > 0))
    ):
        raise InvariantViolation(f"malformed quote ladder {e}")
    best_ask, best_bid = book.best_ask(), book.best_bid()
    if bid_prices and best_ask and bid_prices[0] >= best_ask:
        raise InvariantViolation(f"bids of account {e.account} cross the book")
    if ask_prices and best_bid and ask_prices[0] <= best_bid:
        raise InvariantViolation(f"asks of account {e.account} cross the book")
    if bid_prices and ask_prices and bid_prices[0] >= ask_prices[0]:
        raise InvariantViolation(f"quotes of account {e.account} cross")
    end = book.add_ladder(e.account, e.first_order_id, bid_prices, list(bid_lots), ask_prices, list(ask_lots))
    state.next_order_id = end
    state.quotes[key] = tuple(range(e.first_order_id, end))


def fill(state: ClearingState, e: ev.TradeExecuted) -> None:
    """Apply a trade to the orders it names: the resting maker and the incoming taker."""
    taker_account = e.buyer if e.taker_side == BUY else e.seller
    maker_account = e.seller if e.taker_side == BUY else e.buyer
    if e.taker_side not in (BUY, SELL):
        raise InvariantViolation(f"trade {e} names orders but no taker side")
    if e.maker_order and not state.books[e.market].fill_maker(e.maker_order, e.lots, maker_account, -e.taker_side, e.price_ticks):
        raise InvariantViolation(f"trade {e} does not match resting order {e.maker_order}")
    if e.taker_order:
        taker = state.incoming.get(e.taker_order)
        if not (taker is not None and taker.account == taker_account and e.lots <= taker.lots):
            raise InvariantViolation(f"trade {e} overfills its taker")
        assert taker is not None
        taker.lots -= e.lots
        if taker.lots == 0:
            del state.incoming[e.taker_order]


def stop_triggered(state: ClearingState, e: ev.StopTriggered) -> None:
    """Count a trader's stop-loss reached by the mark (its order follows as its own events)."""
    account(state, e.account)
    market(state, e.market)
    require(e.stop_ticks > 0, "bad stop %s", e)
    require(state.position.item(e.account, e.market) != 0, "account %s holds nothing to stop on market %s", e.account, e.market)
    state.behaviour_counts["stops"] += 1


def trader_reentered(state: ClearingState, e: ev.TraderReentered) -> None:
    """Count a closed-out trader's re-entry (its deposit and order follow as their own events)."""
    account(state, e.account)
    market(state, e.market)
    require(state.position.item(e.account, e.market) == 0, "account %s re-enters holding a position", e.account)
    state.behaviour_counts["reentries"] += 1
