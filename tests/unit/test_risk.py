"""Account risk read from a state (`clearing.core.risk`) and the off-book trade builder (`clearing.core.market`)."""

import numpy as np

from clearing import events as ev
from clearing.core.market import off_book_trade
from clearing.core.risk import below_requirement, position_bankruptcy_price, requirement_with
from clearing.core.valuation import valuation_price, valuation_prices
from tests.unit.liquidation_states import Ledger, one_market

MAKER = 9


def test_positions_are_valued_at_the_mark_else_the_index():
    ledger = Ledger().market(0).market(1).market(2)
    ledger.emit(ev.IndexPriceUpdated, market=1, price_ticks=70).mark(90, market=2)
    assert [valuation_price(ledger.state, m) for m in range(3)] == [0, 70, 90]
    ledger.mark(80, market=1)
    assert [valuation_price(ledger.state, m) for m in range(3)] == [0, 80, 90]
    assert valuation_prices(ledger.state).tolist() == [0, 80, 90] and valuation_prices(ledger.state).dtype == np.int64


def test_below_requirement_is_strict_and_false_without_a_position():
    # Long 10 at 1000 with 600, maintenance 5 %: at 985 equity 450 < 493; at 1000, 600 >= 500.
    assert below_requirement(one_market().deposit(0, 600).trade(0, MAKER, 10, 1000).mark(985).state, 0)
    assert not below_requirement(one_market().deposit(0, 600).trade(0, MAKER, 10, 1000).mark(1000).state, 0)
    assert not below_requirement(one_market().mark(1000).state, 0)


def test_the_requirement_of_a_smaller_position():
    s = one_market().deposit(0, 600).trade(0, MAKER, 10, 1000).mark(985).state
    assert requirement_with(s, 0, 0, 10) == 493  # ceil(9,850 x 5 %)
    assert requirement_with(s, 0, 0, 9) == 444  # ceil(8,865 x 5 %) = 443.25 -> 444
    assert requirement_with(s, 0, 0, 0) == 0
    assert s.position[0, 0] == 10  # a what-if: the state is unchanged


def test_the_bankruptcy_price_of_a_position_is_bitmexs():
    # docs/references.md [bitmex-liquidation]: long 1 @ 100.00 with 1.00 of margin is bankrupt at 99.00.
    s = one_market().deposit(0, 100).trade(0, MAKER, 1, 10_000).mark(9_950).state
    assert position_bankruptcy_price(s, 0, 0) == 9_900
    assert position_bankruptcy_price(s, 1, 0) == 0  # no position


def test_an_off_book_trade_names_the_account_as_taker_on_its_side():
    sold = off_book_trade(7, (3,), 0, 5, 8, -4, 950, liquidation=True)  # 5 sells 4 to 8
    assert sold == ev.TradeExecuted(ts_ns=7, causes=(3,), market=0, buyer=8, seller=5, lots=4, price_ticks=950, buyer_fee=0,
                                    seller_fee=0, liquidation=True, maker_order=0, taker_order=0, taker_side=-1)  # fmt: skip
    bought = off_book_trade(7, (3,), 1, 5, 8, 4, 1_050, fee=2)  # 5 buys 4 from 8, paying the taker fee
    assert (bought.buyer, bought.seller, bought.buyer_fee, bought.seller_fee, bought.taker_side) == (5, 8, 2, 0, 1)
    assert not bought.liquidation and bought.market == 1
    assert off_book_trade(7, (3,), 0, 5, 8, -4, 950, fee=2).seller_fee == 2
