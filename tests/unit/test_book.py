"""Price-time priority, partial fills, self-trade prevention, impact prices."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clearing.core.book import BUY, SELL, Book, Fill, RestingOrder, SelfTradeCancel, best_of_others, impact_price, match
from clearing.core.state import Role, apply
from clearing.errors import InvariantViolation
from tests.builders import order_placed, quotes, state_with, trade


def book_with(*orders):
    book = Book()
    for order_id, account, side, price, lots in orders:
        book.add(RestingOrder(order_id, account, side, price, lots))
    return book


def test_price_then_time_priority():
    book = book_with((1, 10, SELL, 101, 5), (2, 11, SELL, 100, 5), (3, 12, SELL, 100, 5), (4, 13, SELL, 102, 5))
    result = match(book, 99, BUY, 12, None)
    assert result.steps == (Fill(2, 11, 100, 5), Fill(3, 12, 100, 5), Fill(1, 10, 101, 2))
    assert (result.filled, result.remaining, result.taker_expired) == (12, 0, False)


def test_limit_price_bounds_the_walk_and_leaves_a_remainder():
    book = book_with((1, 10, BUY, 100, 3), (2, 11, BUY, 99, 3), (3, 12, BUY, 98, 3))
    result = match(book, 99, SELL, 10, 99)
    assert [s.price for s in result.steps] == [100, 99]
    assert (result.filled, result.remaining) == (6, 4)


def test_match_does_not_change_the_book():
    book = book_with((1, 10, SELL, 100, 5))
    before = book.canonical()
    match(book, 99, BUY, 3, None)
    assert book.canonical() == before


@pytest.mark.parametrize(
    ("mode", "steps", "remaining", "expired"),
    [
        ("expire_maker", (Fill(1, 10, 100, 2), SelfTradeCancel(2, 3), Fill(3, 11, 101, 4)), 0, False),
        ("expire_taker", (Fill(1, 10, 100, 2),), 4, True),
        ("expire_both", (Fill(1, 10, 100, 2), SelfTradeCancel(2, 3)), 4, True),
    ],
)
def test_self_trade_prevention_modes(mode, steps, remaining, expired):
    book = book_with((1, 10, SELL, 100, 2), (2, 7, SELL, 100, 3), (3, 11, SELL, 101, 9))
    result = match(book, 7, BUY, 6, None, mode)
    assert (result.steps, result.remaining, result.taker_expired) == (steps, remaining, expired)


def test_fill_and_remove_keep_levels_consistent():
    book = book_with((1, 10, BUY, 100, 5), (2, 11, BUY, 100, 5), (3, 12, SELL, 105, 1))
    book.fill(1, 5)
    assert book.best_bid() == 100 and [o.order_id for o in book.walk(BUY)] == [2]
    book.remove(2)
    assert book.best_bid() == 0 and book.mid() == 0 and book.bid_levels == {}
    with pytest.raises(ValueError, match="at most 1 lots"):
        book.fill(3, 2)


def test_levels_and_best_of_others():
    book = book_with((1, 10, BUY, 100, 5), (2, 11, BUY, 100, 2), (3, 10, BUY, 99, 1), (4, 12, SELL, 103, 4))
    assert book.levels(BUY, 5) == [(100, 7), (99, 1)]
    assert book.mid() == 101
    assert best_of_others(book, BUY, 10) == 100 and best_of_others(book, SELL, 12) == 0


def test_impact_price_averages_and_rounds_against_the_taker():
    book = book_with((1, 10, SELL, 100, 1), (2, 11, SELL, 103, 10))
    # 400 units of notional at unit value 1: 1 lot at 100, 3 lots at 103 -> 409 / 4 = 102.25 -> 103 (buy)
    assert impact_price(book, BUY, 400, 1) == 103
    bids = book_with((1, 10, BUY, 100, 1), (2, 11, BUY, 97, 10))
    assert impact_price(bids, SELL, 390, 1) == 97  # 100 + 3 x 97 = 391 / 4 = 97.75 -> 97 (sell)
    assert impact_price(bids, SELL, 10**9, 1) == 0  # too thin


orders = st.lists(
    st.tuples(st.integers(1, 4), st.sampled_from([BUY, SELL]), st.integers(90, 110), st.integers(1, 20)), max_size=30
)


@given(orders, st.integers(1, 4), st.sampled_from([BUY, SELL]), st.integers(1, 200), st.one_of(st.none(), st.integers(85, 115)))
def test_match_never_overfills_and_respects_the_limit(resting, account, side, lots, limit):
    book = Book()
    for i, (owner, s, price, size) in enumerate(resting, start=1):
        opposite = book.best_ask() if s == BUY else book.best_bid()
        if opposite and (price >= opposite if s == BUY else price <= opposite):
            continue  # a resting book never crosses
        book.add(RestingOrder(i, owner, s, price, size))
    result = match(book, account, side, lots, limit)
    fills = [s for s in result.steps if isinstance(s, Fill)]
    assert result.filled + result.remaining == lots and sum(f.lots for f in fills) == result.filled
    assert all(f.maker_account != account for f in fills)
    if limit is not None:
        assert all((f.price <= limit) if side == BUY else (f.price >= limit) for f in fills)
    prices = [f.price for f in fills]
    assert prices == sorted(prices, reverse=side == SELL)


class ReferenceBook:
    """The book as a plain list of orders in arrival order: the specification `Book` must match."""

    def __init__(self):
        self.orders = []  # [order_id, account, side, price, lots], arrival order

    def add(self, order_id, account, side, price, lots):
        self.orders.append([order_id, account, side, price, lots])

    def walk(self, side):
        mine = [o for o in self.orders if o[2] == side]  # sorted() is stable: arrival order within a price
        return sorted(mine, key=lambda o: -o[3] if side == BUY else o[3])

    def find(self, order_id):
        return next((o for o in self.orders if o[0] == order_id), None)

    def remove(self, order_id):
        self.orders.remove(self.find(order_id))


def reference_match(ref, account, side, lots, limit, stp):
    # The matching rule as first written, over the list model.
    steps, remaining = [], lots
    for order_id, owner, _, price, size in ref.walk(-side):
        if remaining == 0 or not (limit is None or (price <= limit if side == BUY else price >= limit)):
            break
        if owner == account:
            if stp != "expire_taker":
                steps.append(SelfTradeCancel(order_id, size))
            if stp == "expire_maker":
                continue
            return (tuple(steps), lots - remaining, remaining, True)
        take = min(remaining, size)
        steps.append(Fill(order_id, owner, price, take))
        remaining -= take
    return (tuple(steps), lots - remaining, remaining, False)


operations = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.integers(1, 4), st.sampled_from([BUY, SELL]), st.integers(90, 110), st.integers(1, 5)),
        st.tuples(
            st.just("ladder"),
            st.integers(1, 4),
            st.lists(st.integers(1, 6), max_size=5),
            st.lists(st.integers(1, 6), max_size=5),
            st.integers(95, 105),
        ),
        st.tuples(st.just("fill"), st.integers(0, 60), st.integers(1, 6)),
        st.tuples(st.just("remove"), st.integers(0, 60)),
        st.tuples(st.just("remove_range"), st.integers(0, 60), st.integers(0, 12)),
    ),
    max_size=40,
)


@given(operations)
def test_book_with_ladders_matches_the_reference(ops):
    # Single orders and ladder blocks interleave in one price-time priority; every reader
    # agrees with the list model, whatever fills, removals and range removals happen.
    book, ref, next_id = Book(), ReferenceBook(), 1
    for op in ops:
        if op[0] == "add":
            _, account, side, price, lots = op
            book.add(RestingOrder(next_id, account, side, price, lots))
            ref.add(next_id, account, side, price, lots)
            next_id += 1
        elif op[0] == "ladder":
            _, account, bid_steps, ask_steps, centre = op
            bids = [centre - sum(bid_steps[: k + 1]) for k in range(len(bid_steps))]
            asks = [centre + sum(ask_steps[: k + 1]) for k in range(len(ask_steps))]
            bid_lots, ask_lots = [1 + p % 3 for p in bids], [1 + p % 4 for p in asks]
            end = book.add_ladder(account, next_id, list(bids), list(bid_lots), list(asks), list(ask_lots))
            for side, prices, lots in ((BUY, bids, bid_lots), (SELL, asks, ask_lots)):
                for price, size in zip(prices, lots, strict=True):
                    ref.add(next_id, account, side, price, size)
                    next_id += 1
            assert end == next_id
        elif op[0] == "fill":
            _, order_id, lots = op
            o = ref.find(order_id)
            if o is None:
                assert book.get(order_id) is None
                assert not book.fill_maker(order_id, lots, 1, BUY, 100)
            elif lots > o[4]:
                with pytest.raises(ValueError, match="at most"):
                    book.fill_maker(order_id, lots, o[1], o[2], o[3])
            else:
                assert not book.fill_maker(order_id, lots, o[1] + 1, o[2], o[3])
                assert book.fill_maker(order_id, lots, o[1], o[2], o[3])
                o[4] -= lots
                if o[4] == 0:
                    ref.remove(order_id)
        elif op[0] == "remove":
            o = ref.find(op[1])
            if o is None:
                with pytest.raises(KeyError):
                    book.remove(op[1])
            else:
                assert book.remove(op[1]).lots == o[4]
                ref.remove(op[1])
        else:
            _, first, count = op
            book.remove_range(first, first + count)
            for order_id in range(first, first + count):
                if ref.find(order_id) is not None:
                    ref.remove(order_id)
        for account, side, lots, limit, stp in (
            (1, BUY, 7, None, "expire_maker"),
            (2, SELL, 4, 99, "expire_both"),
            (3, BUY, 9, 103, "expire_taker"),
        ):
            assert match(book, account, side, lots, limit, stp) == reference_match(ref, account, side, lots, limit, stp)
        expected = tuple((o[2], o[3], o[0], o[1], o[4]) for side in (BUY, SELL) for o in ref.walk(side))
        assert book.canonical() == expected
        assert list(book.orders) == [o[0] for o in ref.orders]
        bids, asks = ref.walk(BUY), ref.walk(SELL)
        assert (book.best_bid(), book.best_ask()) == (bids[0][3] if bids else 0, asks[0][3] if asks else 0)
        for side in (BUY, SELL):
            for account in range(1, 5):
                others = [o for o in ref.walk(side) if o[1] != account]
                assert best_of_others(book, side, account) == (others[0][3] if others else 0)
                assert [o.order_id for o in book.orders_of(account)] == [o[0] for o in ref.orders if o[1] == account]


@pytest.mark.parametrize(
    ("bids", "asks", "message"),
    [
        (((99, 0),), (), "malformed"),
        (((99, 1), (0, 1)), (), "malformed"),
        (((99, 1), (99, 1)), (), "malformed"),
        (((98, 1), (99, 1)), (), "malformed"),
        ((), ((0, 1),), "malformed"),
        ((), ((101, 1), (101, 2)), "malformed"),
        ((), ((102, 1), (101, 1)), "malformed"),
        ((), ((101, -1),), "malformed"),
        (((101, 1),), ((101, 1),), "quotes of account 1 cross"),
        (((105, 1),), (), "bids of account 1 cross the book"),
        ((), ((95, 1),), "asks of account 1 cross the book"),
    ],
)
def test_quotes_replaced_refuses_a_malformed_or_crossing_ladder(bids, asks, message):
    state = state_with((3, Role.MARKET_MAKER))
    apply(state, quotes(state, 2, ((96, 1),), ((104, 1),)))
    with pytest.raises(InvariantViolation, match=message):
        apply(state, quotes(state, 1, bids, asks))


def test_quotes_replaced_replaces_only_the_makers_own_ladder():
    state = state_with((3, Role.MARKET_MAKER))
    apply(state, quotes(state, 1, ((99, 2), (98, 3)), ((101, 2), (102, 3))))  # ids 1-4
    apply(state, quotes(state, 2, ((99, 5),), ((101, 5),)))  # ids 5-6
    apply(state, order_placed(7, 0, BUY, 3))  # a market order
    apply(state, trade(0, 1, 2, 101, maker_order=3, taker_order=7))
    apply(state, trade(0, 2, 1, 101, maker_order=6, taker_order=7))
    book = state.books[0]
    assert [o.order_id for o in book.walk(SELL)] == [6, 4]  # order 3 filled: maker 2's rest is now best
    apply(state, quotes(state, 1, ((97, 1),), ((103, 1),)))  # ids 8-9
    assert book.canonical() == ((BUY, 99, 5, 2, 5), (BUY, 97, 8, 1, 1), (SELL, 101, 6, 2, 4), (SELL, 103, 9, 1, 1))
    assert state.quotes[(1, 0)] == (8, 9) and state.next_order_id == 10
