"""What a liquidation closes and in which order, and the queue's order, called directly on a state.

Sources: docs/references.md [binance-liq] (Smart Liquidation: reduce until margin is met),
[hyperliquid-liq] (20 % at a time, a 30 s cooldown), [dydx-v4-liq] (a notional cap per
block; at most 50 liquidations a block), [dydx-v4-bankruptcy] (a multi-market account).
"""

import numpy as np

from clearing import events as ev
from clearing.core.liquidation.params import LiquidationParams, MultiLeg, Partial, QueuePriority
from clearing.core.liquidation.plan import Close, close_plan, guard_markets, incremental_plan, partial_close
from clearing.core.liquidation.queue import PRIORITIES, queue_key
from clearing.core.risk import account_risk
from clearing.core.state import MarginMode, Role
from tests.builders import accounts_opened
from tests.unit.liquidation_states import Ledger, one_market

MAKER = 9


def params(partial, **changes):
    return LiquidationParams(1_000, 10**9, 50_000, partial=partial, partial_fraction_ppm=200_000)._replace(**changes)


def long_ten(cash=600, mark=985):
    """Long 10 at 1000 with 600 (maintenance 5 %): at 985 its equity is 450 under 493."""
    return one_market().deposit(0, cash).trade(0, MAKER, 10, 1000).mark(mark)


def three_markets():
    """Account 0 (cross) long 1 on market 0, short 30 on market 1, long 2 on market 2; marks 100, 10, 50."""
    ledger = Ledger().market(0).market(1).market(2).accounts(0, 1).accounts(1, 1, Role.MARKET_MAKER).deposit(0, 1_000)
    for market, lots, mark in ((0, 1, 100), (1, -30, 10), (2, 2, 50)):
        buyer, seller = (0, 1) if lots > 0 else (1, 0)
        ledger.emit(ev.TradeExecuted, market=market, buyer=buyer, seller=seller, lots=abs(lots), price_ticks=mark,
                    buyer_fee=0, seller_fee=0, liquidation=False, maker_order=0, taker_order=0, taker_side=1)  # fmt: skip
        ledger.mark(mark, market)
    return ledger


def test_a_single_position_closes_by_the_partial_policy():
    s = long_ten().state
    assert close_plan(s, 0, 0, params(Partial.NONE)) == [Close(0, 10)]
    assert close_plan(s, 0, 0, params(Partial.FRACTION)) == [Close(0, 2)]  # 20 %
    assert close_plan(s, 0, 0, params(Partial.RESTORE)) == [Close(0, 1)]  # 9 lots need 444 <= 450
    assert partial_close(s, 0, 0, 985, 0, params(Partial.RESTORE)) == 1


def test_a_short_closes_a_signed_part():
    s = one_market().deposit(0, 600).trade(MAKER, 0, 10, 1000).mark(1015).state  # equity 450 under 508
    assert close_plan(s, 0, 0, params(Partial.FRACTION)) == [Close(0, -2)]


def test_the_cooldown_after_a_partial_liquidation_closes_everything():
    ledger = long_ten().breach(0)
    ledger.emit(ev.LiquidationCompleted, ts_ns=5, account=0, market=0, lots=2, notional=0, fee=0, insurance_paid=0, bad_debt=0)
    s = ledger.state  # a partial liquidation at 5 ns: the cooldown starts
    assert close_plan(s, 0, 5 + 29, params(Partial.FRACTION, cooldown_ns=30)) == [Close(0, 10)]
    assert close_plan(s, 0, 5 + 30, params(Partial.FRACTION, cooldown_ns=30)) == [Close(0, 2)]


def test_the_per_block_notional_cap_limits_one_liquidation():
    assert close_plan(long_ten().state, 0, 0, params(Partial.NONE, max_notional_per_block=3_000)) == [Close(0, 3)]


def test_several_markets_close_whole_largest_notional_first():
    # Notionals at the marks: 100, 300 and 100 (a tie: the lower market first).
    s = three_markets().state
    assert close_plan(s, 0, 0, params(Partial.FRACTION)) == [Close(1, -30), Close(0, 1), Close(2, 2)]


