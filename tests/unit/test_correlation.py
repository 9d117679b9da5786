"""Correlated multi-asset GBM paths, correlation validation and the stress regime.

Statistical tolerances come from the sample size n: the standard error of a sample
correlation is about (1 - rho^2) / sqrt(n), of a sample standard deviation about
sigma / sqrt(2 n); the tests allow 4 to 5 standard errors, so a correct generator fails
about once in 10^4 to 10^6 runs (and the seeds are fixed, so never in CI).
"""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from clearing.core.correlation import (
    CorrelatedPaths,
    StressChain,
    StressRegime,
    StressWindow,
    correlated_gbm_paths,
    stress_steps,
    stress_transition_probabilities,
    stressed_correlation,
    validate_correlation,
)
from clearing.core.logpaths import ticks_from_log_paths
from clearing.core.paths import gbm_path
from clearing.rng import generator
from clearing.units import NS_PER_S, SECONDS_PER_YEAR

MINUTE_NS = 60 * NS_PER_S
CORR = np.array([[1.0, 0.7, 0.3], [0.7, 1.0, -0.2], [0.3, -0.2, 1.0]])
VOLS = np.array([0.8, 0.6, 1.0])
DRIFTS = np.array([0.0, 0.05, -0.1])
INITIAL = np.array([5_000_000, 300_000, 2_000_000], dtype=np.int64)


def log_returns(ticks):
    return np.diff(np.log(ticks.astype(np.float64)), axis=1)


def correlation_bound(rho, n, errors=4.5):
    return errors * (1.0 - rho**2) / math.sqrt(n) + 1e-3


# validate_correlation ------------------------------------------------------------------


def test_validate_correlation_returns_the_lower_cholesky_factor():
    factor = validate_correlation(CORR)
    assert factor.shape == (3, 3)
    assert np.allclose(np.triu(factor, 1), 0.0)
    assert np.allclose(factor @ factor.T, CORR, atol=1e-14)
    assert np.all(np.diag(factor) > 0)


def test_validate_correlation_rejects_an_asymmetric_matrix():
    bad = CORR.copy()
    bad[0, 1] = 0.6
    with pytest.raises(ValueError, match=r"not symmetric: \[0, 1\] = 0.6 but \[1, 0\] = 0.7"):
        validate_correlation(bad)


def test_validate_correlation_rejects_a_diagonal_other_than_one():
    bad = CORR.copy()
    bad[2, 2] = 0.9
    with pytest.raises(ValueError, match=r"diagonal is not 1: \[2, 2\] = 0.9"):
        validate_correlation(bad)


def test_validate_correlation_rejects_an_entry_outside_minus_one_one():
    bad = np.array([[1.0, 1.2], [1.2, 1.0]])
    with pytest.raises(ValueError, match=r"outside \[-1, 1\]: \[0, 1\] = 1.2"):
        validate_correlation(bad)


def test_validate_correlation_names_the_smallest_eigenvalue_when_not_positive_definite():
    # Pairwise plausible, jointly impossible: a ~ b, b ~ c, but a ~ -c.
    bad = np.array([[1.0, 0.9, -0.9], [0.9, 1.0, 0.9], [-0.9, 0.9, 1.0]])
    smallest = float(np.linalg.eigvalsh(bad)[0])
    assert smallest < 0
    with pytest.raises(ValueError, match="not positive definite") as caught:
        validate_correlation(bad)
    message = str(caught.value)
    assert f"smallest eigenvalue {smallest:.3g}" in message
    assert "\n" not in message


def test_validate_correlation_rejects_a_singular_matrix():
    with pytest.raises(ValueError, match="not positive definite"):
        validate_correlation(np.ones((3, 3)))


@pytest.mark.parametrize(
    "matrix",
    [np.ones((2, 3)), np.ones(3), np.array([[1.0, np.nan], [np.nan, 1.0]]), np.zeros((0, 0))],
)
def test_validate_correlation_rejects_shapes_and_non_finite_entries(matrix):
    with pytest.raises(ValueError, match="correlation matrix"):
        validate_correlation(matrix)


# Stressed correlation ------------------------------------------------------------------


