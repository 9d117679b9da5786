"""Funding formulas against the venues' own numbers, and exact zero-sum payments."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from clearing.core.funding import average_premium_ppb, funding_rate_ppb, payments, premium_ppb

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
