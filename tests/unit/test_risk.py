"""Account risk read from a state (`clearing.core.risk`) and the off-book trade builder (`clearing.core.market`)."""

import numpy as np

from clearing import events as ev
from clearing.core.market import off_book_trade
from clearing.core.risk import valuation_price, valuation_prices
from tests.unit.liquidation_states import Ledger


def test_positions_are_valued_at_the_mark_else_the_index():
    ledger = Ledger().market(0).market(1).market(2)
    ledger.emit(ev.IndexPriceUpdated, market=1, price_ticks=70).mark(90, market=2)
    assert [valuation_price(ledger.state, m) for m in range(3)] == [0, 70, 90]
    ledger.mark(80, market=1)
    assert [valuation_price(ledger.state, m) for m in range(3)] == [0, 80, 90]
    assert valuation_prices(ledger.state).tolist() == [0, 80, 90] and valuation_prices(ledger.state).dtype == np.int64


def test_an_off_book_trade_names_the_account_as_taker_on_its_side():
    sold = off_book_trade(7, (3,), 0, 5, 8, -4, 950, liquidation=True)  # 5 sells 4 to 8
    assert sold == ev.TradeExecuted(ts_ns=7, causes=(3,), market=0, buyer=8, seller=5, lots=4, price_ticks=950, buyer_fee=0,
                                    seller_fee=0, liquidation=True, maker_order=0, taker_order=0, taker_side=-1)  # fmt: skip
    bought = off_book_trade(7, (3,), 1, 5, 8, 4, 1_050, fee=2)  # 5 buys 4 from 8, paying the taker fee
    assert (bought.buyer, bought.seller, bought.buyer_fee, bought.seller_fee, bought.taker_side) == (5, 8, 2, 0, 1)
    assert not bought.liquidation and bought.market == 1
    assert off_book_trade(7, (3,), 0, 5, 8, -4, 950, fee=2).seller_fee == 2