def test_stressed_correlation_pulls_off_diagonal_entries_toward_one():
    stressed = stressed_correlation(CORR, 0.5)
    assert np.array_equal(np.diag(stressed), np.ones(3))
    assert stressed[0, 1] == pytest.approx(0.85)
    assert stressed[1, 2] == pytest.approx(0.4)
    assert np.array_equal(stressed_correlation(CORR, 0.0), CORR)
    assert np.array_equal(stressed_correlation(CORR, 1.0), np.ones((3, 3)))


@pytest.mark.parametrize("pull", [-0.1, 1.1, math.nan])
def test_stressed_correlation_rejects_a_pull_outside_zero_one(pull):
    with pytest.raises(ValueError, match="pull"):
        stressed_correlation(CORR, pull)


@st.composite
def correlation_matrices(draw):
    # D^-1/2 (A A^T + eps I) D^-1/2 with A random: every valid correlation matrix arises this way.
    n = draw(st.integers(2, 6))
    k = draw(st.integers(1, 6))
    entries = draw(st.lists(st.floats(-3, 3), min_size=n * k, max_size=n * k))
    ridge = draw(st.floats(1e-3, 1.0))
    a = np.array(entries).reshape(n, k)
    covariance = a @ a.T + ridge * np.eye(n)
    scale = 1.0 / np.sqrt(np.diag(covariance))
    matrix = covariance * scale[:, None] * scale[None, :]
    np.fill_diagonal(matrix, 1.0)
    return (matrix + matrix.T) / 2


@given(correlation_matrices(), st.floats(0.0, 1.0))
def test_stressed_correlation_stays_positive_semidefinite(matrix, pull):
    # rho_s = (1 - pull) rho + pull 1 1^T: a convex combination of a PD and a PSD matrix, so
    # its smallest eigenvalue is at least (1 - pull) x that of rho.
    stressed = stressed_correlation(matrix, pull)
    smallest = np.linalg.eigvalsh(stressed)[0]
    assert smallest >= (1.0 - pull) * np.linalg.eigvalsh(matrix)[0] - 1e-12
    assert np.all(np.abs(stressed) <= 1.0)
    assert np.array_equal(np.diag(stressed), np.ones(len(matrix)))


@given(correlation_matrices(), st.floats(0.0, 0.99))
def test_stressed_correlation_below_full_pull_is_a_valid_correlation_matrix(matrix, pull):
    validate_correlation(matrix)
    validate_correlation(stressed_correlation(matrix, pull))


# Paths: distribution -------------------------------------------------------------------


def test_correlated_gbm_paths_shapes_and_dtypes():
    paths = correlated_gbm_paths(generator(1, "p"), INITIAL, VOLS, DRIFTS, CORR, MINUTE_NS, 100)
    assert isinstance(paths, CorrelatedPaths)
    assert paths.ticks.shape == (3, 101) and paths.ticks.dtype == np.int64
    assert paths.stressed.shape == (100,) and paths.stressed.dtype == np.bool_
    assert not paths.stressed.any()
    assert np.array_equal(paths.ticks[:, 0], INITIAL)


def test_sample_correlation_of_log_returns_is_the_target():
    n = 50_000
    paths = correlated_gbm_paths(generator(7, "corr"), INITIAL, VOLS, DRIFTS, CORR, MINUTE_NS, n)
    sample = np.corrcoef(log_returns(paths.ticks))
    for i, j in [(0, 1), (0, 2), (1, 2)]:
        assert abs(sample[i, j] - CORR[i, j]) < correlation_bound(CORR[i, j], n), (i, j, sample[i, j])


def test_annualised_volatility_of_each_asset_is_the_target():
    n = 50_000
    paths = correlated_gbm_paths(generator(8, "vol"), INITIAL, VOLS, DRIFTS, CORR, MINUTE_NS, n)
    dt = MINUTE_NS / NS_PER_S / SECONDS_PER_YEAR
    realised = log_returns(paths.ticks).std(axis=1, ddof=1) / math.sqrt(dt)
    assert np.all(np.abs(realised / VOLS - 1.0) < 4.5 / math.sqrt(2 * n)), realised


