"""Heston stochastic volatility: price and volatility paths in integers, and European prices.

    dS = (r - q) S dt + sqrt(v) S dW1,   dv = kappa (theta - v) dt + xi sqrt(v) dW2,   dW1 dW2 = rho dt.
Pure: the generator is passed in; paths come back as int64 ticks and the instantaneous
volatility sqrt(v) in ppm, so one draw drives price and ATM volatility together. The
pricer integrates the characteristic function in Albrecher et al.'s "little trap" form.
Sources: docs/references.md [heston-1993], [albrecher-little-trap], [lord-full-truncation],
[lewis-heston-reference].
"""

from __future__ import annotations

import cmath
import math
from typing import NamedTuple

import numpy as np

from clearing.core.logpaths import ticks_from_log_paths
from clearing.units import NS_PER_S, PPM, SECONDS_PER_YEAR, Float64Array, Int64Array

SCALAR_PATHS = 32  # up to this many paths the variance is stepped in Python floats (measured crossover ~32)
QUAD_TOLERANCE = 1e-10  # absolute and relative, on the integral; tighter trips quad's round-off check for small xi
QUAD_LIMIT = 500  # subintervals; the reference prices need fewer than 100


class HestonParams(NamedTuple):
    """Heston (1993) parameters, annualised: dv = kappa (theta - v) dt + xi sqrt(v) dW2, corr(dW1, dW2) = rho."""

    kappa: float  # speed of mean reversion of the variance, per year, > 0
    theta: float  # long-run variance, > 0 (long-run volatility sqrt(theta))
    xi: float  # volatility of the variance ("vol of vol", sigma in some texts), > 0
    rho: float  # correlation of price and variance shocks, in (-1, 1); < 0 is the leverage effect
    v0: float  # initial variance, >= 0


class HestonPaths(NamedTuple):
    """Prices in ticks and instantaneous volatility sqrt(v+) in ppm, both (n_paths, n_steps + 1) int64."""

    ticks: Int64Array
    vol_ppm: Int64Array


def validate_heston(params: HestonParams) -> None:
    """Check kappa, theta, xi > 0, rho in (-1, 1) and v0 >= 0, all finite.

    The Feller condition 2 kappa theta >= xi^2 (`feller_ratio` >= 1, v never reaches 0) is
    not required: the path generator truncates at 0 and the pricer does not need it.

    Raises:
        ValueError: a parameter is out of range or not finite.
    """
    kappa, theta, xi, rho, v0 = params
    if not all(math.isfinite(x) for x in params):
        raise ValueError(f"expected finite Heston parameters, was {params}")
    if not (kappa > 0 and theta > 0 and xi > 0 and -1 < rho < 1 and v0 >= 0):
        raise ValueError(f"expected kappa, theta, xi > 0, -1 < rho < 1 and v0 >= 0, was {kappa}, {theta}, {xi}, {rho}, {v0}")


def feller_ratio(params: HestonParams) -> float:
    """Return 2 kappa theta / xi^2: at least 1 when the Feller condition holds and v stays positive."""
    return 2.0 * params.kappa * params.theta / params.xi**2


# Paths ---------------------------------------------------------------------------------


