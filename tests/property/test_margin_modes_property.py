"""Every margin mode conserves money exactly through every liquidation path, on two markets.

Random books of leveraged traders on two markets (isolated accounts hold one market,
cross and portfolio ones hold both) against a maker, a random move of both marks, then
every account below its requirement is liquidated under a random execution mode (the
insurance fund's take-over included, then its unwind), waterfall and portfolio method.
The laws must hold with ==, and every closed lot goes through exactly one stage. The same
holds when a multi-market account is reduced incrementally (Deribit's chunks, best relief
per unit of cost first) instead of closed whole.
"""

import numpy as np
from hypothesis import event, given, settings
from hypothesis import strategies as st

from clearing import events as ev
from clearing.core.invariants import violations
from clearing.core.liquidation.params import AfterFund, Execution, LiquidationParams, MultiLeg, Partial
from clearing.core.state.schema import MarginMode, Role
from clearing.sim.exchange import Exchange
from clearing.sim.liquidator import liquidate, offload
from clearing.sim.risk import Risk
from tests.builders import bus_with, deposited, insurance_fund_deposited, mark_price_updated, quotes, trade

TRADERS = 10
BACKSTOP, MAKER, FUND = TRADERS, TRADERS + 1, TRADERS + 2
LISTING = {"maintenance_margin_ppm": 20_000, "liquidation_fee_ppm": 10_000, "taker_fee_ppm": 500,
           "bracket_floors": (0, 20_000), "bracket_rates_ppm": (20_000, 40_000)}  # fmt: skip

books = st.lists(
    st.tuples(st.integers(-300, 300), st.integers(-300, 300), st.sampled_from([2, 5, 10, 20])), min_size=2, max_size=TRADERS
)


@settings(max_examples=250, deadline=None)
@given(
    book=books,
    moves=st.tuples(st.integers(-40, 40), st.integers(-40, 40)),
    mode=st.sampled_from(["isolated", "cross", "portfolio"]),
    method=st.sampled_from(["span", "es"]),
    credit=st.integers(0, 1_000_000),
    execution=st.sampled_from(list(Execution)),
    after_fund=st.sampled_from(list(AfterFund)),
    fund=st.sampled_from([0, 2_000, 20_000, 200_000]),
    limit=st.sampled_from([1, 250_000, 1_000_000, 3_000_000]),
    depth=st.integers(0, 200),
    multi_leg=st.sampled_from(list(MultiLeg)),
)
def test_every_margin_mode_conserves_money(book, moves, mode, method, credit, execution, after_fund, fund, limit, depth,
                                           multi_leg):  # fmt: skip
    # Accounts 0 .. TRADERS - 1 are the traders, then BACKSTOP, MAKER and FUND.
    setup = [mark_price_updated(100, 0), mark_price_updated(100, 1), deposited(BACKSTOP, 10**12), deposited(MAKER, 10**12)]
    bus = bus_with((TRADERS, Role.TRADER, MarginMode.of(mode)), (1, Role.LIQUIDITY_PROVIDER), (1, Role.MARKET_MAKER),
                   (1, Role.INSURANCE_FUND), markets=2, then=setup, **LISTING)  # fmt: skip
    exchange = Exchange(bus, "expire_maker")
    emit = bus.emit
    if fund:
        emit(insurance_fund_deposited(fund))
    for account, (lots_a, lots_b, leverage) in enumerate(book):
        legs = [(0, lots_a), (1, lots_b)] if mode != "isolated" else [(account % 2, lots_a or lots_b)]
        gross = sum(abs(lots) for _m, lots in legs)
        if not gross:
            continue
        emit(deposited(account, gross * 100 // leverage + 1))
        for market, lots in legs:
            if lots:
                buyer, seller = (account, MAKER) if lots > 0 else (MAKER, account)
                emit(trade(buyer, seller, abs(lots), 100, market=market))
    marks = [max(1, 100 + move) for move in moves]
    if depth:
        for market, move in enumerate(moves):
            bids = tuple((p, depth) for p in range(99 + min(move, 0), 60 + min(move, 0), -5) if p > 0)
            asks = tuple((p, depth) for p in range(101 + max(move, 0), 140 + max(move, 0), 5))
            emit(quotes(bus.state, MAKER, bids, asks, market=market))
    emit(ev.PortfolioMarginConfigured(ts_ns=0, method=method, scan_range_ppm=(100_000, 150_000),
                                      inter_commodity_credit_ppm=credit, extreme_multiple=2, extreme_cover_pct=35,
                                      es_window=4, es_horizon=1, es_tail=2))  # fmt: skip
    for step in range(5):  # a short history for expected shortfall: the marks drifting to their new level
        emit(ev.ReturnWindowSampled(ts_ns=0, prices_ticks=tuple(100 + (m - 100) * step // 4 for m in marks)))
    risk = Risk(bus)
    seqs = [emit(mark_price_updated(p, m, ts_ns=1)) for m, p in enumerate(marks)]
    params = LiquidationParams(1_000, 10**6, 250_000, execution, after_fund, partial=Partial.NONE, fund_limit_ppm=limit,
                               partial_fraction_ppm=300_000, multi_leg=multi_leg)  # fmt: skip
    s = bus.state
    for round_ in range(2):
        for market in (0, 1):
            for account in risk.breached(market).tolist():
                equity, requirement = risk.measure(np.array([account]))
                breach = emit(
                    ev.MarginBreached(ts_ns=2 + round_, causes=(seqs[market],), account=account, market=market,
                                      mark_ticks=marks[market], equity=int(equity[0]), requirement=int(requirement[0]))
                )  # fmt: skip
                before, held = s.liquidations, s.position[account].copy()
                liquidate(exchange, 2 + round_, account, market, breach, BACKSTOP, params, fund_account=FUND)
                assert violations(s) == []
                if s.liquidations > before and multi_leg is MultiLeg.WHOLE:  # no partial policy: every leg is closed
                    assert not s.position[account].any()
                if s.liquidations > before and s.position[account].any():
                    event("an incremental liquidation left legs open")
                after = s.position[account]  # a liquidation only reduces: no leg grows or flips
                assert ((after == 0) | (np.sign(after) == np.sign(held))).all() and (np.abs(after) <= np.abs(held)).all()
        offload(exchange, 2 + round_, FUND, 5_000, 250_000)
        assert violations(s) == []
    stages = s.liquidated_notional_book + s.adl_notional + s.liquidated_notional_backstop + s.liquidated_notional_fund
    assert stages == s.liquidated_notional
    assert s.insurance_fund >= 0
    event(f"{multi_leg}")
    event(f"{mode}, {execution}: liquidations {min(s.liquidations, 3)}+, fund fills {s.liquidation_fills_fund > 0}")
