"""Every liquidation path conserves money exactly, whatever the waterfall settings.

Random books of leveraged positions against a maker, then a random crash of the mark, then
every account below maintenance is liquidated under a random combination of execution
mode, partial policy, fund caps and what comes after the fund. The laws must hold with ==.
"""

import numpy as np
from hypothesis import event, given, settings
from hypothesis import strategies as st

from clearing import events as ev
from clearing.core.invariants import violations
from clearing.core.liquidation.params import AdlRanking, AfterFund, Execution, LiquidationParams, Partial
from clearing.core.margin import maintenance_amounts, notional
from clearing.core.state import ClearingState
from clearing.core.state.schema import Role
from clearing.log.writer import MemorySink
from clearing.sim.bus import EventBus
from clearing.sim.exchange import Exchange
from clearing.sim.liquidator import liquidate
from tests.unit.margin_reference import breached_accounts, equity

TRADERS = 12
BACKSTOP = TRADERS
MAKER = TRADERS + 1

positions = st.lists(
    st.tuples(st.integers(1, 500), st.sampled_from([2, 5, 10, 20, 50]), st.booleans()), min_size=2, max_size=TRADERS
)


@settings(max_examples=300, deadline=None)
@given(
    positions=positions,
    crash=st.integers(-60, 60),
    execution=st.sampled_from([e for e in Execution if e != Execution.FUND]),
    after_fund=st.sampled_from(list(AfterFund)),
    ranking=st.sampled_from(list(AdlRanking)),
    partial=st.sampled_from(list(Partial)),
    fund=st.integers(0, 50_000),
    cap=st.integers(0, 5_000),
    depth=st.integers(0, 300),
)
def test_liquidations_conserve_money_under_every_waterfall(
    positions, crash, execution, after_fund, ranking, partial, fund, cap, depth
):
    bus = EventBus(ClearingState(), MemorySink())
    exchange = Exchange(bus, "expire_maker")
    emit = bus.emit
    emit(ev.MarketListed(ts_ns=0, market=0, symbol="X", tick_size="1", lot_size="1", quote_decimals=0, unit_value=1,
                         maintenance_margin_ppm=20_000, liquidation_fee_ppm=10_000, taker_fee_ppm=0, maker_fee_ppm=0,
                         bracket_floors=(0, 20_000), bracket_rates_ppm=(20_000, 40_000)))  # fmt: skip
    emit(ev.AccountsOpened(ts_ns=0, first_account=0, count=TRADERS, role=Role.TRADER.label))
    emit(ev.AccountsOpened(ts_ns=0, first_account=BACKSTOP, count=1, role=Role.LIQUIDITY_PROVIDER.label))
    emit(ev.AccountsOpened(ts_ns=0, first_account=MAKER, count=1, role=Role.MARKET_MAKER.label))
    emit(ev.Deposited(ts_ns=0, account=BACKSTOP, amount=10**12))
    emit(ev.Deposited(ts_ns=0, account=MAKER, amount=10**12))
    if fund:
        emit(ev.InsuranceFundDeposited(ts_ns=0, amount=fund))
    if cap:
        emit(ev.InsuranceFundConfigured(ts_ns=0, max_per_event=cap, max_per_period=0, period_ns=0))
    emit(ev.MarkPriceUpdated(ts_ns=0, market=0, price_ticks=100, index_ticks=100, method="oracle"))
    for account, (lots, leverage, long) in enumerate(positions):
        emit(ev.Deposited(ts_ns=0, account=account, amount=lots * 100 // leverage + 1))
        buyer, seller = (account, MAKER) if long else (MAKER, account)
        emit(ev.TradeExecuted(ts_ns=0, market=0, buyer=buyer, seller=seller, lots=lots, price_ticks=100, buyer_fee=0,
                              seller_fee=0, liquidation=False, maker_order=0, taker_order=0, taker_side=1))  # fmt: skip
    if depth:
        bids = tuple((p, depth) for p in range(99 + min(crash, 0), 60 + min(crash, 0), -5) if p > 0)
        asks = tuple((p, depth) for p in range(101 + max(crash, 0), 140 + max(crash, 0), 5))
        emit(ev.QuotesReplaced(ts_ns=0, account=MAKER, market=0, first_order_id=bus.state.next_order_id, bids=bids,
                               asks=asks, reference_ticks=100, volatility_ppm=0))  # fmt: skip
    mark = max(1, 100 + crash)
    seq = emit(ev.MarkPriceUpdated(ts_ns=1, market=0, price_ticks=mark, index_ticks=mark, method="oracle"))
    params = LiquidationParams(1_000, 10**6, 250_000, execution, after_fund, ranking, partial, 500_000, 0, 0, 0, 666_667)
    s = bus.state
    for round_ in range(3):  # partial liquidations leave a rest for the next round
        backing = s.margin_cash()
        for account in breached_accounts(s, 0, backing).tolist():
            one = s.position[account : account + 1, 0]
            breach = emit(
                ev.MarginBreached(ts_ns=2 + round_, causes=(seq,), account=account, market=0, mark_ticks=mark,
                                  equity=int(equity(backing[account : account + 1], one, mark, 1)[0]),
                                  requirement=int(maintenance_amounts(notional(one, mark, 1), s.brackets[0])[0]))
            )  # fmt: skip
            liquidate(exchange, 2 + round_, account, 0, breach, BACKSTOP, params)
            assert violations(s) == []
    assert violations(s) == []
    # Every closed lot went through exactly one stage: the book, ADL or the backstop.
    assert s.liquidated_notional_book + s.adl_notional + s.liquidated_notional_backstop == s.liquidated_notional
    event(
        f"liquidations {min(s.liquidations, 3)}+, adl {s.adl_events > 0}, socialised {s.socialised_loss > 0}, bad debt {s.bad_debt > 0}"
    )
    assert s.insurance_fund >= 0 and int(np.abs(s.position[:, 0]).sum()) % 2 == 0
