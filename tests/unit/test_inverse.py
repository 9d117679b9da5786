"""Inverse (coin-margined) perpetuals: the venues' worked examples, through the formulas and the ledger.

BitMEX: long 10 XBT of XBTUSD (100,000 one-dollar contracts) at 10,000, closed at 10,500:
PnL = 100,000 x (1/10,000 - 1/10,500) = 0.476190 XBT. Binance COIN-M (BTCUSD, 100 USD a
contract): 10 contracts long from 50,000 to 55,000 make 0.00181818 BTC, short from 50,000 to
45,000 0.00222222 BTC; funding = contracts x 100 / mark x rate in BTC. Deribit: an inverse
requirement is N_usd x rate / price in coin (25 BTC-equivalent at 2.125 % = 0.53125 BTC).
Sources: docs/references.md [bitmex-inverse], [binance-coinm-pnl], [binance-coinm-funding],
[deribit-futures-margin].
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from clearing import events as ev
from clearing.core import inverse
from clearing.core.book import BUY, SELL, Book, RestingOrder
from clearing.core.invariants import violations
from clearing.core.liquidation.settlement import debt_repayments
from clearing.core.risk import account_risk, breach_liquidation_price, position_bankruptcy_price
from clearing.core.state import ClearingState, apply
from clearing.core.valuation import value_of
from clearing.sim.funding_clock import impact_price_of_lots
from tests.builders import accounts_opened, inverse_contract, mark_price_updated, market_listed, trade

SAT = 10**8  # satoshi per coin


def coin_market(tick: str, contract_usd: int, decimals: int = 8) -> ClearingState:
    """Return a state with market 0 an inverse perpetual of `contract_usd` USD (cents) settling in asset 0, and 3 traders."""
    state = ClearingState()
    listing = market_listed(0, tick_size=tick, lot_size=str(contract_usd), quote_decimals=2, unit_value=contract_usd * 100,
                            maintenance_margin_ppm=21_250, bracket_rates_ppm=(21_250,))  # fmt: skip
    for e in (
        listing,
        accounts_opened(0, 3),
        ev.CollateralListed(ts_ns=0, asset=0, symbol="BTC", decimals=decimals, haircut_ppm=0),
        inverse_contract(market=0, asset=0),
    ):
        apply(state, e)
    return state


def test_k_is_the_coin_value_of_a_lot_at_one_tick():
    assert inverse.coin_per_lot_tick(100, 2, "0.5", 8) == 2 * SAT  # 1 USD at 0.5 USD a tick: 2 BTC a tick
    assert inverse.coin_per_lot_tick(100 * 10**6, 6, "0.1", 8) == 1000 * SAT  # Binance COIN-M BTCUSD: 100 USD, tick 0.1
    with pytest.raises(ValueError, match="not a whole number"):
        inverse.coin_per_lot_tick(1, 2, "0.3", 0)


def test_bitmex_long_10_xbt_from_10000_to_10500_makes_0_476190_xbt():
    state = coin_market("0.5", 1)  # XBTUSD: 1 USD a contract, tick 0.5
    apply(state, trade(0, 1, 100_000, 20_000, market=0))  # 0 buys 100,000 contracts at 10,000 (20,000 ticks)
    assert state.collateral[0, 0] == 10 * SAT  # long 10 XBT: the buyer receives the contracts' coin value
    apply(state, trade(2, 0, 100_000, 21_000, market=0))  # 0 sells them at 10,500
    pnl = int(state.collateral[0, 0])
    exact = Fraction(100_000) * (Fraction(1, 10_000) - Fraction(1, 10_500)) * SAT
    assert pnl == 47_619_047 and exact - 1 < pnl <= exact  # 0.47619047 XBT, rounded against the account
    assert state.position[0, 0] == 0 and violations(state) == []
    assert int(state.collateral[:, 0].sum()) + state.asset_pool[0] == 0  # no deposits: holdings and pool cancel


@pytest.mark.parametrize(
    ("side", "exit_usd", "expected"), [(1, 55_000, Fraction(1000, 50_000) - Fraction(1000, 55_000)),
                                        (-1, 45_000, Fraction(1000, 45_000) - Fraction(1000, 50_000))],
)  # fmt: skip
def test_binance_coin_m_pnl_is_asymmetric(side, exit_usd, expected):
    state = coin_market("0.1", 100)  # BTCUSD: 100 USD a contract, tick 0.1
    buyer, seller = (0, 1) if side > 0 else (1, 0)
    apply(state, trade(buyer, seller, 10, 500_000, market=0))  # 10 contracts at 50,000, closed against account 2
    closing = trade(2, 0, 10, exit_usd * 10, market=0) if side > 0 else trade(0, 2, 10, exit_usd * 10, market=0)
    apply(state, closing)
    pnl = int(state.collateral[0, 0])
    assert expected * SAT - 1 < pnl <= expected * SAT  # 0.00181818 / 0.00222222 BTC
    assert round(pnl / SAT, 8) == (0.00181818 if side > 0 else 0.00222222)
    assert violations(state) == []


def test_fees_are_charged_in_coin_on_the_coin_value():
    # 10 contracts of 100 USD at 50,000: 0.02 BTC; a 0.05 % taker fee is 0.00001 BTC = 1,000 sat.
    assert inverse.fee_coin(10, 500_000, 1000 * SAT, 500) == 1_000
    assert inverse.fee_coin(1, 300_000, 1000 * SAT, 500) == 167  # 0.0000333... BTC x 0.05 %, rounded up


def test_binance_coin_m_funding_is_paid_in_coin_and_sums_to_zero():
    # Long 10 contracts (100 USD) at mark 50,000, rate 0.01 %: pays 10 x 100 / 50,000 x 0.0001 BTC = 200 sat.
    position = np.array([10, -4, -6], np.int64)
    accounts, amounts = inverse.funding_payments(position, 500_000, 1000 * SAT, 100_000)
    assert accounts.tolist() == [0, 1, 2] and amounts.tolist() == [-200, 80, 120]
    _, odd = inverse.funding_payments(np.array([7, -3, -4], np.int64), 333_333, 1000 * SAT, 123_457)
    assert int(odd.sum()) == 0 and odd[0] < 0


def test_deribit_requirement_in_coin_is_notional_times_rate_over_price():
    # 25 BTC-equivalent at 40,000 USD = 1,000,000 USD = 10,000 contracts of 100; 2.125 % = 0.53125 BTC = 21,250 USD.
    state = coin_market("0.1", 100)
    apply(state, trade(0, 1, 10_000, 400_000, market=0))
    apply(state, mark_price_updated(400_000, market=0))
    apply(state, ev.CollateralPriceDelivered(ts_ns=0, asset=0, price_ticks=40_000_00, ts_source_ns=0, ts_published_ns=0))
    equity, requirement = account_risk(state, np.array([0, 1]))
    assert requirement.tolist() == [21_250_00, 21_250_00]  # quote cents: 0.53125 BTC at 40,000
    assert equity.tolist() == [0, 0]  # the coin received at the trade is exactly the position's liability


@given(
    position=st.integers(-5_000, 5_000).filter(bool),
    entry=st.integers(100_000, 1_000_000),
    wallet=st.integers(0, 10 * SAT),
    quote=st.integers(0, 10**9),
)
def test_bankruptcy_and_liquidation_prices_bracket_the_equity(position, entry, wallet, quote):
    # Closing at the bankruptcy price leaves the position's backing >= 0, one tick worse < 0;
    # at the liquidation price the equity is below maintenance, one tick before it is not.
    state = coin_market("0.1", 100)
    if wallet:
        apply(state, ev.CollateralDeposited(ts_ns=0, account=0, asset=0, amount=wallet))
    if quote:
        apply(state, ev.Deposited(ts_ns=0, account=0, amount=quote))
    buyer, seller = (0, 1) if position > 0 else (1, 0)
    apply(state, trade(buyer, seller, abs(position), entry, market=0))
    apply(state, mark_price_updated(entry, market=0))
    apply(state, ev.CollateralPriceDelivered(ts_ns=0, asset=0, price_ticks=entry * 10, ts_source_ns=0, ts_published_ns=0))
    backing = int(account_risk(state, np.array([0]))[0][0]) - value_of(state, 0, position, entry)
    k, price, rate = state.inverse[0].k, entry * 10, Fraction(21_250, 10**6)

    def value(p: int) -> Fraction:  # the position's exact quote value at p ticks
        return -Fraction(position * k * price, p * SAT)

    worse = -1 if position > 0 else 1
    bankrupt = position_bankruptcy_price(state, 0, 0)
    if bankrupt not in (1, inverse.FAR_PRICE_TICKS):
        assert backing + value(bankrupt) >= 0 > backing + value(bankrupt + worse)
    liquidation = breach_liquidation_price(state, 0, 0)
    if liquidation > 1:  # breached (equity < maintenance) at it, not one tick before it

        def shortfall(p: int) -> Fraction:
            return backing + value(p) - abs(value(p)) * rate

        assert shortfall(liquidation) < 0 <= shortfall(liquidation - worse)


def test_a_coin_debt_is_repaid_in_quote_at_the_oracle_rounded_up():
    state = coin_market("0.1", 100)
    apply(state, ev.CollateralPriceDelivered(ts_ns=0, asset=0, price_ticks=50_000_00, ts_source_ns=0, ts_published_ns=0))
    apply(state, trade(1, 0, 10, 500_000, market=0))  # 0 sells 10 at 50,000: pays 0.02 BTC it does not have
    apply(state, trade(0, 1, 10, 500_000, market=0))  # and buys back: receives 0.02 BTC
    apply(state, trade(1, 0, 1, 300_000, market=0))  # sells 1 at 30,000: owes 0.00333334 BTC
    owed = int(state.collateral[0, 0])
    assert owed == -333_334
    (repay,) = debt_repayments(state, 0)
    assert repay.amount == owed and repay.value == -16_667  # 0.00333334 x 50,000 = 166.667 USD, up to the cent
    apply(state, ev.CollateralSeized(ts_ns=0, account=0, asset=0, amount=repay.amount, value=repay.value, buyer=2))
    assert state.collateral[0, 0] == 0 and state.cash[0] == -16_667 and state.collateral[2, 0] == owed
    assert violations(state) == []


def test_the_impact_price_of_an_inverse_market_walks_contracts():
    # Asks of 3 lots at 101 and 5 at 103: 6 contracts fill at (3 x 101 + 3 x 103) / 6 = 102; bids likewise, rounded down.
    book = Book()
    for order in ((1, SELL, 101, 3), (2, SELL, 103, 5), (3, BUY, 99, 2), (4, BUY, 96, 2)):
        book.add(RestingOrder(order[0], 9, *order[1:]))
    assert impact_price_of_lots(book, BUY, 6) == 102
    assert impact_price_of_lots(book, BUY, 7) == 103  # 718 / 7 = 102.57, rounded up for a buy
    assert impact_price_of_lots(book, SELL, 3) == 98  # 294 / 3
    assert impact_price_of_lots(book, SELL, 5) == 0  # too thin
