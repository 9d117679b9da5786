"""Correlated multi-asset price paths in integer ticks, with a stress regime.

Pure: the generator is passed in, paths come back as int64 ticks with the regime of each
step. Log-returns are jointly normal with a validated correlation matrix; in stress every
correlation is pulled toward 1 and every volatility multiplied. The Cholesky factor is
computed in Python floats and applied with elementwise + and x only (no BLAS, whose FMA and
blocking vary by CPU), and exponentials use `math.exp`, so a path does not depend on the
machine. Sources: docs/references.md [glasserman-2003], [hamilton-1989], [longin-solnik-2001].
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from clearing.core.logpaths import Shock, add_shocks, ticks_from_log_paths
from clearing.units import NS_PER_S, SECONDS_PER_YEAR, Float64Array, Int64Array

BoolArray = npt.NDArray[np.bool_]
NS_PER_HOUR = 3600 * NS_PER_S
SYMMETRY_TOLERANCE = 1e-12  # |c_ij - c_ji| and |c_ii - 1| allowed: matrices computed in floats


class StressWindow(NamedTuple):
    """A scheduled stress period: the steps that start in [start_ns, end_ns) are stressed."""

    start_ns: int
    end_ns: int


class StressChain(NamedTuple):
    """A two-state Markov chain between calm and stress, in continuous time with hourly rates.

    `enter_per_hour` is the rate of calm -> stress and `leave_per_hour` of stress -> calm: the
    mean calm spell is 1 / enter hours, the mean stress spell 1 / leave hours, and the chain
    spends enter / (enter + leave) of the time in stress.
    """

    enter_per_hour: float
    leave_per_hour: float
    start_stressed: bool = False


class StressRegime(NamedTuple):
    """What stress does (pull correlations toward 1, multiply volatilities) and when it is on."""

    correlation_pull: float  # lambda in [0, 1]: rho_stress = rho + lambda (1 - rho)
    vol_multiplier: float  # sigma_stress = vol_multiplier x sigma, >= 0
    switching: StressWindow | StressChain


class CorrelatedPaths(NamedTuple):
    """Prices in ticks, shape (N, n_steps + 1), and the regime of each step, shape (n_steps,)."""

    ticks: Int64Array
    stressed: BoolArray


def validate_correlation(matrix: npt.ArrayLike) -> Float64Array:
    """Return the lower Cholesky factor L (L L^T = matrix) of a valid correlation matrix.

    Valid: square (N, N) with N >= 1, finite, symmetric and with a unit diagonal (to within
    1e-12), entries in [-1, 1], and positive definite (every Cholesky pivot > 0). L is
    computed from the lower triangle in Python floats (Cholesky-Banachiewicz), so it is the
    same on every machine. Shape (N, N), float64, zeros above the diagonal.

    Raises:
        ValueError: a one-line message naming the first problem found; for a matrix that is
            not positive definite it gives the smallest eigenvalue.
    """
    c = np.array(matrix, dtype=np.float64)
    if c.ndim != 2 or c.shape[0] != c.shape[1] or c.shape[0] == 0:
        raise ValueError(f"expected a square correlation matrix, was shape {c.shape}")
    if not np.all(np.isfinite(c)):
        raise ValueError("correlation matrix has entries that are not finite")
    asymmetric = np.argwhere(np.abs(c - c.T) > SYMMETRY_TOLERANCE)
    if len(asymmetric):
        i, j = (int(k) for k in asymmetric[0])
        raise ValueError(f"correlation matrix is not symmetric: [{i}, {j}] = {c[i, j]:.6g} but [{j}, {i}] = {c[j, i]:.6g}")
    off = np.flatnonzero(np.abs(np.diag(c) - 1.0) > SYMMETRY_TOLERANCE)
    if len(off):
        i = int(off[0])
        raise ValueError(f"correlation matrix diagonal is not 1: [{i}, {i}] = {c[i, i]:.6g}")
    outside = np.argwhere(np.abs(c) > 1.0)
    if len(outside):
        i, j = (int(k) for k in outside[0])
        raise ValueError(f"correlation matrix has an entry outside [-1, 1]: [{i}, {j}] = {c[i, j]:.6g}")
    factor = _cholesky(c.tolist())
    if factor is None:
        smallest = float(np.linalg.eigvalsh(c)[0])
        raise ValueError(f"correlation matrix is not positive definite: smallest eigenvalue {smallest:.3g}")
    return np.array(factor, dtype=np.float64)


def _cholesky(a: list[list[float]]) -> list[list[float]] | None:
    # Python floats: IEEE-rounded + - x / and a correctly rounded sqrt, the same on every CPU.
    n = len(a)
    factor = [[0.0] * n for _ in range(n)]
    for i in range(n):
        for j in range(i + 1):
            s = a[i][j]
            for k in range(j):
                s -= factor[i][k] * factor[j][k]
            if i == j:
                if not s > 0.0:
                    return None
                factor[i][i] = math.sqrt(s)
            else:
                factor[i][j] = s / factor[j][j]
    return factor


def stressed_correlation(matrix: npt.ArrayLike, pull: float) -> Float64Array:
    """Return rho_stress = rho + pull x (1 - rho), elementwise, for pull in [0, 1].

    The diagonal stays 1, and rho_stress = (1 - pull) rho + pull 1 1^T is a convex combination
    of a positive definite matrix and the positive semidefinite all-ones matrix: its smallest
    eigenvalue is at least (1 - pull) x rho's, so it is positive definite for pull < 1 and
    the singular all-ones matrix (every asset moves together) at pull = 1. Shape (N, N).

    Raises:
        ValueError: pull is not in [0, 1].
    """
    if not 0.0 <= pull <= 1.0:
        raise ValueError(f"expected a correlation pull in [0, 1], was {pull}")
    c = np.array(matrix, dtype=np.float64)
    stressed: Float64Array = c + pull * (1.0 - c)
    return stressed


def stress_transition_probabilities(chain: StressChain, step_ns: int) -> tuple[float, float]:
    """Return (P(calm -> stress), P(stress -> calm)) over one step of the continuous-time chain.

    With rates a = enter_per_hour, b = leave_per_hour and h = step_ns in hours, the exact
    transition matrix exp(Q h) of the generator Q = [[-a, a], [b, -b]] gives
    P(calm -> stress) = a / (a + b) x (1 - e^-(a + b) h) and P(stress -> calm) = b / (a + b)
    x (1 - e^-(a + b) h); both are 0 when a + b = 0. For small steps they are about a h and b h.

    Raises:
        ValueError: a rate is negative or not finite, or step_ns <= 0.
    """
    a, b = chain.enter_per_hour, chain.leave_per_hour
    if not (math.isfinite(a) and math.isfinite(b) and a >= 0 and b >= 0) or step_ns <= 0:
        raise ValueError(f"expected finite rates >= 0 and step_ns > 0, was {a}, {b}, {step_ns}")
    total = a + b
    if total == 0.0:
        return 0.0, 0.0
    moved = -math.expm1(-total * step_ns / NS_PER_HOUR)
    return a / total * moved, b / total * moved


def stress_steps(rng: np.random.Generator, switching: StressWindow | StressChain, step_ns: int, n_steps: int) -> BoolArray:
    """Return whether each step is stressed, shape (n_steps,); step k runs from k x step_ns.

    A window stresses the steps whose start k x step_ns lies in [start_ns, end_ns) and draws
    nothing. A chain starts in `start_stressed` for step 0 and switches between steps with
    `stress_transition_probabilities`: its spells are drawn as geometric numbers of steps
    (calm ~ Geometric(P(calm -> stress)), stress ~ Geometric(P(stress -> calm)), support
    1, 2, ...), in rounds of 16, 32, 64, ... spells of each state (first the state the chain
    is in, then the other) until the horizon is covered.

    Raises:
        ValueError: step_ns <= 0, n_steps < 0, a window with end < start, or bad rates.
    """
    if step_ns <= 0 or n_steps < 0:
        raise ValueError(f"expected step_ns > 0 and n_steps >= 0, was {step_ns}, {n_steps}")
    if isinstance(switching, StressWindow):
        if switching.end_ns < switching.start_ns:
            raise ValueError(f"expected a stress window with end >= start, was [{switching.start_ns}, {switching.end_ns})")
        starts = np.arange(n_steps, dtype=np.int64) * step_ns
        window: BoolArray = (starts >= switching.start_ns) & (starts < switching.end_ns)
        return window
    enter, leave = stress_transition_probabilities(switching, step_ns)
    first, second = (leave, enter) if switching.start_stressed else (enter, leave)
    spells: list[Int64Array] = []
    covered, batch = 0, 16
    while covered < n_steps:
        pair = np.column_stack([_spells(rng, first, batch, n_steps), _spells(rng, second, batch, n_steps)]).ravel()
        spells.append(pair)
        covered += int(pair.sum())
        batch *= 2
    ends = np.cumsum(np.concatenate(spells)) if spells else np.zeros(0, dtype=np.int64)
    spell = np.searchsorted(ends, np.arange(n_steps), side="right")
    stressed: BoolArray = (spell % 2 == 0) == switching.start_stressed
    return stressed


def _spells(rng: np.random.Generator, probability: float, count: int, n_steps: int) -> Int64Array:
    # A state left with probability 0 is never left; the cap keeps the running sum in int64.
    if probability == 0.0:
        return np.full(count, max(n_steps, 1), dtype=np.int64)
    return np.minimum(rng.geometric(probability, count), max(n_steps, 1)).astype(np.int64)


def _check_assets(initial: Int64Array, vols: Float64Array, drifts: Float64Array, step_ns: int, n_steps: int) -> None:
    if initial.ndim != 1 or vols.shape != initial.shape or drifts.shape != initial.shape:
        raise ValueError(
            f"expected initial ticks, vols and drifts of one shape (N,), was {initial.shape}, {vols.shape}, {drifts.shape}"
        )
    if np.any(initial <= 0) or np.any(~np.isfinite(vols)) or np.any(vols < 0) or np.any(~np.isfinite(drifts)):
        raise ValueError(f"expected initial ticks > 0 and finite vols >= 0, was {initial.tolist()}, {vols.tolist()}")
    if n_steps < 0 or step_ns <= 0:
        raise ValueError(f"expected n_steps >= 0 and step_ns > 0, was {n_steps}, {step_ns}")


def _check_regime(stress: StressRegime) -> None:
    if not 0.0 <= stress.correlation_pull <= 1.0:
        raise ValueError(f"expected a correlation pull in [0, 1], was {stress.correlation_pull}")
    if not (math.isfinite(stress.vol_multiplier) and stress.vol_multiplier >= 0):
        raise ValueError(f"expected a finite vol multiplier >= 0, was {stress.vol_multiplier}")


def correlated_gbm_paths(
    rng: np.random.Generator,
    initial_ticks: npt.ArrayLike,
    vols: npt.ArrayLike,
    drifts: npt.ArrayLike,
    corr: npt.ArrayLike,
    step_ns: int,
    n_steps: int,
    stress: StressRegime | None = None,
    shocks: Sequence[Sequence[Shock]] = (),
) -> CorrelatedPaths:
    """Return N correlated GBM price paths in ticks at times 0, step_ns, ..., n_steps x step_ns.

    For asset i and step k, with dt = step_ns in years (365 days):
        log S_i,k+1 - log S_i,k = (mu_i - s_ik^2 / 2) dt + s_ik sqrt(dt) e_ik,
    s_ik = vols_i, or vols_i x vol_multiplier in a stressed step. e_k ~ N(0, corr) in calm,
    e_k = L z_k with L = validate_correlation(corr); in stress e_k = sqrt(1 - lambda) L z_k
    + sqrt(lambda) c_k 1 ~ N(0, stressed_correlation(corr, lambda)), c_k a common normal
    factor. Drifts mu_i and vols_i are annualised, shapes (N,); initial_ticks (N,) > 0.
    Draws standard_normal((N + 1, n_steps)) (rows 0..N-1 are z, row N is c), then the
    chain's spells if any; so one asset without stress equals `clearing.core.paths.gbm_path`
    with the same generator, and a stress regime changes only the stressed steps. Prices
    are rounded to the nearest tick (half to even), never below one tick
    (`ticks_from_log_paths`). `shocks[i]`, if given, are asset i's scripted moves
    (`clearing.core.logpaths.add_shocks`, as `gbm_path`'s). Returns ticks (N, n_steps + 1)
    int64 and stressed (n_steps,).

    Raises:
        ValueError: shapes differ, an initial price <= 0, a vol < 0 or not finite, n_steps < 0,
            step_ns <= 0, an invalid correlation matrix or stress regime.
    """
    initial = np.asarray(initial_ticks, dtype=np.int64)
    sigma = np.asarray(vols, dtype=np.float64)
    mu = np.asarray(drifts, dtype=np.float64)
    _check_assets(initial, sigma, mu, step_ns, n_steps)
    factor = validate_correlation(corr)
    if factor.shape[0] != initial.shape[0]:
        raise ValueError(f"expected a correlation matrix of shape ({len(initial)}, {len(initial)}), was {factor.shape}")
    if stress is not None:
        _check_regime(stress)
    n = len(initial)
    dt = step_ns / NS_PER_S / SECONDS_PER_YEAR
    z = rng.standard_normal((n + 1, n_steps))
    normals = _correlated(factor, z[:n])
    stressed = np.zeros(n_steps, dtype=bool) if stress is None else stress_steps(rng, stress.switching, step_ns, n_steps)
    scale = np.ones(n_steps)
    if stress is not None and stressed.any():
        pull = stress.correlation_pull
        normals[:, stressed] = math.sqrt(1.0 - pull) * normals[:, stressed] + math.sqrt(pull) * z[n, stressed]
        scale[stressed] = stress.vol_multiplier
    step_vols = sigma[:, None] * scale[None, :]
    increments = (mu[:, None] - 0.5 * step_vols**2) * dt + step_vols * math.sqrt(dt) * normals
    for row, scripted in zip(increments, shocks, strict=False):
        add_shocks(row, step_ns, scripted)
    return CorrelatedPaths(ticks_from_log_paths(initial, increments), stressed)


def _correlated(factor: Float64Array, z: Float64Array) -> Float64Array:
    # e_i = sum_{j <= i} L_ij z_j, accumulated left to right with separate x and + (no BLAS).
    rows = []
    for i in range(factor.shape[0]):
        row = factor[i, 0] * z[0]
        for j in range(1, i + 1):
            row = row + factor[i, j] * z[j]
        rows.append(row)
    return np.array(rows).reshape(z.shape)
