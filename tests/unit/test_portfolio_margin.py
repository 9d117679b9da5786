import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clearing.core.margin import (
    expected_shortfall_requirement,
    historical_returns_ppm,
    span_requirement,
    span_scenarios,
)


def _span(values, psr_ppm, credit_ppm=0, multiple=2):
    values = np.array(values, np.int64)
    scenarios = span_scenarios(values.shape[1], extreme_multiple=multiple)
    return span_requirement(values, np.array(psr_ppm, np.int64), scenarios, credit_ppm).tolist()


def test_span_table_is_cmes_sixteen_scenarios():
    scenarios = span_scenarios(1)
    assert scenarios.moves_thirds[:, 0].tolist() == [0, 0, 1, 1, -1, -1, 2, 2, -2, -2, 3, 3, -3, -3, 6, -6]
    assert scenarios.vol.tolist() == [1, -1] * 7 + [0, 0]
    assert scenarios.weights_pct.tolist() == [100] * 14 + [35, 35]


def test_span_tv_s1_extreme_move_counts_at_its_cover_fraction():
    # docs/references.md [span-scenario-table], [cme-span]: PSR 10,000; the extreme scenario loses 0.35 x 2 x 10,000 = 7,000,
    # so the full scan range (10,000) is the worst case. Value 100,000 at a 10 % scan range.
    assert _span([[100_000], [-100_000]], [100_000]) == [10_000, 10_000]
    # At CME's 3x multiple the extreme move dominates: 0.35 x 3 x 10,000 = 10,500.
    assert _span([[100_000]], [100_000], multiple=3) == [10_500]


def test_span_rounds_each_market_loss_up():
    # A third of a 10 % range on value 100 is 3.33.. -> the 1/3 scenarios lose 4, the full range 10.
    assert _span([[100]], [100_000]) == [10]
    assert _span([[1]], [100_000]) == [1]  # 0.1 rounds up to 1


def test_span_inter_commodity_credit_nets_a_hedge():
    # Long BTC, short ETH of equal scan risk: 10,000 each alone, 0 when they move together.
    hedge = [[100_000, -50_000]]
    psr = [100_000, 200_000]
    assert _span(hedge, psr, credit_ppm=0) == [20_000]
    # Jointly, each leg's loss rounds up on its own: at +1/3 PSR, -3,333 + 3,334 = 1 (against
    # the account), so joint = 1 and the credit is floor(70 % x 19,999) = 13,999.
    assert _span(hedge, psr, credit_ppm=700_000) == [6_001]
    assert _span(hedge, psr, credit_ppm=1_000_000) == [1]
    # A concentrated book gets no credit: both legs lose together.
    assert _span([[100_000, 50_000]], psr, credit_ppm=700_000) == [20_000]


def test_span_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="scan ranges"):
        span_requirement(np.zeros((2, 2), np.int64), np.array([1], np.int64), span_scenarios(2))
    with pytest.raises(ValueError, match="scan ranges and scenario weights"):
        span_requirement(np.zeros((1, 1), np.int64), np.array([-1], np.int64), span_scenarios(1))
    with pytest.raises(ValueError, match="credit"):
        span_requirement(np.zeros((1, 1), np.int64), np.array([1], np.int64), span_scenarios(1), 2_000_000)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.integers(-(10**12), 10**12), st.integers(-(10**12), 10**12)), min_size=1, max_size=8),
    st.tuples(st.integers(1, 10**6), st.integers(1, 10**6)),
    st.integers(0, 10**6),
    st.integers(0, 10**6),
)
def test_span_credit_is_monotone_and_bounded(values, psr, low, high):
    low, high = sorted((low, high))
    values = np.array(values, np.int64)
    psr = np.array(psr, np.int64)
    scenarios = span_scenarios(2)
    none = span_requirement(values, psr, scenarios, 0)
    some = span_requirement(values, psr, scenarios, low)
    more = span_requirement(values, psr, scenarios, high)
    full = span_requirement(values, psr, scenarios, 10**6)
    assert (none >= some).all() and (some >= more).all() and (more >= full).all() and (full >= 0).all()
    # Exact against Python integers: credit 0 is the sum of each leg's own worst case.
    for row, got in zip(values.tolist(), none.tolist(), strict=True):
        expected = 0
        for value, rate in zip(row, psr.tolist(), strict=True):
            worst = 0
            for moves, weight in zip(scenarios.moves_thirds[:, 0].tolist(), scenarios.weights_pct.tolist(), strict=True):
                worst = max(worst, -((value * rate * moves * weight) // (3 * 100 * 10**6)))
            expected += worst
        assert got == expected


def test_historical_returns_are_floored_ppm():
    prices = np.array([[100, 1000], [101, 990], [99, 1000]], np.int64)
    assert historical_returns_ppm(prices).tolist() == [[10_000, -10_000], [-19_802, 10_101]]
    assert historical_returns_ppm(prices, horizon=2).tolist() == [[-10_000, 0]]
    with pytest.raises(ValueError, match="positive prices"):
        historical_returns_ppm(np.array([[1], [0]], np.int64))


def test_expected_shortfall_averages_the_worst_tail_and_rounds_up():
    returns = np.array([[-100_000], [-50_000], [20_000], [-10_000]], np.int64)  # -10 %, -5 %, +2 %, -1 %
    long, short = [10_000], [-10_000]
    # Long: losses 1,000, 500, -200, 100 -> the 2 worst average 750; short: 200, -100 -> 50.
    assert expected_shortfall_requirement(np.array([long, short], np.int64), returns, 2).tolist() == [750, 50]
    assert expected_shortfall_requirement(np.array([long], np.int64), returns, 3).tolist() == [534]  # ceil(1,600 / 3)
    assert expected_shortfall_requirement(np.array([[0]], np.int64), returns, 1).tolist() == [0]


def test_expected_shortfall_nets_a_hedge_through_the_joint_history():
    # Two markets that moved together: the hedge's ES is far below the concentrated book's.
    returns = np.array([[-80_000, -70_000], [50_000, 60_000], [-20_000, -30_000], [10_000, 0]], np.int64)
    book = np.array([[100_000, -100_000], [100_000, 100_000]], np.int64)
    hedged, concentrated = expected_shortfall_requirement(book, returns, 2).tolist()
    # Losses: hedged 1,000, 1,000, -1,000, -1,000; concentrated 15,000, -11,000, 5,000, -1,000.
    assert (hedged, concentrated) == (1_000, 10_000)