def heston_paths(
    rng: np.random.Generator,
    initial_ticks: int,
    params: HestonParams,
    drift: float,
    step_ns: int,
    n_steps: int,
    n_paths: int = 1,
) -> HestonPaths:
    """Return Heston price and volatility paths at times 0, step_ns, ..., n_steps x step_ns.

    Full-truncation Euler on the variance and log-Euler on the price (Lord et al.), with
    dt = step_ns in years (365 days), v+ = max(v, 0) and Z1, Z2 independent standard normals:
        v_k+1 = v_k + kappa (theta - v_k+) dt + xi sqrt(v_k+ dt) Z2_k
        log S_k+1 = log S_k + (drift - v_k+ / 2) dt + sqrt(v_k+ dt) (rho Z2_k + sqrt(1 - rho^2) Z1_k)
    so E[S_k+1 | v_k] = S_k e^(drift dt) exactly; drift = r - q prices under the
    risk-neutral measure. The scheme has a weak error of order dt; at one step a day or
    finer it is far below a tick (docs/correlated-paths.md gives the measured bias).
    Draws standard_normal((2, n_paths, n_steps)): [0] is Z1, [1] is Z2. Prices are rounded
    to the nearest tick (half to even, via `math.exp`), never below one tick; vol_ppm is
    round(sqrt(v_k+) x 10^6), half to even. Shapes (n_paths, n_steps + 1), int64.
    Source: docs/references.md [lord-full-truncation].

    Raises:
        ValueError: initial_ticks <= 0, step_ns <= 0, n_steps < 0, n_paths < 1, a drift
            that is not finite, or invalid parameters (`validate_heston`).
    """
    validate_heston(params)
    if initial_ticks <= 0 or step_ns <= 0 or n_steps < 0 or n_paths < 1 or not math.isfinite(drift):
        raise ValueError(
            f"expected initial > 0, step_ns > 0, n_steps >= 0, n_paths >= 1, finite drift, "
            f"was {initial_ticks}, {step_ns}, {n_steps}, {n_paths}, {drift}"
        )
    dt = step_ns / NS_PER_S / SECONDS_PER_YEAR
    z = rng.standard_normal((2, n_paths, n_steps))
    step = _variance_paths_python if n_paths <= SCALAR_PATHS else _variance_paths_numpy
    variance = np.maximum(step(z[1], params, dt), 0.0)
    root = np.sqrt(variance[:, :-1] * dt)
    shocks = params.rho * z[1] + math.sqrt(1.0 - params.rho**2) * z[0]
    increments = (drift - 0.5 * variance[:, :-1]) * dt + root * shocks
    vol_ppm = np.rint(np.sqrt(variance) * PPM).astype(np.int64)
    return HestonPaths(ticks_from_log_paths(initial_ticks, increments), vol_ppm)


def _variance_paths_python(z: Float64Array, params: HestonParams, dt: float) -> Float64Array:
    # The recursion is sequential in time; for few paths Python floats beat numpy per step.
    kappa, theta, xi, _, v0 = params
    rows = []
    for normals in z.tolist():
        v, row = v0, [v0]
        for w in normals:
            vp = v if v > 0.0 else 0.0
            v = v + kappa * (theta - vp) * dt + xi * math.sqrt(vp * dt) * w
            row.append(v)
        rows.append(row)
    return np.array(rows, dtype=np.float64).reshape(z.shape[0], z.shape[1] + 1)


def _variance_paths_numpy(z: Float64Array, params: HestonParams, dt: float) -> Float64Array:
    # The Python loop's operations in the same order (x and + commute exactly), across paths,
    # in place: equal bits, and no allocation per step.
    kappa, theta, xi, _, v0 = params
    out = np.empty((z.shape[1] + 1, z.shape[0]))
    out[0] = v0
    normals = np.ascontiguousarray(z.T)
    vp, drift, noise = np.empty(z.shape[0]), np.empty(z.shape[0]), np.empty(z.shape[0])
    for k in range(z.shape[1]):
        np.maximum(out[k], 0.0, out=vp)
        np.subtract(theta, vp, out=drift)
        drift *= kappa
        drift *= dt
        drift += out[k]
        np.multiply(vp, dt, out=noise)
        np.sqrt(noise, out=noise)
        noise *= xi
        noise *= normals[k]
        np.add(drift, noise, out=out[k + 1])
    return np.ascontiguousarray(out.T)


# Pricer ---------------------------------------------------------------------------------


