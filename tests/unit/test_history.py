"""The population's continuous leverage and its pre-history (`clearing.core.agents.population`, `.history`)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from clearing.core.agents.history import STEP_NS, liquidation_levels, prehistory, survivors
from clearing.core.agents.population import draw_population, fit_lognormal, lognormal_leverage
from clearing.rng import generator


def test_the_fitted_lognormal_follows_the_choices_distribution_tail_included():
    median, sigma = fit_lognormal((2, 8), (1.0, 1.0))  # mid-CDF 0.25 at 2x, 0.75 at 8x
    assert median == pytest.approx(4.0) and sigma == pytest.approx(math.log(4) / (2 * 0.6744897501960817))
    choices, weights = (1, 2, 3, 5, 10, 20, 50, 100), (0.40, 0.30, 0.15, 0.10, 0.03, 0.013, 0.005, 0.002)
    median, sigma = fit_lognormal(choices, weights)  # the 2021-05-19 mix
    centi = lognormal_leverage(generator(4, "f"), 200_000, median, sigma, 125.0)
    for level, share in ((5, 0.15), (10, 0.05), (20, 0.02)):  # the mix's share at or above each level, within a third
        assert abs((centi >= level * 100).mean() / share - 1) < 0.35, level
    assert abs((centi == 100).mean() - 0.40) < 0.05  # the unlevered mass stays at 1x
    assert fit_lognormal((7,), (1.0,)) == (7.0, 0.0)


def test_lognormal_leverage_stays_in_bounds_to_the_hundredth_with_its_median():
    centi = lognormal_leverage(generator(1, "x"), 20_000, 10.0, 0.8, 125.0)
    assert centi.min() >= 100 and centi.max() <= 12_500
    assert abs(np.median(centi) / 1000 - 1) < 0.03
    assert len(np.unique(centi)) > 2000  # continuous, not a handful of levels
    assert np.array_equal(centi, lognormal_leverage(generator(1, "x"), 20_000, 10.0, 0.8, 125.0))
    assert set(lognormal_leverage(generator(1, "x"), 5, 300.0, 0.0, 125.0).tolist()) == {12_500}
    clipped = lognormal_leverage(generator(2, "x"), 20_000, 1.5, 1.0, 3.0)  # much of the mass beyond both bounds
    assert clipped.min() == 100 and clipped.max() == 300 and 0.2 < (clipped == 100).mean() < 0.5


def test_choices_give_the_population_they_gave_before_and_margin_in_hundredths():
    rng = lambda: np.random.default_rng(7)  # noqa: E731
    old = draw_population(rng(), 500, 0.6, 5_000, 1.0, 10**6, (2, 10), (1.0, 1.0), 10**12, 100)
    assert set(old.leverage_centi.tolist()) == {200, 1000} and old.entry_ticks is None
    new = draw_population(rng(), 500, 0.6, 5_000, 1.0, 10**6, (2, 10), (1.0, 1.0), 10**12, 100, lognormal=(4.0, 0.5, 50.0))
    for name in ("entry_ns", "side", "lots", "exit_ns", "collateral", "notional"):  # the lognormal is drawn last
        assert np.array_equal(getattr(old, name), getattr(new, name)), name
    assert not np.array_equal(old.leverage_centi, new.leverage_centi)


def test_the_prehistory_ends_at_the_first_price_with_its_volatility():
    path = prehistory(generator(3, "h"), 6_000_000, 0.6, 30 * 86_400 * 10**9)
    assert path.size == 30 * 1440 + 1 and path[-1] == 6_000_000
    returns = np.diff(np.log(path))
    assert returns.std() == pytest.approx(0.6 * math.sqrt(60 / (365 * 86_400)), rel=0.03)
    assert prehistory(generator(3, "h"), 100, 0.5, 90 * 10**9).size == 3  # 1.5 minutes: two steps back


def test_liquidation_levels_are_where_equity_meets_maintenance():
    levels = liquidation_levels(np.array([100.0, 100.0]), np.array([1, -1]), np.array([1000, 1000]), 5_000)
    assert levels.tolist() == pytest.approx([100 * 0.9 / 0.995, 100 * 1.1 / 1.005])
    entry, level = 100.0, levels[0]  # a long at 10x: margin 10 a unit, equity at the level is maintenance
    assert 10 + (level - entry) == pytest.approx(0.005 * level)


def _brute_force_survived(path, k, side, centi, mmr_ppm):
    level = liquidation_levels(np.array([path[k]]), np.array([side]), np.array([centi]), mmr_ppm)[0]
    after = path[k + 1 :]
    return not (after <= level).any() if side > 0 else not (after >= level).any()


def test_every_position_standing_at_the_start_survived_its_prehistory():
    rng = generator(5, "p")
    history = 2 * 86_400 * 10**9
    path = prehistory(rng, 5_000_000, 1.5, history)  # a wild two days: most high-leverage entries would have died
    n = 4000
    entry = np.sort(np.floor(rng.uniform(-history, 600 * 10**9, n)).astype(np.int64))
    side = np.where(rng.random(n) < 0.6, 1, -1)
    centi = lognormal_leverage(rng, n, 10.0, 1.0, 100.0)
    times, ticks = survivors(generator(5, "s"), path, history, entry, side, centi, 5_000)
    start = -(path.size - 1) * STEP_NS
    later = entry >= 0
    assert np.array_equal(times[later], entry[later]) and not ticks[later].any()  # entries in the run are untouched
    moved = (times != entry) & ~later
    assert moved.sum() > n // 10  # the path did kill a good share: they were re-drawn
    for i in np.flatnonzero(times < 0):
        k = (times[i] - start) // STEP_NS
        assert ticks[i] == round(path[k])
        assert _brute_force_survived(path, k, side[i], centi[i], 5_000), i
    for i in np.flatnonzero(moved):
        assert times[i] > entry[i]  # re-drawn later than the crossing, never earlier
    again = survivors(generator(5, "s"), path, history, entry, side, centi, 5_000)
    assert np.array_equal(again[0], times) and np.array_equal(again[1], ticks)
