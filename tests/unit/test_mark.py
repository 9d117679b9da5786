from clearing.core.mark import ema_step, median_mark

HOUR = 3600 * 10**9


def test_binance_median_takes_the_middle_of_three():
    # Index 100,000 ticks, F = 0.01 % with 4 h of 8 left -> P1 = 100,005; basis +20 -> P2 = 100,020; last 100,010.
    assert median_mark(100_000, 100_000, 4 * HOUR, 8 * HOUR, 20, 100_010) == 100_010
    assert median_mark(100_000, 100_000, 4 * HOUR, 8 * HOUR, 20, 99_000) == 100_005
    assert median_mark(100_000, 100_000, 4 * HOUR, 8 * HOUR, 20, 0) == 100_012  # no trade yet: mean of P1, P2


def test_ema_step_moves_a_fraction_of_the_gap():
    assert ema_step(0, 100, 1, 9) == 10  # dt / (tau + dt) = 1/10
    assert ema_step(50, 50, 5, 5) == 50
    assert ema_step(0, -100, 1, 9) == -10