def heston_characteristic_function(
    u: complex, params: HestonParams, spot: float, years: float, rate: float, dividend_yield: float
) -> complex:
    """Return E[exp(i u log S_T)] under the risk-neutral Heston dynamics (the "little trap" form).

    With b = kappa - rho xi i u, d = sqrt(b^2 + xi^2 (i u + u^2)), g = (b - d) / (b + d):
        phi(u) = exp(i u (log S + (r - q) T) + kappa theta / xi^2 ((b - d) T - 2 log((1 - g e^-dT) / (1 - g)))
                     + v0 / xi^2 (b - d) (1 - e^-dT) / (1 - g e^-dT)).
    This form (Albrecher et al.) keeps the complex logarithm on its principal branch, so
    phi is continuous in u for every maturity. u may be complex (phi(-i) is the forward).
    Source: docs/references.md [albrecher-little-trap].
    """
    kappa, theta, xi, rho, v0 = params
    iu = 1j * u
    b = kappa - rho * xi * iu
    d = cmath.sqrt(b * b + xi * xi * (iu + u * u))
    g = (b - d) / (b + d)
    decay = cmath.exp(-d * years)
    log_ratio = cmath.log((1.0 - g * decay) / (1.0 - g))
    c = kappa * theta / (xi * xi) * ((b - d) * years - 2.0 * log_ratio)
    d_term = (b - d) / (xi * xi) * (1.0 - decay) / (1.0 - g * decay)
    return cmath.exp(iu * (math.log(spot) + (rate - dividend_yield) * years) + c + d_term * v0)


def heston_call_price(
    params: HestonParams, spot: float, strike: float, years: float, rate: float, dividend_yield: float
) -> float:
    """Return the Heston European call price: C = (S e^-qT - K e^-rT) / 2 + e^-rT / pi x I.

    I = int_0^inf Re[e^(-i u log K) (phi(u - i) - K phi(u)) / (i u)] du with phi the
    characteristic function of log S_T (`heston_characteristic_function`); this is
    Heston's S e^-qT P1 - K e^-rT P2 with both probabilities under one integral, computed
    with scipy.integrate.quad to 1e-10. Reproduces Lewis's reference prices to about 1e-14
    (Sources: docs/references.md [heston-1993], [lewis-heston-reference]).
    Rates and yield are continuously compounded, annual; years > 0. Float, in the unit of
    spot and strike; clamped to the no-arbitrage bounds [max(0, S e^-qT - K e^-rT), S e^-qT]
    to remove quadrature noise in the far wings.

    Raises:
        ValueError: spot, strike or years <= 0 or not finite, or invalid parameters.
    """
    spot_pv, strike_pv, integral = _price_terms(params, spot, strike, years, rate, dividend_yield)
    call = 0.5 * (spot_pv - strike_pv) + integral
    return min(max(call, spot_pv - strike_pv, 0.0), spot_pv)


def heston_put_price(params: HestonParams, spot: float, strike: float, years: float, rate: float, dividend_yield: float) -> float:
    """Return the Heston European put price: P = (K e^-rT - S e^-qT) / 2 + e^-rT / pi x I.

    I as in `heston_call_price`, so C - P = S e^-qT - K e^-rT (put-call parity) up to
    rounding. Clamped to [max(0, K e^-rT - S e^-qT), K e^-rT].

    Raises:
        ValueError: spot, strike or years <= 0 or not finite, or invalid parameters.
    """
    spot_pv, strike_pv, integral = _price_terms(params, spot, strike, years, rate, dividend_yield)
    put = 0.5 * (strike_pv - spot_pv) + integral
    return min(max(put, strike_pv - spot_pv, 0.0), strike_pv)


def _price_terms(
    params: HestonParams, spot: float, strike: float, years: float, rate: float, dividend_yield: float
) -> tuple[float, float, float]:
    validate_heston(params)
    if not all(math.isfinite(x) for x in (spot, strike, years, rate, dividend_yield)) or min(spot, strike, years) <= 0:
        raise ValueError(
            f"expected finite spot, strike, years > 0 and finite rates, was {spot}, {strike}, {years}, {rate}, {dividend_yield}"
        )
    log_strike = math.log(strike)

    def integrand(u: float) -> float:
        shifted = heston_characteristic_function(u - 1j, params, spot, years, rate, dividend_yield)
        plain = heston_characteristic_function(u, params, spot, years, rate, dividend_yield)
        return float((cmath.exp(-1j * u * log_strike) * (shifted - strike * plain) / (1j * u)).real)

    from scipy.integrate import quad  # here: scipy.integrate takes half a second to import, and few runs price Heston

    integral, _ = quad(integrand, 0.0, math.inf, epsabs=QUAD_TOLERANCE, epsrel=QUAD_TOLERANCE, limit=QUAD_LIMIT)
    discount = math.exp(-rate * years)
    return spot * math.exp(-dividend_yield * years), strike * discount, discount * integral / math.pi
