"""Mark methods, called directly: the formulas and each method's rule."""

import pytest

from clearing.core.mark import (
    MARK_RULES,
    MarkMethod,
    MarkParams,
    basis_sample,
    basis_window_length,
    ema_step,
    mark_rule,
    median_mark,
)

HOUR = 3600 * 10**9
S = 10**9


def test_binance_median_takes_the_middle_of_three():
    # Index 100,000 ticks, F = 0.01 % with 4 h of 8 left -> P1 = 100,005; basis +20 -> P2 = 100,020; last 100,010.
    assert median_mark(100_000, 100_000, 4 * HOUR, 8 * HOUR, 20, 100_010) == 100_010
    assert median_mark(100_000, 100_000, 4 * HOUR, 8 * HOUR, 20, 99_000) == 100_005
    assert median_mark(100_000, 100_000, 4 * HOUR, 8 * HOUR, 20, 0) == 100_012  # no trade yet: mean of P1, P2


def test_ema_step_moves_a_fraction_of_the_gap():
    assert ema_step(0, 100, 1, 9) == 10  # dt / (tau + dt) = 1/10
    assert ema_step(50, 50, 5, 5) == 50
    assert ema_step(0, -100, 1, 9) == -10


def test_a_basis_sample_is_zero_without_a_mid():
    assert basis_sample(100_020, 100_000) == 20 and basis_sample(0, 100_000) == 0


def test_the_binance_median_rule_averages_the_window_and_counts_down_to_funding():
    params = MarkParams(MarkMethod.BINANCE_MEDIAN, S, 300 * S, 8 * HOUR)
    rule = mark_rule(MarkMethod.BINANCE_MEDIAN)
    # At 4 h the next funding is 4 h away: P1 = 100,005. Window mean floor(61 / 3) = 20: P2 = 100,020.
    step = rule.step(params, 100_000, [10, 21, 30], 0, 100_010, 100_000, 4 * HOUR)
    assert step == (median_mark(100_000, 100_000, 4 * HOUR, 8 * HOUR, 20, 100_010), 20) == (100_010, 20)
    assert rule.reads_last_trade
    assert basis_window_length(params) == 300


def test_the_ema_rule_steps_toward_the_newest_sample_and_carries_the_ema():
    params = MarkParams(MarkMethod.EMA_BASIS, S, 9 * S, 8 * HOUR)
    rule = mark_rule(MarkMethod.EMA_BASIS)
    first = rule.step(params, 100_000, [100], 0, 0, 0, S)
    assert first == (100_010, 10)  # dt / (tau + dt) = 1/10 of the gap
    assert rule.step(params, 100_000, [100, 100], first[1], 0, 0, 2 * S) == (100_019, 19)
    assert rule.step(params, 5, [-1_000], 0, 0, 0, S)[0] == 1  # never below one tick
    assert not rule.reads_last_trade


def test_the_oracle_method_has_no_clock_rule():
    assert set(MARK_RULES) == {MarkMethod.BINANCE_MEDIAN, MarkMethod.EMA_BASIS}
    assert mark_rule("ema_basis") is MARK_RULES[MarkMethod.EMA_BASIS]  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="mark method"):
        mark_rule(MarkMethod.ORACLE)
