"""The volatility surface carried in integers, its interpolation and calendar arbitrage, and the
synthetic leverage-effect driver (clearing/core/options/surface.py, dynamics.py)."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from clearing.core.options.dynamics import LeverageEffect, atm_vol_path, surface_from_level
from clearing.core.options.surface import (
    NS_PER_YEAR,
    VOL_FLOOR_PPM,
    VolSurface,
    calendar_arbitrage,
    implied_vol,
    implied_vol_at_moneyness,
    level_skew_surface,
    without_calendar_arbitrage,
)
from clearing.rng import generator

YEAR = NS_PER_YEAR
NOW = 1_760_054_400 * 10**9  # 2025-10-10 00:00 UTC
GRID = (-100_000, 0, 100_000)


def two_expiry_surface(first=(800_000, 500_000, 400_000), second=(500_000, 400_000, 400_000)):
    return VolSurface((NOW + YEAR // 10, NOW + YEAR // 5), GRID, (first, second))


def vol(surface, tau_ns, k, now=NOW):
    return float(implied_vol_at_moneyness(surface, now, np.array([now + tau_ns]), np.array([k]))[0])


def assert_ppm(got, vol_fraction):
    # The path is rounded to the nearest ppm: within half a ppm of the formula.
    assert abs(int(got) - vol_fraction * 1e6) <= 0.5 + 1e-6


# --- the representation ---------------------------------------------------------------------


def test_vol_surface_is_hashable_and_equal_by_value():
    assert two_expiry_surface() == two_expiry_surface()
    assert hash(two_expiry_surface()) == hash(two_expiry_surface())


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        (((NOW + 2, NOW + 1), GRID, ((1, 1, 1), (1, 1, 1))), "expiries_ns"),
        (((NOW + 1,), (0, 0), ((1, 1),)), "log_moneyness_ppm"),
        (((NOW + 1,), (5, -5), ((1, 1),)), "log_moneyness_ppm"),
        (((NOW + 1,), GRID, ((1, 1),)), "vol_ppm"),
        (((NOW + 1,), GRID, ((1, 1, 1), (1, 1, 1))), "vol_ppm"),
        (((NOW + 1,), GRID, ((1, 0, 1),)), "vol_ppm"),
        (((NOW + 1,), GRID, ((1, -3, 1),)), "vol_ppm"),
        (([NOW + 1], GRID, ((1, 1, 1),)), "expiries_ns"),
        (((np.int64(NOW + 1),), GRID, ((1, 1, 1),)), "expiries_ns"),
        (((NOW + 1,), (-1, 0, 1.5), ((1, 1, 1),)), "log_moneyness_ppm"),
        (((NOW + 1,), GRID, ((1, True, 1),)), "vol_ppm"),
        (((), (), ()), "expiries_ns"),
        (((2**63,), GRID, ((1, 1, 1),)), "expiries_ns"),
    ],
)
def test_vol_surface_rejects_a_bad_field_naming_it(fields, field):
    with pytest.raises(ValueError, match=field) as caught:
        VolSurface(*fields)
    assert "\n" not in str(caught.value)


# --- interpolation ----------------------------------------------------------------------------


def test_implied_vol_hits_the_grid_points_exactly():
    surface = two_expiry_surface()
    for j, expiry in enumerate(surface.expiries_ns):
        k = np.array(surface.log_moneyness_ppm) / 1e6
        got = implied_vol_at_moneyness(surface, NOW, np.full(3, expiry), k)
        assert got.tolist() == [v / 1e6 for v in surface.vol_ppm[j]]


def test_implied_vol_takes_log_moneyness_from_forward_and_strike():
    surface = two_expiry_surface()
    forward = np.full(3, 60_000.0)
    strike = forward * np.exp(np.array(GRID) / 1e6)
    got = implied_vol(surface, NOW, np.full(3, surface.expiries_ns[0]), forward, strike)
    np.testing.assert_allclose(got, [0.8, 0.5, 0.4], rtol=0, atol=1e-12)


def test_implied_vol_is_linear_in_vol_between_strikes_and_flat_beyond_the_wings():
    surface = two_expiry_surface()
    assert vol(surface, YEAR // 10, -0.05) == pytest.approx(0.65, abs=1e-15)
    assert vol(surface, YEAR // 10, 0.025) == pytest.approx(0.475, abs=1e-15)
    assert vol(surface, YEAR // 10, -3.0) == 0.8
    assert vol(surface, YEAR // 10, 2.0) == 0.4
    assert vol(surface, YEAR // 5, -0.7) == 0.5


def test_implied_vol_is_linear_in_total_variance_between_expiries():
    # Flat smiles 50 % at 0.1 y and 30 % at 0.4 y: at 0.25 y, w = 0.025 + 0.011 x 0.5 = 0.0305.
    surface = VolSurface((NOW + YEAR // 10, NOW + 2 * YEAR // 5), GRID, ((500_000,) * 3, (300_000,) * 3))
    expected = math.sqrt(0.0305 / 0.25)
    assert vol(surface, YEAR // 4, 0.0) == pytest.approx(expected, rel=1e-14)
    assert vol(surface, YEAR // 4, 0.3) == pytest.approx(expected, rel=1e-14)
    # Linear in w, not in vol: the vol midpoint (40 %) is off by a lot.
    assert abs(vol(surface, YEAR // 4, 0.0) - 0.4) > 0.05


def test_implied_vol_is_flat_in_vol_before_the_first_and_after_the_last_expiry():
    surface = two_expiry_surface()
    assert vol(surface, YEAR // 100, -0.1) == 0.8
    assert vol(surface, YEAR // 10 - 1, 0.0) == 0.5
    assert vol(surface, YEAR // 2, -0.1) == 0.5
    assert vol(surface, 7 * YEAR, 0.05) == 0.4


def test_implied_vol_is_vectorised_over_options():
    surface = two_expiry_surface()
    expiries = np.array([NOW + YEAR // 20, NOW + YEAR // 7, NOW + YEAR, NOW + YEAR // 7])
    k = np.array([-0.2, 0.03, 0.05, -0.07])
    together = implied_vol_at_moneyness(surface, NOW, expiries, k)
    alone = [float(implied_vol_at_moneyness(surface, NOW, expiries[i : i + 1], k[i : i + 1])[0]) for i in range(4)]
    assert together.tolist() == alone
    assert together.dtype == np.float64


def test_implied_vol_rejects_expired_options_and_a_surface_whose_expiry_passed():
    surface = two_expiry_surface()
    with pytest.raises(ValueError, match="expiry_ns"):
        implied_vol_at_moneyness(surface, NOW, np.array([NOW]), np.array([0.0]))
    with pytest.raises(ValueError, match="now_ns"):
        implied_vol_at_moneyness(surface, surface.expiries_ns[0], np.array([NOW + YEAR]), np.array([0.0]))
    with pytest.raises(ValueError, match="strike"):
        implied_vol(surface, NOW, np.array([NOW + YEAR]), np.array([1.0]), np.array([-1.0]))


# --- calendar arbitrage -----------------------------------------------------------------------


def test_calendar_arbitrage_finds_the_points_where_total_variance_falls():
    # At k = -0.1: w = 0.64 x 0.1 = 0.064 at the first expiry, 0.25 x 0.2 = 0.05 at the second.
    surface = two_expiry_surface()
    assert calendar_arbitrage(surface, NOW) == ((surface.expiries_ns[1], -100_000),)
    fine = two_expiry_surface(second=(600_000, 400_000, 400_000))
    assert calendar_arbitrage(fine, NOW) == ()


def test_calendar_arbitrage_of_an_inverted_term_structure_fades_as_the_clock_advances():
    # Inverted term structure: w2/w1 = (v2/v1)^2 x (E2 - now)/(E1 - now) grows with now.
    surface = two_expiry_surface()
    later = NOW + YEAR // 20  # tau1 = 0.05 y, tau2 = 0.15 y: 0.25 x 0.15 > 0.64 x 0.05
    assert calendar_arbitrage(surface, later) == ()


def test_without_calendar_arbitrage_raises_the_later_vol_to_the_smallest_free_integer():
    surface = two_expiry_surface()
    repaired = without_calendar_arbitrage(surface, NOW)
    # sqrt(0.64 x 0.1 / 0.2) = 0.565685424949..., rounded up to whole ppm.
    assert repaired.vol_ppm == ((800_000, 500_000, 400_000), (565_686, 400_000, 400_000))
    assert calendar_arbitrage(repaired, NOW) == ()
    assert without_calendar_arbitrage(repaired, NOW) == repaired


@st.composite
def surfaces(draw):
    n_expiries = draw(st.integers(1, 4))
    n_strikes = draw(st.integers(1, 6))
    gaps = draw(st.lists(st.integers(1, 2 * YEAR), min_size=n_expiries, max_size=n_expiries))
    expiries = tuple(NOW + int(x) for x in np.cumsum(gaps))
    steps = draw(st.lists(st.integers(1, 400_000), min_size=n_strikes, max_size=n_strikes))
    grid = tuple(int(x) - 600_000 for x in np.cumsum(steps))
    vols = tuple(tuple(draw(st.lists(st.integers(1, 3_000_000), min_size=n_strikes, max_size=n_strikes))) for _ in expiries)
    return VolSurface(expiries, grid, vols)


@given(surfaces())
def test_repaired_surfaces_have_non_decreasing_total_variance_and_keep_the_first_expiry(surface):
    repaired = without_calendar_arbitrage(surface, NOW)
    assert calendar_arbitrage(repaired, NOW) == ()
    assert repaired.vol_ppm[0] == surface.vol_ppm[0]
    assert repaired.expiries_ns == surface.expiries_ns and repaired.log_moneyness_ppm == surface.log_moneyness_ppm
    taus = [e - NOW for e in surface.expiries_ns]
    for j in range(1, len(taus)):
        for i, (before, after) in enumerate(zip(repaired.vol_ppm[j - 1], repaired.vol_ppm[j], strict=True)):
            assert after * after * taus[j] >= before * before * taus[j - 1]
            assert after >= surface.vol_ppm[j][i]
            if after > surface.vol_ppm[j][i]:  # raised no further than needed
                assert (after - 1) ** 2 * taus[j] < before * before * taus[j - 1]


@given(surfaces(), st.floats(-1.5, 1.5))
def test_interpolated_total_variance_never_falls_with_expiry_on_a_repaired_surface(surface, k):
    repaired = without_calendar_arbitrage(surface, NOW)
    last = repaired.expiries_ns[-1] - NOW
    taus = np.unique(np.linspace(1, 1.5 * last, 400).astype(np.int64))
    sigma = implied_vol_at_moneyness(repaired, NOW, NOW + taus, np.full(len(taus), k))
    w = sigma**2 * taus
    assert (np.diff(w) >= -1e-12 * w[1:]).all()


# --- the level-and-skew parametrisation --------------------------------------------------------


def test_level_skew_surface_is_level_plus_skew_times_k_rounded_to_nearest_ppm():
    surface = level_skew_surface((NOW + YEAR,), (500_000,), (-250_003,), (-200_000, 0, 300_000, 400_000))
    # 0.5 + 0.250003 x 0.2 = 0.5500006; 0.5 - 0.250003 x 0.3 = 0.4249991; 0.5 - 0.250003 x 0.4 = 0.3999988.
    assert surface.vol_ppm == ((550_001, 500_000, 424_999, 399_999),)
    tie = level_skew_surface((NOW + YEAR,), (500_000,), (-5,), (100_000,))
    assert tie.vol_ppm == ((500_000,),)  # 499_999.5 rounds half up


def test_level_skew_surface_clamps_to_the_floor():
    surface = level_skew_surface((NOW + YEAR,), (100_000,), (-1_000_000,), (-100_000, 0, 100_000, 500_000))
    assert surface.vol_ppm == ((200_000, 100_000, VOL_FLOOR_PPM, VOL_FLOOR_PPM),)
    raised = level_skew_surface((NOW + YEAR,), (100_000,), (-1_000_000,), (0, 500_000), floor_ppm=50_000)
    assert raised.vol_ppm == ((100_000, 50_000),)


def test_level_skew_surface_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="skews_ppm"):
        level_skew_surface((NOW + YEAR, NOW + 2 * YEAR), (1, 1), (1,), GRID)


# --- the synthetic leverage-effect driver -----------------------------------------------------

SECOND = 10**9
PARAMS = LeverageEffect(base_vol_ppm=500_000, half_life_ns=3600 * SECOND, beta_down=1.5)


def test_atm_vol_path_a_fall_raises_the_level_by_beta_times_the_log_return():
    prices = np.array([100_000] * 10 + [90_000] * 10, dtype=np.int64)
    path = atm_vol_path(prices, SECOND, PARAMS)
    assert path.dtype == np.int64 and len(path) == len(prices)
    assert (path[:10] == 500_000).all()
    jump = 1.5 * -math.log(0.9)
    assert_ppm(path[10], 0.5 + jump)
    assert (np.diff(path[10:]) <= 0).all() and path[-1] > 500_000


def test_atm_vol_path_rises_respond_only_as_configured():
    prices = np.array([100_000, 110_000, 110_000], dtype=np.int64)
    assert atm_vol_path(prices, SECOND, PARAMS).tolist() == [500_000] * 3
    both = LeverageEffect(base_vol_ppm=500_000, half_life_ns=3600 * SECOND, beta_down=1.5, beta_up=-0.5)
    assert_ppm(atm_vol_path(prices, SECOND, both)[1], 0.5 + 0.5 * math.log(1.1))
    calm = LeverageEffect(base_vol_ppm=500_000, half_life_ns=3600 * SECOND, beta_down=1.5, beta_up=0.5)
    assert_ppm(atm_vol_path(prices, SECOND, calm)[1], 0.5 - 0.5 * math.log(1.1))


def test_atm_vol_path_without_moves_reverts_to_base_by_the_half_life():
    prices = np.full(2 * 3600 + 1, 100_000, dtype=np.int64)
    path = atm_vol_path(prices, SECOND, PARAMS, initial_vol_ppm=900_000)
    assert path[0] == 900_000
    assert path[3600] == 700_000  # deviation 400k halves in one half-life
    assert path[7200] == 600_000
    assert (np.diff(path) <= 0).all()
    assert PARAMS.kappa_per_year == pytest.approx(math.log(2) * 365 * 24)


def test_atm_vol_path_holds_the_floor_and_the_cap():
    rng = generator(7, "test-vol")
    prices = np.maximum(100_000 * np.exp(np.cumsum(rng.normal(0, 0.02, 20_000))), 1).astype(np.int64)
    params = LeverageEffect(
        base_vol_ppm=400_000, half_life_ns=600 * SECOND, beta_down=20.0, beta_up=20.0,
        floor_ppm=200_000, cap_ppm=900_000,
    )  # fmt: skip
    path = atm_vol_path(prices, SECOND, params)
    assert path.min() == 200_000 and path.max() == 900_000


def test_atm_vol_path_is_deterministic_and_its_noise_comes_from_the_generator():
    rng = generator(3, "prices")
    prices = (100_000 * np.exp(np.cumsum(rng.normal(0, 0.001, 5_000)))).astype(np.int64)
    noisy = LeverageEffect(base_vol_ppm=500_000, half_life_ns=3600 * SECOND, beta_down=1.5, vol_of_vol=2.0)
    first = atm_vol_path(prices, SECOND, noisy, rng=generator(1, "vol"))
    again = atm_vol_path(prices, SECOND, noisy, rng=generator(1, "vol"))
    other = atm_vol_path(prices, SECOND, noisy, rng=generator(2, "vol"))
    assert first.tolist() == again.tolist() and first.tolist() != other.tolist()
    assert atm_vol_path(prices, SECOND, PARAMS).tolist() == atm_vol_path(prices, SECOND, PARAMS).tolist()
    with pytest.raises(ValueError, match="rng"):
        atm_vol_path(prices, SECOND, noisy)


def test_leverage_effect_rejects_bad_parameters():
    with pytest.raises(ValueError, match="half_life_ns"):
        LeverageEffect(base_vol_ppm=500_000, half_life_ns=0, beta_down=1.0)
    with pytest.raises(ValueError, match="cap_ppm"):
        LeverageEffect(base_vol_ppm=500_000, half_life_ns=1, beta_down=1.0, floor_ppm=600_000, cap_ppm=500_000)
    with pytest.raises(ValueError, match="beta_down"):
        LeverageEffect(base_vol_ppm=500_000, half_life_ns=1, beta_down=-1.0)


def test_surface_from_level_applies_the_term_slope_and_the_skew():
    expiries = (NOW + YEAR // 10, NOW + YEAR // 10 + YEAR // 2)
    surface = surface_from_level(600_000, expiries, GRID, skew_ppm=-300_000, term_slope_ppm_per_year=-100_000)
    assert surface.vol_ppm == ((630_000, 600_000, 570_000), (580_000, 550_000, 520_000))
    assert surface.expiries_ns == expiries
