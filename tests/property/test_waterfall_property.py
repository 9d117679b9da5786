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
from clearing.core.state.schema import Role
from clearing.sim.exchange import Exchange
from clearing.sim.liquidator import liquidate
from tests.builders import bus_with, deposited, insurance_fund_deposited, mark_price_updated, quotes, trade
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
    # Accounts 0 .. TRADERS - 1 are the traders, then BACKSTOP and MAKER.
    bus = bus_with(TRADERS, (1, Role.LIQUIDITY_PROVIDER), (1, Role.MARKET_MAKER), maintenance_margin_ppm=20_000,
                   liquidation_fee_ppm=10_000, bracket_floors=(0, 20_000), bracket_rates_ppm=(20_000, 40_000),
                   then=[deposited(BACKSTOP, 10**12), deposited(MAKER, 10**12)])  # fmt: skip
    exchange = Exchange(bus, "expire_maker")
    emit = bus.emit
    if fund:
        emit(insurance_fund_deposited(fund))
    if cap:
        emit(ev.InsuranceFundConfigured(ts_ns=0, max_per_event=cap, max_per_period=0, period_ns=0))
    emit(mark_price_updated(100))
    for account, (lots, leverage, long) in enumerate(positions):
        emit(deposited(account, lots * 100 // leverage + 1))
        buyer, seller = (account, MAKER) if long else (MAKER, account)
        emit(trade(buyer, seller, lots, 100))
    if depth:
        bids = tuple((p, depth) for p in range(99 + min(crash, 0), 60 + min(crash, 0), -5) if p > 0)
        asks = tuple((p, depth) for p in range(101 + max(crash, 0), 140 + max(crash, 0), 5))
        emit(quotes(bus.state, MAKER, bids, asks))
    mark = max(1, 100 + crash)
    seq = emit(mark_price_updated(mark, ts_ns=1))
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