def test_mean_log_return_carries_the_ito_correction():
    # E log-return = (mu - sigma^2 / 2) per year. One path cannot show it (its standard error
    # sigma / sqrt(T) needs T ~ 10^3 years to beat sigma^2 / 2), so average 100 independent
    # assets over 16 years of days: standard error 0.5 / sqrt(1600) = 0.0125, Itô term 0.125.
    n_assets, n_days = 100, 16 * 365
    ones = np.ones(n_assets)
    paths = correlated_gbm_paths(generator(9, "ito"), np.full(n_assets, 10**9), 0.5 * ones, 0.05 * ones, np.eye(n_assets),
                                 86_400 * NS_PER_S, n_days)  # fmt: skip
    mean = np.log(paths.ticks[:, -1] / paths.ticks[:, 0]).mean() / 16
    assert abs(mean - (0.05 - 0.125)) < 4 * 0.0125


# Paths: stress regime ------------------------------------------------------------------


def test_scheduled_window_raises_correlations_and_volatilities_inside_it():
    n = 60_000
    window = StressWindow(20_000 * MINUTE_NS, 40_000 * MINUTE_NS)
    regime = StressRegime(correlation_pull=0.6, vol_multiplier=2.5, switching=window)
    paths = correlated_gbm_paths(generator(3, "stress"), INITIAL, VOLS, DRIFTS, CORR, MINUTE_NS, n, stress=regime)
    expected = np.zeros(n, dtype=bool)
    expected[20_000:40_000] = True
    assert np.array_equal(paths.stressed, expected)
    returns = log_returns(paths.ticks)
    inside, outside = returns[:, expected], returns[:, ~expected]
    target = stressed_correlation(CORR, 0.6)
    c_in, c_out = np.corrcoef(inside), np.corrcoef(outside)
    for i, j in [(0, 1), (0, 2), (1, 2)]:
        assert abs(c_in[i, j] - target[i, j]) < correlation_bound(target[i, j], inside.shape[1])
        assert abs(c_out[i, j] - CORR[i, j]) < correlation_bound(CORR[i, j], outside.shape[1])
        assert c_in[i, j] > c_out[i, j] + 0.1
    ratio = inside.std(axis=1) / outside.std(axis=1)
    assert np.all(np.abs(ratio / 2.5 - 1.0) < 0.03), ratio


def test_full_pull_moves_every_asset_together_in_stress():
    window = StressWindow(0, 10**18)
    regime = StressRegime(correlation_pull=1.0, vol_multiplier=1.0, switching=window)
    vols = np.array([0.5, 0.5])
    initial = np.array([10**9, 10**9], dtype=np.int64)
    paths = correlated_gbm_paths(generator(4, "one"), initial, vols, np.zeros(2), np.eye(2), MINUTE_NS, 500, stress=regime)
    assert paths.stressed.all()
    assert np.array_equal(paths.ticks[0], paths.ticks[1])


def test_stress_changes_only_the_steps_inside_the_window():
    window = StressWindow(300 * MINUTE_NS, 400 * MINUTE_NS)
    regime = StressRegime(correlation_pull=0.5, vol_multiplier=3.0, switching=window)
    calm = correlated_gbm_paths(generator(5, "w"), INITIAL, VOLS, DRIFTS, CORR, MINUTE_NS, 1000)
    stressed = correlated_gbm_paths(generator(5, "w"), INITIAL, VOLS, DRIFTS, CORR, MINUTE_NS, 1000, stress=regime)
    assert np.array_equal(calm.ticks[:, :301], stressed.ticks[:, :301])
    assert not np.array_equal(calm.ticks[:, 301:], stressed.ticks[:, 301:])
    # After the window the increments are the calm ones again (up to the tick rounding of the level).
    calm_after, stressed_after = log_returns(calm.ticks)[:, 400:], log_returns(stressed.ticks)[:, 400:]
    assert np.allclose(calm_after, stressed_after, atol=1e-5)


