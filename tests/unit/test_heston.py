"""Heston: the characteristic-function pricer against Lewis's reference prices, and the path generator.

Source: docs/references.md [lewis-heston-reference] (the table below: kappa = 4, theta = 0.25,
xi = 1, rho = -0.5, v0 = 0.04, S0 = 100, T = 1, r = 0.01, q = 0.02; Lewis writes
dV = (omega - theta V) dt + xi sqrt(V) dW with omega = 1, theta = 4, i.e. kappa = 4, theta = 1 / 4).
"""

import itertools
import math

import numpy as np
import pytest

from clearing.core.heston import (
    HestonParams,
    HestonPaths,
    feller_ratio,
    heston_call_price,
    heston_characteristic_function,
    heston_paths,
    heston_put_price,
    validate_heston,
)
from clearing.rng import generator
from clearing.units import NS_PER_DAY, NS_PER_S

LEWIS = HestonParams(kappa=4.0, theta=0.25, xi=1.0, rho=-0.5, v0=0.04)
SPOT, YEARS, RATE, YIELD = 100.0, 1.0, 0.01, 0.02
CALLS = {
    80: 26.774758743998854,
    90: 20.933349000596710,
    100: 16.070154917028834,
    110: 12.132211516709845,
    120: 9.024913483457836,
}
PUTS = {
    80: 7.958878113256768,
    90: 12.017966707346305,
    100: 17.055270961270109,
    110: 23.017825898442801,
    120: 29.811026202682472,
}


# Pricer ---------------------------------------------------------------------------------


@pytest.mark.parametrize("strike", sorted(CALLS))
def test_call_price_reproduces_lewis_reference(strike):
    assert abs(heston_call_price(LEWIS, SPOT, strike, YEARS, RATE, YIELD) - CALLS[strike]) < 1e-8


@pytest.mark.parametrize("strike", sorted(PUTS))
def test_put_price_reproduces_lewis_reference(strike):
    assert abs(heston_put_price(LEWIS, SPOT, strike, YEARS, RATE, YIELD) - PUTS[strike]) < 1e-8


@pytest.mark.parametrize("strike", sorted(CALLS))
def test_reference_prices_satisfy_put_call_parity(strike):
    # C - P = S e^-qT - K e^-rT, both for Lewis's table and for the pricer's own numbers.
    forward_gap = SPOT * math.exp(-YIELD * YEARS) - strike * math.exp(-RATE * YEARS)
    assert CALLS[strike] - PUTS[strike] == pytest.approx(forward_gap, abs=1e-12)
    call = heston_call_price(LEWIS, SPOT, strike, YEARS, RATE, YIELD)
    put = heston_put_price(LEWIS, SPOT, strike, YEARS, RATE, YIELD)
    assert call - put == pytest.approx(forward_gap, abs=1e-10)


@pytest.mark.parametrize(
    ("params", "strike", "years"),
    [
        (HestonParams(2.0, 0.04, 0.3, -0.7, 0.09), 95.0, 0.25),
        (HestonParams(1.5, 0.6, 1.5, -0.2, 0.5), 140.0, 0.1),  # crypto-like: 75 % long-run vol
        (HestonParams(6.0, 0.3, 0.8, 0.4, 0.2), 70.0, 2.0),
    ],
)
def test_parity_and_no_arbitrage_bounds_hold_for_other_parameters(params, strike, years):
    call = heston_call_price(params, SPOT, strike, years, RATE, YIELD)
    put = heston_put_price(params, SPOT, strike, years, RATE, YIELD)
    spot_pv, strike_pv = SPOT * math.exp(-YIELD * years), strike * math.exp(-RATE * years)
    assert call - put == pytest.approx(spot_pv - strike_pv, abs=1e-9)
    assert max(0.0, spot_pv - strike_pv) <= call <= spot_pv
    assert max(0.0, strike_pv - spot_pv) <= put <= strike_pv


def black_scholes_call(spot, strike, years, rate, dividend_yield, vol):
    d1 = (math.log(spot / strike) + (rate - dividend_yield + 0.5 * vol * vol) * years) / (vol * math.sqrt(years))
    d2 = d1 - vol * math.sqrt(years)
    n = lambda x: 0.5 * math.erfc(-x / math.sqrt(2))  # noqa: E731
    return spot * math.exp(-dividend_yield * years) * n(d1) - strike * math.exp(-rate * years) * n(d2)


