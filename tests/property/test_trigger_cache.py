"""The monitor's cached liquidation-price check finds exactly the accounts the full check finds.

Random traders under Binance's ten brackets (docs/references.md [binance-brackets-2021]),
then random steps: the mark moves, some cash changes (funding, deposits), some positions
change, a collateral price moves. After every step `TriggerCache.breached` must equal
`breached_accounts`, the full vectorised check over every row's margin cash
(`tests/unit/margin_reference.py`), both when it compares every row and when it reads only
the rows the reducers touched (`ClearingState.touched`, as the margin monitor does), and
then computes the margin cash of those rows only.
"""

from hypothesis import given, settings
from hypothesis import strategies as st

from clearing import events as ev
from clearing.core.state.schema import TOUCHED_ALL, Role
from clearing.sim.margin_monitor import TriggerCache
from tests.builders import bus_with, deposited, mark_price_updated, trade
from tests.unit.margin_reference import breached_accounts

FLOORS = [0, 50_000, 250_000, 1_000_000, 10_000_000, 20_000_000]
RATES = [4_000, 5_000, 10_000, 25_000, 50_000, 100_000]
N = 25

steps = st.lists(
    st.one_of(
        st.tuples(st.just("mark"), st.integers(1, 400)),
        st.tuples(st.just("deposit"), st.integers(0, N - 1), st.integers(1, 50_000)),
        st.tuples(st.just("trade"), st.integers(0, N - 1), st.integers(-300, 300), st.integers(50, 200)),
        st.tuples(st.just("collateral"), st.integers(1, 300)),
        st.tuples(st.just("funding"), st.integers(0, N - 1), st.integers(0, N - 1), st.integers(1, 5_000)),
    ),
    min_size=1,
    max_size=25,
)


@settings(max_examples=600, deadline=None)
@given(book=st.lists(st.tuples(st.integers(-500, 500), st.integers(0, 40_000), st.integers(0, 2_000)), min_size=N,
                     max_size=N), walk=steps)  # fmt: skip
def test_the_cached_check_equals_the_full_check(book, walk):
    collateral_listed = [
        ev.CollateralListed(ts_ns=0, asset=0, symbol="USDE", decimals=0, haircut_ppm=20_000),
        ev.CollateralPriceDelivered(ts_ns=0, asset=0, price_ticks=100, ts_source_ns=0, ts_published_ns=0),
    ]
    # Traders 0 .. N - 1 and the maker N.
    bus = bus_with(N, (1, Role.MARKET_MAKER), maintenance_margin_ppm=RATES[0], bracket_floors=tuple(FLOORS),
                   bracket_rates_ppm=tuple(RATES), then=[*collateral_listed, deposited(N, 10**12)])  # fmt: skip
    emit = bus.emit
    s = bus.state

    def hold(account, lots, price):  # the maker takes the other side
        if lots:
            buyer, seller = (account, N) if lots > 0 else (N, account)
            emit(trade(buyer, seller, abs(lots), price))

    for account, (lots, cash, collateral) in enumerate(book):
        if cash:
            emit(deposited(account, cash))
        if collateral:
            emit(ev.CollateralDeposited(ts_ns=0, account=account, asset=0, amount=collateral))
        hold(account, lots, 100)
    emit(mark_price_updated(100))
    # Each twice: with the direct check once two rows changed (so that most steps take it) and with prices only.
    caches = [(TriggerCache(0, direct_share=N // 2, rebuild_after=3), TriggerCache(0, direct_share=N // 2, rebuild_after=3)),
              (TriggerCache(0, direct_share=0), TriggerCache(0, direct_share=0))]  # fmt: skip
    s.touched = None
    for step in [("mark", 100), *walk]:
        if step[0] == "mark":
            emit(mark_price_updated(step[1]))
        elif step[0] == "deposit":
            emit(deposited(step[1], step[2]))
        elif step[0] == "trade":
            hold(step[1], step[2], step[3])
        elif step[0] == "funding":
            if step[1] != step[2]:  # one pays the other
                emit(ev.FundingPaid(ts_ns=0, market=0, accounts=(step[1], step[2]), amounts=(-step[3], step[3]),
                                    final=True))  # fmt: skip
        else:
            emit(ev.CollateralPriceDelivered(ts_ns=0, asset=0, price_ticks=step[1], ts_source_ns=0, ts_published_ns=0))
        backing = s.margin_cash()
        expected = breached_accounts(s, 0, backing).tolist()
        touched, s.touched = [TOUCHED_ALL] if s.touched is None else s.touched, []
        for cache, journaled in caches:
            assert cache.breached(s).tolist() == expected
            assert journaled.breached(s, touched).tolist() == expected