def test_a_window_outside_the_horizon_leaves_the_path_unchanged():
    regime = StressRegime(0.9, 4.0, StressWindow(10**18, 2 * 10**18))
    a = correlated_gbm_paths(generator(6, "x"), INITIAL, VOLS, DRIFTS, CORR, MINUTE_NS, 500)
    b = correlated_gbm_paths(generator(6, "x"), INITIAL, VOLS, DRIFTS, CORR, MINUTE_NS, 500, stress=regime)
    assert np.array_equal(a.ticks, b.ticks) and not b.stressed.any()


def test_stress_window_marks_the_steps_that_start_inside_it():
    steps = stress_steps(generator(0, "unused"), StressWindow(90, 300), 60, 8)
    # Steps start at 0, 60, 120, ..., 420: inside [90, 300) are 120, 180, 240.
    assert steps.tolist() == [False, False, True, True, True, False, False, False]


def test_markov_transition_probabilities_are_the_continuous_chain_sampled_on_the_grid():
    chain = StressChain(enter_per_hour=0.5, leave_per_hour=2.0)
    enter, leave = stress_transition_probabilities(chain, 3600 * NS_PER_S)
    total = 1.0 - math.exp(-2.5)
    assert enter == pytest.approx(0.5 / 2.5 * total, rel=1e-14)
    assert leave == pytest.approx(2.0 / 2.5 * total, rel=1e-14)
    assert stress_transition_probabilities(StressChain(0.0, 0.0), 10**9) == (0.0, 0.0)
    # Small steps: p ~ rate x hours.
    enter, leave = stress_transition_probabilities(chain, NS_PER_S)
    assert enter == pytest.approx(0.5 / 3600, rel=1e-3) and leave == pytest.approx(2.0 / 3600, rel=1e-3)


def test_markov_chain_spends_the_stationary_fraction_in_stress_with_the_right_sojourns():
    # Enter once per 10 h, leave after 2.5 h on average: stationary stress 0.1 / (0.1 + 0.4) = 20 %.
    chain = StressChain(enter_per_hour=0.1, leave_per_hour=0.4)
    n = 3_000_000  # minutes (5.7 years): one calm-stress cycle per 12.5 h, ~4,000 stress spells
    steps = stress_steps(generator(11, "chain"), chain, MINUTE_NS, n)
    assert steps.dtype == np.bool_ and steps.shape == (n,)
    spells = np.flatnonzero(np.diff(steps.astype(np.int8)) == 1).size
    assert spells > 3_500
    # Over ~4,000 cycles the fraction's sd is about 0.005 and the mean spell's about 1.6 %: 4-5 sd.
    assert abs(steps.mean() - 0.2) < 0.02
    mean_spell_minutes = steps.sum() / spells
    assert abs(mean_spell_minutes / 150.0 - 1.0) < 0.08


def test_markov_chain_starting_in_stress_and_never_leaving_stays_stressed():
    steps = stress_steps(generator(1, "c"), StressChain(1.0, 0.0, start_stressed=True), MINUTE_NS, 10_000)
    assert steps.all()
    steps = stress_steps(generator(1, "c"), StressChain(0.0, 1.0), MINUTE_NS, 10_000)
    assert not steps.any()


def test_markov_regime_drives_the_paths():
    regime = StressRegime(0.8, 3.0, StressChain(enter_per_hour=1.0, leave_per_hour=1.0))
    paths = correlated_gbm_paths(generator(12, "mk"), INITIAL, VOLS, DRIFTS, CORR, MINUTE_NS, 20_000, stress=regime)
    assert 0.3 < paths.stressed.mean() < 0.7
    returns = log_returns(paths.ticks)
    ratio = returns[:, paths.stressed].std(axis=1) / returns[:, ~paths.stressed].std(axis=1)
    assert np.all(np.abs(ratio / 3.0 - 1.0) < 0.05)


@pytest.mark.parametrize(
    "regime",
    [
        StressRegime(1.5, 2.0, StressWindow(0, 10)),
        StressRegime(0.5, -1.0, StressWindow(0, 10)),
        StressRegime(0.5, 2.0, StressWindow(10, 0)),
        StressRegime(0.5, 2.0, StressChain(-1.0, 1.0)),
        StressRegime(0.5, 2.0, StressChain(1.0, math.inf)),
    ],
)
def test_invalid_stress_regimes_are_rejected(regime):
    with pytest.raises(ValueError, match="expected"):
        correlated_gbm_paths(generator(1, "x"), INITIAL, VOLS, DRIFTS, CORR, MINUTE_NS, 10, stress=regime)