@pytest.mark.parametrize("strike", [80.0, 100.0, 125.0])
def test_vanishing_vol_of_vol_at_the_long_run_variance_is_black_scholes(strike):
    # xi -> 0 and v0 = theta: the variance stays at theta, so the price tends to Black-Scholes at
    # sqrt(theta). With rho = 0 the gap is O(xi^2) (measured: 5.5e-7 at xi = 1e-3, 5.5e-5 at 1e-2).
    params = HestonParams(kappa=3.0, theta=0.16, xi=1e-3, rho=0.0, v0=0.16)
    expected = black_scholes_call(SPOT, strike, 0.5, RATE, YIELD, 0.4)
    assert heston_call_price(params, SPOT, strike, 0.5, RATE, YIELD) == pytest.approx(expected, abs=2e-6)


def test_negative_rho_skews_prices_against_black_scholes():
    # rho < 0 fattens the left tail: out-of-the-money calls cheaper, puts dearer than at flat vol.
    params = HestonParams(kappa=3.0, theta=0.16, xi=0.3, rho=-0.7, v0=0.16)
    flat = HestonParams(kappa=3.0, theta=0.16, xi=1e-3, rho=0.0, v0=0.16)
    assert heston_call_price(params, SPOT, 125.0, 0.5, RATE, YIELD) < heston_call_price(flat, SPOT, 125.0, 0.5, RATE, YIELD) - 0.1
    assert heston_put_price(params, SPOT, 75.0, 0.5, RATE, YIELD) > heston_put_price(flat, SPOT, 75.0, 0.5, RATE, YIELD) + 0.05


def test_characteristic_function_is_one_at_zero_and_the_forward_at_minus_i():
    assert heston_characteristic_function(0.0, LEWIS, SPOT, YEARS, RATE, YIELD) == pytest.approx(1.0, abs=1e-14)
    forward = SPOT * math.exp((RATE - YIELD) * YEARS)
    assert heston_characteristic_function(-1j, LEWIS, SPOT, YEARS, RATE, YIELD) == pytest.approx(forward, rel=1e-12)
    # The little-trap form stays continuous for long maturities (no branch jump of the log).
    values = [heston_characteristic_function(u, LEWIS, SPOT, 10.0, RATE, YIELD) for u in np.linspace(0.0, 30.0, 3001)]
    assert max(abs(b - a) for a, b in itertools.pairwise(values)) < 0.05


# Parameters -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        HestonParams(0.0, 0.25, 1.0, -0.5, 0.04),
        HestonParams(4.0, -0.25, 1.0, -0.5, 0.04),
        HestonParams(4.0, 0.25, 0.0, -0.5, 0.04),
        HestonParams(4.0, 0.25, 1.0, -1.0, 0.04),
        HestonParams(4.0, 0.25, 1.0, 1.0, 0.04),
        HestonParams(4.0, 0.25, 1.0, -0.5, -0.01),
        HestonParams(4.0, math.nan, 1.0, -0.5, 0.04),
    ],
)
def test_invalid_parameters_are_rejected(params):
    with pytest.raises(ValueError, match="expected"):
        validate_heston(params)
    with pytest.raises(ValueError, match="expected"):
        heston_call_price(params, SPOT, 100.0, YEARS, RATE, YIELD)
    with pytest.raises(ValueError, match="expected"):
        heston_paths(generator(1, "h"), 100_000, params, 0.0, NS_PER_DAY, 10)


def test_feller_condition_is_reported_not_required():
    assert feller_ratio(LEWIS) == pytest.approx(2.0)  # 2 kappa theta / xi^2 = 2: v stays positive
    violating = HestonParams(1.0, 0.04, 1.0, -0.7, 0.04)
    assert feller_ratio(violating) == pytest.approx(0.08)
    validate_heston(violating)  # allowed: full truncation handles v reaching 0
    paths = heston_paths(generator(2, "f"), 100_000, violating, 0.0, 3600 * NS_PER_S, 5_000)
    assert paths.vol_ppm.min() == 0  # the variance does hit zero


