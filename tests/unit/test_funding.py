"""Funding formulas against the venues' own numbers, and exact zero-sum payments."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from clearing.core.funding import (
    FundingParams,
    average_premium_ppb,
    clamp_ppb,
    funding_rate_ppb,
    impact_margin_notional,
    margin_clamp_ppb,
    mean_premium_ppb,
    mid_premium_ppb,
    payment_rate_ppb,
    payments,
    period_rate_ppb,
    premium_ppb,
)

BPS = 100_000  # one basis point (0.01 %) in ppb


def test_binance_rate_with_no_premium_is_the_interest_rate():
    # Binance (docs/references.md [binance-funding]): I = 0.01 % per 8 h, clamp 0.05 %: with P = 0, F = 0.01 %.
    assert funding_rate_ppb(0, 1 * BPS, 5 * BPS, 75 * BPS) == 1 * BPS


def test_binance_clamp_lets_a_large_premium_through_less_the_clamp():
    # P = 0.1 %: F = 0.1 % + clamp(0.01 % - 0.1 %, +-0.05 %) = 0.05 %.
    assert funding_rate_ppb(10 * BPS, 1 * BPS, 5 * BPS, 75 * BPS) == 5 * BPS
    # P = 0.03 %: the clamp does not bind, F = I = 0.01 %.
    assert funding_rate_ppb(3 * BPS, 1 * BPS, 5 * BPS, 75 * BPS) == 1 * BPS
    # The cap binds last.
    assert funding_rate_ppb(-500 * BPS, 1 * BPS, 5 * BPS, 75 * BPS) == -75 * BPS


def test_premium_index_from_impact_prices():
    # Index 20,000.0 (ticks of 0.1): impact bid 20,010.0 -> +0.05 %; impact ask 19,990.0 -> -0.05 %.
    assert premium_ppb(200_100, 200_200, 200_000) == 5 * BPS
    assert premium_ppb(199_800, 199_900, 200_000) == -5 * BPS
    assert premium_ppb(199_990, 200_010, 200_000) == 0  # index inside the impact spread
    assert premium_ppb(0, 0, 200_000) == 0  # empty book


def test_time_weighted_average_weights_later_samples_more():
    samples = [10, 20, 60]
    weighted = sum((i + 1) * p for i, p in enumerate(samples))
    assert average_premium_ppb(weighted, 6) == (10 + 40 + 180) // 6
    assert average_premium_ppb(-7, 2) == -3  # toward zero
    assert average_premium_ppb(0, 0) == 0


def test_payment_of_the_worked_example():
    # A 1 BTC long at mark 20,000 USDT pays 0.01 % = 2 USDT to the matching short.
    # Units: tick 0.1, lot 0.001 BTC, 6 decimals -> unit value 100.
    accounts, amounts = payments(np.array([1000, -1000], np.int64), 200_000, 100, 1 * BPS)
    assert accounts.tolist() == [0, 1] and amounts.tolist() == [-2_000_000, 2_000_000]


def test_payers_round_up_and_receivers_share_exactly():
    # Three longs of 1 lot pay ceil(1/3) each at a rate of 1/3 per unit notional; two shorts split 3.
    _, amounts = payments(np.array([1, 1, 1, -2, -1], np.int64), 1, 1, 333_333_334)
    assert amounts.tolist() == [-1, -1, -1, 2, 1]
    _, negative = payments(np.array([1, -1], np.int64), 1, 1, -500_000_000)
    assert negative.tolist() == [1, -1]


@given(st.lists(st.integers(-(10**6), 10**6), min_size=1, max_size=40), st.integers(1, 10**7), st.integers(-(10**8), 10**8))
def test_payments_are_exactly_zero_sum(longs_and_shorts, mark, rate):
    positions = np.array([*longs_and_shorts, -sum(longs_and_shorts)], dtype=np.int64)
    accounts, amounts = payments(positions, mark, 100, rate)
    assert int(amounts.sum()) == 0
    if rate:
        payer = (positions[accounts] > 0) if rate > 0 else (positions[accounts] < 0)
        assert (amounts[payer] <= 0).all() and (amounts[~payer] >= 0).all()


def test_an_unbalanced_book_is_refused():
    with pytest.raises(ValueError, match="no receivers"):
        payments(np.array([5, 0], np.int64), 10, 1, 1000)


HOUR, EIGHT_HOURS, DAY = 3600 * 10**9, 28_800 * 10**9, 86_400 * 10**9


def test_hyperliquid_pays_an_eighth_of_the_8_hour_rate_every_hour():
    # Hyperliquid ([hyperliquid-funding]): F_8h = P + clamp(I - P, +-0.05 %), I = 0.01 % per 8 h, paid hourly at F_8h / 8.
    # A 1 % premium: F_8h = 1 % - 0.05 % = 0.95 %, so 0.11875 % an hour (not 0.95 % an hour).
    rate_8h = period_rate_ppb(100 * BPS, 1 * BPS, 5 * BPS, 3200 * BPS, "clamped")
    assert rate_8h == 95 * BPS
    assert payment_rate_ppb(rate_8h, HOUR, EIGHT_HOURS) == 1_187_500  # 0.11875 %
    # No premium: the interest alone, 0.01 % / 8 = 0.00125 % an hour.
    assert payment_rate_ppb(period_rate_ppb(0, 1 * BPS, 5 * BPS, 3200 * BPS, "clamped"), HOUR, EIGHT_HOURS) == 12_500
    # The cap: 4 % an hour is 32 % per 8 h.
    assert payment_rate_ppb(period_rate_ppb(-10**9, 1 * BPS, 5 * BPS, 3200 * BPS, "clamped"), HOUR, EIGHT_HOURS) == -4 * 10**7


def test_dydx_clamps_from_the_margin_fractions_and_pays_hourly():
    # dYdX v4 Large-Cap ([dydx-v4-funding]): IMF 5 %, MMF 3 %; the 8-hour rate clamped to 600 % x 2 % = 12 %,
    # each premium vote to 6,000 % x 2 % = 120 %; paid hourly at 1/8; default funding 0 added, no interest clamp.
    spread = 20_000_000  # 2 % in ppb
    assert margin_clamp_ppb(6_000_000, spread) == 120_000_000 and margin_clamp_ppb(60_000_000, spread) == 1_200_000_000
    params = FundingParams(60 * 10**9, HOUR, 0, 0, 0, 0, EIGHT_HOURS, "padded_mean", "added", "impact", 0, "oracle",
                           6_000_000, 60_000_000).for_market(50_000, 30_000)  # fmt: skip
    assert (params.cap_ppb, params.sample_clamp_ppb, params.rate_period_ns) == (120_000_000, 1_200_000_000, EIGHT_HOURS)
    assert clamp_ppb(2 * 10**9, params.sample_clamp_ppb) == 1_200_000_000 and clamp_ppb(-5, 0) == -5
    # Thirty samples of +0.02 % in an hour of sixty epochs: the missing thirty count as zero, mean 0.01 %.
    average = mean_premium_ppb(30 * 2 * BPS, 30, padded_to=60)
    assert average == 1 * BPS
    assert period_rate_ppb(average, 0, 5 * BPS, params.cap_ppb, "added") == 1 * BPS  # no interest clamp
    assert payment_rate_ppb(1 * BPS, HOUR, EIGHT_HOURS) == 12_500
    assert period_rate_ppb(10**9, 0, 0, params.cap_ppb, "added") == 120_000_000  # the 12 % clamp


def test_drift_adds_a_fifth_of_a_basis_point_a_day_and_pays_a_24th_each_hour():
    # Drift ([drift-v2-funding]): spread = mark TWAP - oracle TWAP + oracle TWAP / 5000, clamped to +-3 % of the oracle
    # TWAP (tiers A/B), paid hourly at 1/24. Mark 0.1 % above the oracle: 0.1 % + 0.02 % = 0.12 % a day, 0.005 % an hour.
    assert mid_premium_ppb(200_180, 200_220, 200_000) == 10 * BPS  # mid 20,020.0 over oracle 20,000.0
    assert mid_premium_ppb(0, 200_220, 200_000) == 0  # a side without an impact price: no sample
    daily = period_rate_ppb(10 * BPS, 2 * BPS, 0, 300 * BPS, "added")
    assert daily == 12 * BPS and payment_rate_ppb(daily, HOUR, DAY) == 50_000
    assert period_rate_ppb(-10**9, 2 * BPS, 0, 300 * BPS, "added") == -300 * BPS  # the 3 % clamp
    # About 7.3 % a year from the offset alone: 0.02 % x 365.
    hourly = payment_rate_ppb(period_rate_ppb(0, 2 * BPS, 0, 300 * BPS, "added"), HOUR, DAY)
    assert hourly == 8_333 and abs(hourly * 24 * 365 - 73 * 10**6) < 24 * 365  # 0.02 % / 24, truncated


def test_binance_impact_margin_notional_is_200_usdt_over_the_initial_rate():
    # Binance ([binance-funding]): impact margin notional = 200 USDT / IMR at maximum leverage: 20x -> 5 % -> 4,000 USDT.
    assert impact_margin_notional(200_000_000, 50_000) == 4_000_000_000
    assert impact_margin_notional(200_000_000, 8_000) == 25_000_000_000  # 125x: 25,000 USDT
    with pytest.raises(ValueError, match="positive initial margin"):
        impact_margin_notional(200_000_000, 0)
    params = FundingParams(5 * 10**9, EIGHT_HOURS, 4_000_000_000, 1 * BPS, 5 * BPS, 30 * BPS, impact_margin_minor=200_000_000)
    assert params.for_market(8_000, 4_000).impact_notional_minor == 25_000_000_000
    # Binance's defaults are unchanged by for_market: the full rate each interval, paid on the mark.
    plain = FundingParams(5 * 10**9, EIGHT_HOURS, 4_000_000_000, 1 * BPS, 5 * BPS, 30 * BPS).for_market(8_000, 4_000)
    assert plain.rate_period_ns == EIGHT_HOURS and plain.pays_on == "mark" and plain.impact_notional_minor == 4_000_000_000
    # A market without an initial rate above maintenance keeps the explicit values.
    assert params.for_market(4_000, 4_000).impact_notional_minor == 4_000_000_000