# Paths: conventions --------------------------------------------------------------------


def test_same_seed_same_paths_different_seed_different_paths():
    regime = StressRegime(0.5, 2.0, StressChain(2.0, 2.0))
    run = lambda seed: correlated_gbm_paths(generator(seed, "d"), INITIAL, VOLS, DRIFTS, CORR, MINUTE_NS, 5_000, stress=regime)  # noqa: E731
    a, b, c = run(1), run(1), run(2)
    assert np.array_equal(a.ticks, b.ticks) and np.array_equal(a.stressed, b.stressed)
    assert not np.array_equal(a.ticks, c.ticks)
    assert not np.array_equal(a.stressed, c.stressed)


def test_one_asset_without_stress_is_exactly_gbm_path():
    a = correlated_gbm_paths(
        generator(3, "g"), np.array([123_456]), np.array([0.9]), np.array([0.2]), np.eye(1), MINUTE_NS, 10_000
    )
    b = gbm_path(generator(3, "g"), 123_456, 10_000, MINUTE_NS, 0.9, 0.2)
    assert np.array_equal(a.ticks[0], b)


def test_prices_never_fall_below_one_tick():
    paths = correlated_gbm_paths(generator(2, "floor"), np.array([5, 3]), np.array([5.0, 5.0]), np.array([-200.0, -200.0]),
                                 np.array([[1.0, 0.5], [0.5, 1.0]]), 3600 * NS_PER_S, 2_000)  # fmt: skip
    assert paths.ticks.min() == 1


def test_inputs_are_not_mutated():
    arrays = [INITIAL.copy(), VOLS.copy(), DRIFTS.copy(), CORR.copy()]
    for a in arrays:
        a.flags.writeable = False
    correlated_gbm_paths(
        generator(1, "m"), *arrays, MINUTE_NS, 100, stress=StressRegime(0.5, 2.0, StressWindow(0, 50 * MINUTE_NS))
    )


def test_zero_steps_returns_the_initial_prices():
    paths = correlated_gbm_paths(generator(1, "z"), INITIAL, VOLS, DRIFTS, CORR, MINUTE_NS, 0)
    assert paths.ticks.tolist() == [[t] for t in INITIAL.tolist()] and paths.stressed.shape == (0,)


@pytest.mark.parametrize(
    ("initial", "vols", "drifts", "step_ns", "n_steps"),
    [
        (np.array([100, 0, 5]), VOLS, DRIFTS, MINUTE_NS, 10),
        (INITIAL, np.array([0.1, -0.2, 0.3]), DRIFTS, MINUTE_NS, 10),
        (INITIAL, VOLS[:2], DRIFTS, MINUTE_NS, 10),
        (INITIAL, VOLS, DRIFTS[:2], MINUTE_NS, 10),
        (INITIAL, VOLS, DRIFTS, 0, 10),
        (INITIAL, VOLS, DRIFTS, MINUTE_NS, -1),
    ],
)
def test_invalid_inputs_are_rejected(initial, vols, drifts, step_ns, n_steps):
    with pytest.raises(ValueError, match="expected"):
        correlated_gbm_paths(generator(1, "x"), initial, vols, drifts, CORR, step_ns, n_steps)


def test_ticks_from_log_paths_rounds_like_round_of_math_exp_and_floors_at_one_tick():
    increments = np.array([[0.1, -0.25, 0.05], [-50.0, 0.0, 49.0]])
    ticks = ticks_from_log_paths(np.array([1_001, 7]), increments)
    expected = [[1_001] + [round(1_001 * math.exp(x)) for x in np.cumsum(increments[0])], [7, 1, 1, 3]]
    # 7 e^-50 rounds to 0 and is floored to 1 tick; the floor does not compound: 7 e^-1 = 2.58 -> 3.
    assert ticks.dtype == np.int64 and ticks.tolist() == expected