@pytest.mark.parametrize(
    ("initial", "step_ns", "n_steps", "n_paths"),
    [(0, NS_PER_DAY, 10, 1), (100, 0, 10, 1), (100, NS_PER_DAY, -1, 1), (100, NS_PER_DAY, 10, 0)],
)
def test_invalid_path_arguments_are_rejected(initial, step_ns, n_steps, n_paths):
    with pytest.raises(ValueError, match="expected"):
        heston_paths(generator(1, "h"), initial, LEWIS, 0.0, step_ns, n_steps, n_paths)


@pytest.mark.parametrize("bad", [(0.0, 100.0, 1.0), (100.0, -1.0, 1.0), (100.0, 100.0, 0.0)])
def test_invalid_pricer_arguments_are_rejected(bad):
    spot, strike, years = bad
    with pytest.raises(ValueError, match="expected"):
        heston_call_price(LEWIS, spot, strike, years, RATE, YIELD)


# Path generator ------------------------------------------------------------------------

MC_PATHS, MC_STEPS = 20_000, 73  # 73 steps of 5 days = 365 days = 1 year
TICKS_PER_UNIT = 1_000  # S0 = 100.000 in ticks of 0.001


@pytest.fixture(scope="module")
def monte_carlo():
    rng = generator(2026, "heston-mc")
    return heston_paths(rng, 100 * TICKS_PER_UNIT, LEWIS, RATE - YIELD, 5 * NS_PER_DAY, MC_STEPS, MC_PATHS)


# Discretisation bias of full truncation + log-Euler for the K = 100 call, measured with this
# generator, 10^6 paths and S_T as control variate (standard error 0.0125): +0.012 at 12 steps
# a year, -0.011 at 73, -0.022 at 365; no bias beyond about 0.03 is resolved. Allow 0.05 on
# top of the test's own 3 standard errors.
BIAS_ALLOWANCE = 0.05


def test_monte_carlo_call_price_is_the_reference_within_three_standard_errors(monte_carlo):
    terminal = monte_carlo.ticks[:, -1] / TICKS_PER_UNIT
    payoff = math.exp(-RATE * YEARS) * np.maximum(terminal - 100.0, 0.0)
    standard_error = payoff.std(ddof=1) / math.sqrt(MC_PATHS)
    assert standard_error < 0.25  # "modest": 20,000 paths give about 0.2
    assert abs(payoff.mean() - CALLS[100]) < 3 * standard_error + BIAS_ALLOWANCE


def test_monte_carlo_call_with_the_forward_as_control_variate(monte_carlo):
    # E[e^-rT S_T] = S0 e^-qT holds exactly in the log-Euler scheme, so S_T is a control.
    terminal = monte_carlo.ticks[:, -1] / TICKS_PER_UNIT
    payoff = math.exp(-RATE * YEARS) * np.maximum(terminal - 100.0, 0.0)
    control = math.exp(-RATE * YEARS) * terminal - SPOT * math.exp(-YIELD * YEARS)
    beta = np.cov(payoff, control)[0, 1] / control.var(ddof=1)
    adjusted = payoff - beta * control
    standard_error = adjusted.std(ddof=1) / math.sqrt(MC_PATHS)
    assert standard_error < 0.12
    assert abs(adjusted.mean() - CALLS[100]) < 3 * standard_error + BIAS_ALLOWANCE


def test_discounted_price_is_a_martingale(monte_carlo):
    discounted = math.exp(-RATE * YEARS) * monte_carlo.ticks[:, -1] / TICKS_PER_UNIT
    standard_error = discounted.std(ddof=1) / math.sqrt(MC_PATHS)
    assert abs(discounted.mean() - SPOT * math.exp(-YIELD * YEARS)) < 3 * standard_error


def test_mean_variance_follows_its_mean_reversion(monte_carlo):
    # E v_t = theta + (v0 - theta) e^-kappa t (exact for full truncation while v rarely hits 0).
    variance = (monte_carlo.vol_ppm / 1e6) ** 2
    for step in (7, 36, 73):
        t = step * 5 / 365
        expected = LEWIS.theta + (LEWIS.v0 - LEWIS.theta) * math.exp(-LEWIS.kappa * t)
        standard_error = variance[:, step].std(ddof=1) / math.sqrt(MC_PATHS)
        assert abs(variance[:, step].mean() - expected) < 4 * standard_error + 0.004, step


