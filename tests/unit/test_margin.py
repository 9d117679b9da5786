import numpy as np

from clearing.margin import below_maintenance, equity, maintenance_margin, notional


def a(*values):
    return np.array(values, dtype=np.int64)


def test_maintenance_margin_rounds_up_against_account():
    # 0.5 % of 1,000,001 minor units is 5,000.005 -> 5,001
    assert maintenance_margin(a(1_000_001), 5000).tolist() == [5001]
    assert maintenance_margin(a(1_000_000), 5000).tolist() == [5000]
    assert maintenance_margin(a(0), 5000).tolist() == [0]


def test_binance_flat_bracket_example():
    # Binance bracket 1 for BTCUSDT (venues.md 1.3): MMR 0.40 %, cum 0. A 1 BTC long at
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
    assert below_maintenance(cash, position, 95, 1, 50_000).tolist() == [False, False, False]
    assert below_maintenance(cash, position, 94, 1, 50_000).tolist() == [True, True, False]


def test_below_maintenance_for_a_short():
    # Short 1 lot sold at 100 with 10 margin: cash = 110. Requirement 5 % of notional.
    cash, position = a(110), a(-1)
    assert not below_maintenance(cash, position, 104, 1, 50_000)[0]  # equity 6 >= ceil(5.2) = 6
    assert below_maintenance(cash, position, 105, 1, 50_000)[0]  # equity 5 < ceil(5.25) = 6
