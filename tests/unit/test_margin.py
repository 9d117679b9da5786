import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clearing.core.margin import (
    Brackets,
    bankruptcy_price,
    bracket_cums,
    liquidation_price,
    maintenance_amounts,
    maintenance_margin,
    notional,
)
from clearing.core.rates import initial_margin_ppm
from tests.unit.margin_reference import below_maintenance, equity

FIVE = Brackets.flat(50_000)  # one bracket at 5 %
USDT = 10**6  # minor units per USDT


def a(*values):
    return np.array(values, dtype=np.int64)


def test_maintenance_margin_rounds_up_against_account():
    # 0.5 % of 1,000,001 minor units is 5,000.005 -> 5,001
    assert maintenance_margin(a(1_000_001), 5000).tolist() == [5001]
    assert maintenance_margin(a(1_000_000), 5000).tolist() == [5000]
    assert maintenance_margin(a(0), 5000).tolist() == [0]


def test_binance_flat_bracket_example():
    # Binance bracket 1 for BTCUSDT (docs/references.md [binance-brackets-2021]): MMR 0.40 %, cum 0. A 1 BTC long at
    # 50,000 USDT has maintenance margin 200 USDT. Units: tick 0.1, lot 0.001, 6 decimals
    # -> unit value 100 minor units per lot-tick.
    lots, price, uv = a(1000), 500_000, 100
    n = notional(lots, price, uv)
    assert n.tolist() == [50_000_000_000]
    assert maintenance_margin(n, 4000).tolist() == [200_000_000]


def test_equity_uses_cash_minus_cost_convention():
    # Long 1 lot bought at 100 ticks with 10 units of margin: cash = 10 - 100 = -90.
    assert equity(a(-90), a(1), 99, 1).tolist() == [9]
    assert equity(a(-90), a(1), 90, 1).tolist() == [0]


def test_below_maintenance_boundary_is_strict_and_ignores_flat_accounts():
    cash = a(-90, -90, 5)
    position = a(1, 1, 0)
    # At 95: equity 5, requirement ceil(95 * 5 %) = 5 -> not below; at 94: 4 < 5 -> below.
    assert below_maintenance(cash, position, 95, 1, FIVE).tolist() == [False, False, False]
    assert below_maintenance(cash, position, 94, 1, FIVE).tolist() == [True, True, False]


def test_below_maintenance_for_a_short():
    # Short 1 lot sold at 100 with 10 margin: cash = 110. Requirement 5 % of notional.
    cash, position = a(110), a(-1)
    assert not below_maintenance(cash, position, 104, 1, FIVE)[0]  # equity 6 >= ceil(5.2) = 6
    assert below_maintenance(cash, position, 105, 1, FIVE)[0]  # equity 5 < ceil(5.25) = 6


# Binance BTCUSDT brackets (docs/references.md [binance-brackets-2021]): floors and rates as published.
BINANCE_FLOORS = [0, 50_000, 250_000, 1_000_000, 10_000_000, 20_000_000, 50_000_000, 100_000_000, 200_000_000, 300_000_000]
BINANCE_RATES_PPM = [4_000, 5_000, 10_000, 25_000, 50_000, 100_000, 125_000, 150_000, 250_000, 500_000]
BINANCE_CUMS = [0, 50, 1_300, 16_300, 266_300, 1_266_300, 2_516_300, 5_016_300, 25_016_300, 100_016_300]


def binance():
    return Brackets.of([f * USDT for f in BINANCE_FLOORS], BINANCE_RATES_PPM)


def test_binance_maintenance_amounts_follow_the_published_table():
    assert (bracket_cums(np.array(BINANCE_FLOORS) * USDT, np.array(BINANCE_RATES_PPM)) == np.array(BINANCE_CUMS) * USDT).all()