@pytest.mark.parametrize("rho", [-0.5, 0.5])
def test_correlation_of_price_and_variance_increments_is_rho(rho):
    # The leverage effect: rho < 0 makes falling prices come with rising variance.
    params = LEWIS._replace(rho=rho)
    minute = 60 * NS_PER_S
    paths = heston_paths(generator(5, "lev"), 5_000_000, params, 0.0, minute, 20_000)
    log_returns = np.diff(np.log(paths.ticks[0].astype(np.float64)))
    variance_changes = np.diff((paths.vol_ppm[0] / 1e6) ** 2)
    sample = np.corrcoef(log_returns, variance_changes)[0, 1]
    # Standard error (1 - rho^2) / sqrt(n) = 0.005; the ppm and tick rounding add a little noise.
    assert abs(sample - rho) < 0.05
    assert np.sign(sample) == np.sign(rho)


def test_paths_shapes_start_and_floors(monte_carlo):
    assert isinstance(monte_carlo, HestonPaths)
    assert monte_carlo.ticks.shape == monte_carlo.vol_ppm.shape == (MC_PATHS, MC_STEPS + 1)
    assert monte_carlo.ticks.dtype == monte_carlo.vol_ppm.dtype == np.int64
    assert np.all(monte_carlo.ticks[:, 0] == 100_000)
    assert np.all(monte_carlo.vol_ppm[:, 0] == 200_000)  # sqrt(0.04) = 0.2 = 200,000 ppm
    assert monte_carlo.ticks.min() >= 1 and monte_carlo.vol_ppm.min() >= 0


def test_prices_never_fall_below_one_tick():
    crash = HestonParams(kappa=1.0, theta=4.0, xi=1.0, rho=-0.9, v0=4.0)  # 200 % vol
    paths = heston_paths(generator(3, "floor"), 3, crash, -50.0, NS_PER_DAY, 2_000)
    assert paths.ticks.min() == 1


def test_same_seed_same_paths_different_seed_different_paths():
    run = lambda seed: heston_paths(generator(seed, "h"), 5_000_000, LEWIS, 0.0, 60 * NS_PER_S, 2_000, 3)  # noqa: E731
    a, b, c = run(1), run(1), run(2)
    assert np.array_equal(a.ticks, b.ticks) and np.array_equal(a.vol_ppm, b.vol_ppm)
    assert not np.array_equal(a.ticks, c.ticks) and not np.array_equal(a.vol_ppm, c.vol_ppm)


def test_python_and_numpy_variance_recursions_agree_bit_for_bit():
    # Up to SCALAR_PATHS paths the variance is stepped in Python floats, beyond in numpy:
    # the same operations in the same order, so a path does not depend on how many run with it.
    from clearing.core.heston import _variance_paths_numpy, _variance_paths_python

    z = generator(9, "v").standard_normal((12, 2_000))
    crash = HestonParams(kappa=1.0, theta=0.04, xi=2.0, rho=-0.5, v0=0.01)  # Feller ratio 0.02
    python, numpy_ = _variance_paths_python(z, crash, 1 / 365), _variance_paths_numpy(z, crash, 1 / 365)
    assert python.shape == numpy_.shape == (12, 2_001)
    assert np.array_equal(python, numpy_)
    assert python.min() < 0  # full truncation lets v go negative; only v+ is used


def test_vanishing_vol_of_vol_follows_the_deterministic_variance():
    params = HestonParams(kappa=2.0, theta=0.09, xi=1e-9, rho=-0.5, v0=0.25)
    paths = heston_paths(generator(4, "det"), 1_000_000, params, 0.0, 3600 * NS_PER_S, 24 * 365)
    t = np.arange(24 * 365 + 1) / (24 * 365)
    expected = np.sqrt(params.theta + (params.v0 - params.theta) * np.exp(-params.kappa * t)) * 1e6
    assert np.max(np.abs(paths.vol_ppm[0] - expected)) < 100  # 1e-4 of vol: Euler's error at hourly steps