def book(mode, legs, deposit, marks):
    """Account 0 in `mode` holding `legs` ((market, lots, price)), marked at `marks` afterwards."""
    ledger = Ledger().market(0).market(1).market(2)
    ledger.apply(accounts_opened(0, 1, Role.TRADER, mode)).accounts(1, 1, Role.MARKET_MAKER).deposit(0, deposit)
    for market, lots, price in legs:
        buyer, seller = (0, 1) if lots > 0 else (1, 0)
        ledger.emit(ev.TradeExecuted, market=market, buyer=buyer, seller=seller, lots=abs(lots), price_ticks=price,
                    buyer_fee=0, seller_fee=0, liquidation=False, maker_order=0, taker_order=0, taker_side=1)  # fmt: skip
    if mode is MarginMode.PORTFOLIO:  # SPAN, a 10 % range, full inter-commodity netting
        ledger.emit(ev.PortfolioMarginConfigured, method="span", scan_range_ppm=(100_000,) * 3,
                    inter_commodity_credit_ppm=1_000_000, extreme_multiple=2, extreme_cover_pct=35, es_window=2,
                    es_horizon=1, es_tail=1)  # fmt: skip
    for market, mark in enumerate(marks):
        ledger.mark(mark, market)
    return ledger.state


def test_incremental_liquidation_stops_once_maintenance_holds():
    # Cross: long 100 at 100, short 300 at 10, long 20 at 50 with 2,000; market 0 falls to 86: equity 600 < 630.
    s = book(MarginMode.CROSS, [(0, 100, 100), (1, -300, 10), (2, 20, 50)], 2_000, [86, 10, 50])
    equity, requirement = account_risk(s, np.array([0]))
    assert (int(equity[0]), int(requirement[0])) == (600, 630)
    incremental = params(Partial.NONE, multi_leg=MultiLeg.INCREMENTAL)
    # Flat 5 %: relief per unit of notional ties, the largest leg wins; one 20 % chunk (20 lots) restores maintenance.
    assert close_plan(s, 0, 0, incremental) == [Close(0, 20)]
    assert close_plan(s, 0, 0, params(Partial.NONE)) == [Close(0, 100), Close(1, -300), Close(2, 20)]


def test_incremental_liquidation_reduces_the_net_exposure_and_keeps_the_hedge():
    # Portfolio (SPAN over every market moving together, full netting): long 100 on market 0 against short 100 on
    # market 1, and long 40 on market 2, which fell to 85: equity 300 under the joint scan of the net long, 340.
    s = book(MarginMode.PORTFOLIO, [(0, 100, 100), (1, -100, 100), (2, 40, 100)], 900, [100, 100, 85])
    rows = np.array([0])
    assert [int(x[0]) for x in account_risk(s, rows)] == [300, 340]
    assert int(account_risk(s, rows, np.array([[100, -80, 40]]))[1][0]) == 540  # closing the short hedge raises it
    assert int(account_risk(s, rows, np.array([[80, -100, 40]]))[1][0]) == 140  # a chunk of the long lowers it most
    plan = incremental_plan(s, 0, params(Partial.NONE, multi_leg=MultiLeg.INCREMENTAL), [0, 1, 2])
    assert plan == [Close(0, 20)]  # then 300 - its cost >= 140: the hedge and the rest stay open


def test_every_market_held_is_guarded_the_breach_market_first():
    s = three_markets().state
    assert guard_markets(s, 0, 2) == [2, 0, 1]
    assert guard_markets(s, 1, 0) == [0, 1, 2]  # the maker holds the other sides
    assert guard_markets(long_ten().state, 0, 0) == [0]


def test_queue_keys_order_by_breach_health_or_size():
    assert set(PRIORITIES) == set(QueuePriority)
    assert queue_key(QueuePriority.FIFO, 10, 100, 5, 7) == (7, 7)
    assert queue_key(QueuePriority.WORST_HEALTH, 450, 493, 9_850, 7) == (912_778, 7)  # floor(450 / 493 in ppm)
    assert queue_key(QueuePriority.WORST_HEALTH, -5, 0, 1, 7) == (-5_000_000, 7)  # no requirement: divided by 1
    assert queue_key(QueuePriority.LARGEST, 0, 1, 900, 9) < queue_key(QueuePriority.LARGEST, 0, 1, 100, 1)
    assert queue_key("largest", 0, 1, 900, 9) == (-900, 9)  # the scenario's spelling finds the same policy