def test_binance_requirement_is_continuous_at_every_bracket_edge():
    brackets = binance()
    for floor, rate, cum in zip(BINANCE_FLOORS[1:], BINANCE_RATES_PPM[1:], BINANCE_CUMS[1:], strict=True):
        edge = floor * USDT
        below, at, above = maintenance_amounts(a(edge - 1, edge, edge + 1), brackets).tolist()
        assert below <= at <= above and above - below <= 1
        assert (
            maintenance_amounts(a(edge + 10**6 * USDT // 100), brackets)[0]
            == -(-(edge + 10**4 * USDT) * rate // 10**6) - cum * USDT
        )


def test_a_one_million_usdt_position_uses_the_third_bracket():
    # 1,000,000 USDT is the cap of bracket 3 (1 %, cum 1,300): 10,000 - 1,300 = 8,700 USDT.
    assert maintenance_amounts(a(1_000_000 * USDT), binance()).tolist() == [8_700 * USDT]
    # 2,000,000 USDT: bracket 4 (2.5 %, cum 16,300): 50,000 - 16,300 = 33,700 USDT.
    assert maintenance_amounts(a(2_000_000 * USDT), binance()).tolist() == [33_700 * USDT]


def test_brackets_must_be_well_formed():
    with pytest.raises(ValueError, match="ascending from 0"):
        Brackets.of([10, 20], [1, 2])
    with pytest.raises(ValueError, match="not decreasing"):
        Brackets.of([0, 20], [5, 1])
    with pytest.raises(ValueError, match="whole number"):
        Brackets.of([0, 3], [0, 1])


def test_bitmex_bankruptcy_price_of_the_worked_example():
    # BitMEX (docs/references.md [bitmex-liquidation]): long 1 @ 100.00 with 1.00 of margin -> bankrupt at 99.00.
    # Cents as ticks, one contract as a lot: cash = 1.00 - 100.00 = -99.00.
    assert bankruptcy_price(a(-9900), a(1), 1).tolist() == [9900]
    # The short twin: sold 1 @ 100.00 with 1.00 of margin -> cash 101.00, bankrupt at 101.00.
    assert bankruptcy_price(a(10100), a(-1), 1).tolist() == [10100]
    assert bankruptcy_price(a(50), a(0), 1).tolist() == [0]


@given(st.integers(-(10**12), 10**12), st.integers(-(10**6), 10**6).filter(bool), st.sampled_from([1, 7, 100]))
def test_closing_at_the_bankruptcy_price_never_needs_the_fund(backing, lots, unit_value):
    price = int(bankruptcy_price(a(backing), a(lots), unit_value)[0])
    assert backing + lots * price * unit_value >= 0 or price == 1
    worse = price - 1 if lots > 0 else price + 1
    if worse >= 1:
        assert backing + lots * worse * unit_value < 0


def test_binance_style_liquidation_price_of_a_10x_long():
    # Long 1 BTC at 10,000 USDT with a 1,000 USDT wallet, MMR 0.4 %: LP = (1000 - 10000) / (0.004 - 1)
    # = 9,036.14 USDT. Tick 0.1 USDT, lot 0.001 BTC, 6 decimals: unit value 100.
    backing = 1_000 * USDT - 1_000 * 100_000 * 100
    flat = Brackets.flat(4_000)
    assert liquidation_price(a(backing), a(1_000), 100, flat).tolist() == [90_361]


@given(
    st.integers(1, 10**6),
    st.sampled_from([1, -1]),
    st.integers(2, 120),
    st.integers(50_000, 300_000),
)
def test_liquidation_price_is_the_edge_of_maintenance_with_bracket_switches(lots, side, leverage, entry):
    # Binance BTCUSDT brackets, entry in ticks of 0.1 USDT, unit value 100 (micro-USDT).
    brackets = binance()
    notional = lots * entry * 100
    backing = notional // leverage - side * notional
    position = a(side * lots)
    price = int(liquidation_price(a(backing), position, 100, brackets)[0])
    if price <= 0:
        return  # a long that no positive price liquidates
    assert below_maintenance(a(backing), position, price, 100, brackets)[0]
    healthy = price + 1 if side > 0 else price - 1
    if healthy >= 1:
        assert not below_maintenance(a(backing), position, healthy, 100, brackets)[0]


def test_dydx_open_interest_scaled_initial_margin():
    # IMF 5 %; open notional 30M between caps 20M and 50M: 5 % + 1/3 x 95 % = 36.67 % (rounded up).
    assert initial_margin_ppm(50_000, a(1), 30 * USDT * 10**6, 0, 20 * USDT * 10**6, 50 * USDT * 10**6).tolist() == [366_667]
    assert initial_margin_ppm(50_000, a(1), 60 * USDT * 10**6, 0, 20 * USDT * 10**6, 50 * USDT * 10**6).tolist() == [1_000_000]
    assert initial_margin_ppm(50_000, a(1), 10 * USDT * 10**6, 0, 20 * USDT * 10**6, 50 * USDT * 10**6).tolist() == [50_000]
    assert initial_margin_ppm(50_000, a(1), 10**15).tolist() == [50_000]  # no caps: off


def test_drift_size_premium_grows_with_the_square_root_of_size():
    # max(rate, 0.8 x rate + premium x ceil(sqrt(size))): 5 %, premium 0.1 % per root lot.
    assert initial_margin_ppm(50_000, a(1, 100, 10_000, 10_001), 0, 1_000).tolist() == [50_000, 50_000, 140_000, 141_000]


def test_cross_liquidation_price_is_binances_cross_formula():
    # docs/references.md [binance-liq-price]: LP = (WB - TMM1 + UPNL1 + cum - side x |q| x EP) / (|q| x MMR - side x |q|).
    # Wallet 10,000, long 1 at 50,000 (tick 0.01 USDT: unit value 1 minor unit of 0.01), another
    # market's contract with +500 unrealised PnL and 200 maintenance, 0.4 %: LP = 39,859.43.
    from clearing.core.margin import Brackets, cross_backing, liquidation_price

    cents = 100
    other = Brackets.flat(20_000)  # 2 % of the other position's 10,000 value = 200
    this = Brackets.flat(4_000)
    # Ledger cash = wallet - this position's cost - the other's cost (9,500: it is worth 10,000).
    cash = np.array([(10_000 - 50_000 - 9_500) * cents], np.int64)
    values = np.array([[50_000 * cents, 10_000 * cents]], np.int64)  # this at its entry price, the other at its mark
    backing = cross_backing(cash, values, [this, other], 0)
    assert backing.tolist() == [(10_000 - 50_000 + 500 - 200) * cents]
    # Exactly 39,859.4378...: the highest cent below it, where the account is under maintenance.
    assert liquidation_price(backing, np.array([1]), 1, this).tolist() == [3_985_943]


@settings(max_examples=300, deadline=None)
@given(
    rows=st.lists(st.tuples(st.integers(-(10**13), 10**13), st.integers(-(10**7), 10**7)), min_size=1, max_size=30),
    unit_value=st.sampled_from([1, 100, 10_000]),
)
def test_the_vectorised_liquidation_price_is_the_exact_fixed_point(rows, unit_value):
    # Every row, int64 or not, equals the fixed point computed in Python integers.
    from clearing.core.margin import liquidation_price_exact

    brackets = binance()
    backing = np.array([b for b, _ in rows], np.int64)
    position = np.array([q for _, q in rows], np.int64)
    got = liquidation_price(backing, position, unit_value, brackets).tolist()
    want = [liquidation_price_exact(b, q, unit_value, brackets) if q else 0 for b, q in rows]
    assert got == want
