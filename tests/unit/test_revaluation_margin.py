"""Portfolio margin by full revaluation: SPAN risk arrays with the volatility leg, and Deribit's grid.

McMillan's textbook SPAN example (Options as a Strategic Investment, ch. 34): an S&P future
at $500 a point with a 20-point PSR ($10,000), its 16 risk arrays and a Dec 410 call's; the
requirements are $10,000 (long future), $3,990 (long call) and $6,620 (the covered write,
scenario 13). Deribit: a 15-day option's volatility shock is sqrt(30/15) x 40 % = 56.6 %;
with the 2024 powers (0.3 / 0.13) and ranges (up 0.5, down 0.25) the shocks at 1, 7, 15,
30, 60, 90 and 180 days are the table of the design notes. Sources: docs/references.md
[mcmillan-span], [span-scenario-table], [deribit-pm], [deribit-pm-history].
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from clearing.core.options.pricing import black76_price
from clearing.core.portfolio.es import (
    OptionLegs,
    es_requirement,
    ewma_variances,
    expected_shortfall,
    filtered_scenarios,
    scenario_pnl,
)
from clearing.core.portfolio.grid import NS_PER_DAY, GridParams, grid_requirement, price_moves, vol_shock
from clearing.core.portfolio.span import (
    future_arrays,
    intra_spread_charge,
    option_arrays,
    scanning_risk,
    scenarios,
    short_option_minimum,
    span_requirement,
)

# McMillan's published arrays, P/L (gain +), scenarios in CME order, the extreme rows at their 35 % cover.
FUTURE = [0, 0, 3330, 3330, -3330, -3330, 6670, 6670, -6670, -6670, 10000, 10000, -10000, -10000, 7000, -7000]
CALL_410 = [460, -610, 2640, 1730, -1270, -2340, 5210, 4540, -2540, -3430, 8060, 7640, -3380, -3990, 3130, -1500]


def test_mcmillan_span_requirements_from_the_published_risk_arrays():
    future, call = np.array([FUTURE], float), np.array([CALL_410], float)
    assert scanning_risk(future) == 10_000
    assert scanning_risk(call) == 3_990
    covered_write = np.vstack([future, -call])
    assert scanning_risk(covered_write) == 6_620  # scenario 13: -10,000 + 3,380
    assert int(np.argmin(covered_write.sum(axis=0))) == 12


def test_a_future_array_is_mcmillans_before_his_rounding_to_tens():
    # $500 a point, PSR 20 points: +1/3 is $3,333.33 (McMillan prints 3,330), the extreme 2 x PSR x 35 % = $7,000.
    array = future_arrays([500.0], 20.0, scenarios(2, 0.35))[0]
    assert np.allclose(array, FUTURE, atol=5)
    assert array[14] == pytest.approx(7_000) and array[12] == pytest.approx(-10_000)


def test_an_option_array_is_its_black76_revaluation_with_the_volatility_leg():
    table = scenarios()
    tau = 60 * NS_PER_DAY
    array = option_arrays([500.0], 410.0, 410.0, True, 0.15, tau, 20.0, 0.01, table)[0]
    now = black76_price(410.0, 410.0, 0.15, tau, True)
    assert array[0] == pytest.approx(500 * (black76_price(410.0, 410.0, 0.16, tau, True) - now))  # vol up, no move
    assert array[0] > 0 > array[1]  # a long call gains from volatility up, loses from it down
    assert array[2] > array[0] and array[12] < array[1]  # and from the price, up and down
    assert array[15] == pytest.approx(0.35 * 500 * (black76_price(370.0, 410.0, 0.15, tau, True) - now))
    short = option_arrays([-500.0], 410.0, 410.0, True, 0.15, tau, 20.0, 0.01, table)[0]
    assert np.allclose(short, -array)


def test_intra_spread_charge_and_short_option_minimum():
    # Long 10 Dec, short 6 Mar, long 1 Jun: 6 deltas are spread across tiers, at $150 each.
    assert intra_spread_charge([10, -6, 1], 150.0) == 900.0
    assert intra_spread_charge([4, 3], 150.0) == 0.0
    assert short_option_minimum(7, 25.0) == 175.0
    future = np.array([FUTURE], float)
    result = span_requirement([future], [[10, -6, 1]], [150.0], short_minimum=50.0)
    assert result.requirement == 10_900 and result.scanning == 10_000 and result.intra == 900
    assert span_requirement([np.zeros((1, 16))], short_minimum=175.0).requirement == 175.0  # the floor binds


def test_the_inter_commodity_credit_nets_correlated_underlyings_by_a_fraction():
    btc = future_arrays([1.0], 6_000.0, scenarios())  # long BTC, PSR 6,000
    eth = future_arrays([-20.0], 300.0, scenarios())  # short ETH, the same dollar scan
    alone = span_requirement([btc, eth]).requirement
    assert alone == pytest.approx(12_000)
    assert span_requirement([btc, eth], inter_credit=1.0).requirement == pytest.approx(0.0, abs=1e-6)
    assert span_requirement([btc, eth], inter_credit=0.7).requirement == pytest.approx(3_600)


def test_deribit_volatility_shock_of_a_15_day_option_is_56_6_percent():
    assert float(vol_shock(15, 0.40, 0.5, 0.5)) == pytest.approx(0.565685, abs=1e-6)
    assert float(vol_shock(30, 0.40, 0.5, 0.5)) == pytest.approx(0.40)
    factors = vol_shock([1, 7, 15, 30, 60, 90, 180], 1.0, 0.3, 0.13)
    assert np.round(factors, 4).tolist() == [2.7742, 1.5474, 1.2311, 1.0, 0.9138, 0.8669, 0.7922]
    assert np.round(vol_shock(15, 0.5, 0.3, 0.13), 4) == 0.6156  # the table's up shock


def test_the_standard_table_is_nine_points_of_four_percent():
    assert np.round(price_moves(0.16, 4), 10).tolist() == [-0.16, -0.12, -0.08, -0.04, 0.0, 0.04, 0.08, 0.12, 0.16]


def test_a_perpetual_is_margined_by_its_worst_move_and_the_initial_is_maintenance_over_0_8():
    result = grid_requirement(60_000.0, 2.0, [], [], [], [], [])  # long 2 BTC
    assert result.maintenance == pytest.approx(2 * 60_000 * 0.16) and result.worst_move == pytest.approx(-0.16)
    assert result.initial == pytest.approx(result.maintenance / 0.8)


def test_a_short_straddle_is_worst_at_a_big_move_with_volatility_up():
    tau = 10 * NS_PER_DAY
    result = grid_requirement(60_000.0, 0.0, [-1.0, -1.0], [60_000.0] * 2, [True, False], [0.5] * 2, [tau] * 2)
    assert result.worst_vol == 1 and abs(result.worst_move) == pytest.approx(0.16)
    hedged = grid_requirement(60_000.0, 0.0, [-1.0, 1.0], [60_000.0] * 2, [True, True], [0.5] * 2, [tau, 40 * NS_PER_DAY])
    assert hedged.maintenance < result.maintenance  # a calendar spread carries less risk than the naked straddle


def test_the_extended_table_catches_a_far_otm_short_put_at_its_weight():
    tau = 20 * NS_PER_DAY
    legs = ([-1.0], [30_000.0], [False], [0.6], [tau])
    standard = grid_requirement(60_000.0, 0.0, *legs)
    extended = grid_requirement(60_000.0, 0.0, *legs, GridParams(extended_weight=0.5))
    assert extended.extended and extended.worst_move == pytest.approx(-0.66)
    assert extended.maintenance > standard.maintenance


@given(
    size=st.floats(-5, 5).filter(lambda x: abs(x) > 1e-3),
    strike=st.floats(40_000, 80_000),
    vol=st.floats(0.2, 1.5),
    days=st.floats(0.5, 200),
)
def test_a_long_option_never_needs_more_than_its_premium(size, strike, vol, days):
    # The worst a long option can lose is what it is worth.
    tau = int(days * NS_PER_DAY)
    premium = float(black76_price(60_000.0, strike, vol, tau, True))
    long = grid_requirement(60_000.0, 0.0, [abs(size)], [strike], [True], [vol], [tau])
    assert 0 <= long.maintenance <= abs(size) * premium * (1 + 1e-9) + 1e-9


# Expected shortfall by filtered historical simulation ---------------------------------------------


def test_ewma_variances_follow_the_riskmetrics_recursion():
    r = np.array([[0.01], [-0.02], [0.03]])
    var, now = ewma_variances(r, 0.94)
    seed = (0.01**2 + 0.02**2 + 0.03**2) / 3  # the first 25 rows: all three here
    second = 0.94 * seed + 0.06 * 0.01**2
    third = 0.94 * second + 0.06 * 0.02**2
    assert var[:, 0].tolist() == pytest.approx([seed, second, third])
    assert now[0] == pytest.approx(0.94 * third + 0.06 * 0.03**2)


def test_filtering_scales_calm_history_up_to_a_volatile_present():
    calm, wild = np.full(50, 0.01), np.full(10, 0.05)
    r = np.concatenate([calm * np.resize([1, -1], 50), wild * np.resize([1, -1], 10)])[:, None]
    scaled = filtered_scenarios(r, 0.94)
    assert abs(scaled[0, 0]) > 2 * abs(r[0, 0])  # an old calm day is rescaled to today's higher volatility
    assert np.allclose(filtered_scenarios(np.zeros((5, 1)), 0.94), 0.0)


def test_expected_shortfall_is_the_mean_of_the_tail():
    losses = np.arange(1, 1001, dtype=float)
    assert expected_shortfall(losses, 0.975) == pytest.approx(np.arange(976, 1001).mean())  # 25 worst of 1,000: 988
    assert expected_shortfall(np.arange(2500, dtype=float), 1 - 6 / 2500) == pytest.approx(np.arange(2494, 2500).mean())


def test_joint_scenarios_keep_the_hedge_and_per_market_ones_would_not():
    rng = np.random.default_rng(7)
    btc = rng.normal(0, 0.03, 500)
    joint = np.column_stack([btc, btc])  # BTC and ETH moving together, row by row
    prices = [60_000.0, 3_000.0]
    hedged = [1.0, -20.0]  # long 1 BTC, short 20 ETH: the same dollars
    assert es_requirement(prices, hedged, joint).requirement == pytest.approx(0.0, abs=1e-6)
    alone = es_requirement([60_000.0], [1.0], btc[:, None]).requirement
    assert alone > 1_000 and es_requirement(prices, [1.0, 0.0], joint).requirement == pytest.approx(alone)


def test_the_stress_scenarios_floor_a_calm_lookback():
    calm = np.resize([0.001, -0.001], 250)[:, None]
    crash = np.array([[-0.10], [-0.15], [0.05]])
    result = es_requirement([60_000.0], [1.0], calm, alpha=0.99, stress_returns=crash)
    assert result.stress == pytest.approx(60_000 * 0.15) and result.requirement == result.stress > result.filtered


def test_options_are_revalued_in_each_joint_scenario():
    legs = OptionLegs(np.array([0]), np.array([-1.0]), np.array([60_000.0]), np.array([False]), np.array([0.6]),
                      np.array([7 * NS_PER_DAY]))  # fmt: skip
    r = np.array([[-0.2], [0.0], [0.2]])
    pnl = scenario_pnl([60_000.0], [0.0], r, legs)
    put_now = float(black76_price(60_000.0, 60_000.0, 0.6, 7 * NS_PER_DAY, False))
    put_down = float(black76_price(48_000.0, 60_000.0, 0.6, 7 * NS_PER_DAY, False))
    assert pnl.tolist() == pytest.approx([-(put_down - put_now), 0.0, pnl[2]])
    assert pnl[0] < 0 < pnl[2]  # a short put loses in the fall and keeps part of its premium in the rise
