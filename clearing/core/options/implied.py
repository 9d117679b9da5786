"""Implied volatility under Black-76: the sigma that reprices each option, by bracketed Newton.

Vectorised over arrays of options: each iteration is one numpy pass over the options not yet
converged (no per-option Python loop). Pure: no clock, no randomness, no state. The model is
`clearing.core.options.pricing` (its normalised kernel), so the solver and the pricer agree.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from clearing.core.options.pricing import black76_price, black_normalised, year_fraction
from clearing.units import Float64Array

PRICE_TOLERANCE = 1e-12  # stop when |model price - price| <= 1e-12 x e^{-rT} F
VOL_TOLERANCE = 1e-10  # or when the bracket around sigma is narrower than 1e-10 (0.00000001 vol point)
MAX_ITERATIONS = 100  # bisection alone needs < 50 from the initial bracket at T = 1 hour
MAX_TOTAL_STD = 50.0  # top of the bracket on sigma sqrt(T): there N(-25) < 1e-137, the price is at its bound
_SQRT_2PI = math.sqrt(2.0 * math.pi)


def implied_volatility(
    price: npt.ArrayLike, forward: npt.ArrayLike, strike: npt.ArrayLike, tau_ns: npt.ArrayLike, is_call: npt.ArrayLike,
    rate: npt.ArrayLike = 0.0,
) -> Float64Array:  # fmt: skip
    """Return the Black-76 implied volatility (decimal, per sqrt(year)) of each option price.

    Inputs as `black76_price` (price in quote per unit of underlying, discounted at r); shapes
    broadcast. Method: the price is normalised to c = price / (e^{-rT} F), an in-the-money option
    is turned into the out-of-the-money one by parity (c_put = c_call - (1 - K/F)), and
    c(v) = target is solved for the total vol v = sigma sqrt(T) in the bracket [0, 50]:
    Newton steps dv = (c(v) - target) / n(d1) (dc/dv = n(d1)), started at the inflection point
    v = sqrt(2 |ln(F/K)|) (Brenner-Subrahmanyam's sqrt(2 pi) c at the money); a step that would
    leave the bracket, a vega too small to give a finite step, or a step not half the size of
    the one before, is replaced by bisection. Each evaluation narrows the bracket. Stops when
    |price error| <= PRICE_TOLERANCE x e^{-rT} F or the sigma bracket is <= VOL_TOLERANCE,
    after at most MAX_ITERATIONS (then the bracket's midpoint). Where vega is negligible the
    answer is any vol that reprices within the tolerance; elsewhere sigma is within
    PRICE_TOLERANCE / (dc/dsigma) of the true one.

    Returns NaN where no finite vol reproduces the price: below the discounted intrinsic value
    by more than the tolerance (negative prices included), at or above the upper bound
    (e^{-rT} F for a call, e^{-rT} K for a put), or at or after expiry. A price within the
    tolerance of the intrinsic value gives 0.

    Raises:
        ValueError: as `black76_price`, or a price that is not finite.
    """
    black76_price(forward, strike, 0.0, tau_ns, is_call, rate)  # validates F, K, tau_ns, r
    quoted = np.asarray(price, dtype=np.float64)
    if not np.isfinite(quoted).all():
        raise ValueError(f"expected finite option prices, was {quoted[~np.isfinite(quoted)].flat[0]}")
    arrays = np.broadcast_arrays(quoted, forward, strike, year_fraction(tau_ns), rate, np.asarray(is_call, dtype=bool))
    p, f, k, t, r = (np.asarray(a, dtype=np.float64).ravel() for a in arrays[:5])
    call = arrays[5].ravel()
    k_over_f = k / f
    target = p / (np.exp(-r * t) * f)
    otm_call = k_over_f >= 1.0
    intrinsic = np.where(call, 1.0 - k_over_f, k_over_f - 1.0)  # of the option as given, per e^{-rT} F
    otm_target = np.where(call == otm_call, target, target - intrinsic)
    upper = np.where(otm_call, 1.0, k_over_f)
    valid = (t > 0) & (otm_target >= -PRICE_TOLERANCE) & (otm_target < upper)
    sigma = np.full(p.shape, np.nan)
    sigma[valid & (otm_target <= PRICE_TOLERANCE)] = 0.0
    solve = np.flatnonzero(valid & (otm_target > PRICE_TOLERANCE))
    if solve.size:
        sigma[solve] = _solve(k_over_f[solve], np.where(otm_call[solve], 1.0, -1.0), otm_target[solve], np.sqrt(t[solve]))
    return sigma.reshape(arrays[0].shape)


def _solve(k: Float64Array, w: Float64Array, target: Float64Array, sqrt_t: Float64Array) -> Float64Array:
    # Out-of-the-money options only: c(v) rises from 0 at v = 0 to its bound, convex below the
    # inflection point and concave above it, so Newton from there rarely leaves the bracket.
    log_moneyness = np.abs(np.log(k))
    v = np.where(log_moneyness == 0, _SQRT_2PI * target, np.sqrt(2.0 * log_moneyness))
    lo, hi = np.zeros_like(v), np.full_like(v, MAX_TOTAL_STD)
    v = np.minimum(v, 0.5 * MAX_TOTAL_STD)
    last_step = hi - lo
    out = np.empty_like(v)
    active = np.arange(v.size)
    for _ in range(MAX_ITERATIONS):
        core = black_normalised(k, v, w)
        error = core.price - target
        above = error > 0
        hi, lo = np.where(above, v, hi), np.where(above, lo, v)
        done = (np.abs(error) <= PRICE_TOLERANCE) | (hi - lo <= VOL_TOLERANCE * sqrt_t)
        out[active[done]] = v[done] / sqrt_t[done]
        keep = ~done
        if not keep.any():
            return out
        active, k, w, target, sqrt_t = active[keep], k[keep], w[keep], target[keep], sqrt_t[keep]
        v, lo, hi, error, density, last_step = v[keep], lo[keep], hi[keep], error[keep], core.density[keep], last_step[keep]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            step = error / density
        newton = v - step
        # NaN compares false: a non-finite step falls to bisection as well.
        bisect = ~((newton > lo) & (newton < hi) & (np.abs(step) <= 0.5 * np.abs(last_step)))
        following = np.where(bisect, 0.5 * (lo + hi), newton)
        last_step, v = following - v, following
    out[active] = 0.5 * (lo + hi) / sqrt_t
    return out
