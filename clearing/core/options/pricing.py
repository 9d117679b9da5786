"""European option prices and Greeks: Black-76 on the forward, Black-Scholes with carry on the spot.

Everything is vectorised over numpy arrays of options (inputs broadcast together) and pure:
no clock, no randomness, no state. Time to expiry comes in integer nanoseconds and becomes
years on ACT/365 counted to the nanosecond. Prices are floats in the quote currency per one
unit of underlying; rounding to ticks or minor units (against the account) is the caller's.
N(x) is `scipy.special.ndtr`, scipy's well-kept (Cephes) normal CDF, accurate in both tails.
Sources: docs/references.md [deribit-options], [binance-options], [okx-options-mark]; [hull-options].
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from clearing.units import NS_PER_DAY, NS_PER_S, SECONDS_PER_YEAR, Float64Array, Int64Array

# ACT/365 counted to the second (in fact to the ns): the Deribit ETH tick and the Binance
# mark-price example both reproduce with 365 days and neither with 365.25 (Binance's price
# would be 0.98 USDT off, Deribit's vega off in the 4th digit). Source: docs/references.md
# [design-options-pm] (the derivations), [deribit-ticker-capture], [binance-options-mark-stream].
YEAR_NS = SECONDS_PER_YEAR * NS_PER_S
DAYS_PER_YEAR = YEAR_NS // NS_PER_DAY
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def ndtr(x: Any) -> Any:
    """Return scipy.special.ndtr(x), importing scipy.special on first use (it takes 0.2 s: every command paid it)."""
    from scipy.special import ndtr as scipy_ndtr

    return scipy_ndtr(x)


class Greeks(NamedTuple):
    """Price and first-order Greeks of options, each an array of the broadcast shape.

    price: quote per unit of underlying. delta: dimensionless (dV/dF, or dV/dS for the spot
    model). gamma: per unit of underlying price (d2V/dF2). vega: quote per 1.00 of vol (dV/dsigma;
    `vega_per_vol_point` gives the venues' per-point figure). theta: quote per year, -dV/dT
    (`theta_per_day` gives per calendar day). rho: quote per 1.00 of rate (dV/dr).
    """

    price: Float64Array
    delta: Float64Array
    gamma: Float64Array
    vega: Float64Array
    theta: Float64Array
    rho: Float64Array


class NormalisedBlack(NamedTuple):
    """The undiscounted Black formula per 1 of forward: price, delta, dual delta (d/dk) and n(d1)."""

    price: Float64Array
    delta: Float64Array
    dual_delta: Float64Array
    density: Float64Array


class PositionRisk(NamedTuple):
    """Positions repriced: `value` per position (n_positions,), the Greeks summed per group (n_groups,)."""

    value: Float64Array
    delta: Float64Array
    gamma: Float64Array
    vega: Float64Array
    theta: Float64Array
    rho: Float64Array


def _checked(value: npt.ArrayLike, what: str, *, low: float | None, strict: bool = False) -> Float64Array:
    array = np.asarray(value, dtype=np.float64)
    finite = np.isfinite(array)
    bad = ~finite if low is None else ~finite | ((array <= low) if strict else (array < low))
    if bad.any():
        bound = "finite" if low is None else f"finite and {'>' if strict else '>='} {low:g}"
        raise ValueError(f"expected {what} {bound}, was {array[bad].flat[0]}")
    return array


def _sign(is_call: npt.ArrayLike) -> Float64Array:
    return np.where(np.asarray(is_call, dtype=bool), 1.0, -1.0)


def time_to_expiry_ns(now_ns: npt.ArrayLike, expiry_ns: npt.ArrayLike) -> Int64Array:
    """Return expiry_ns - now_ns (int64 ns, negative once expired); shapes broadcast."""
    return np.subtract(np.asarray(expiry_ns, dtype=np.int64), np.asarray(now_ns, dtype=np.int64))


def year_fraction(tau_ns: npt.ArrayLike) -> Float64Array:
    """Return T = max(tau_ns, 0) / (365 x 86,400 x 10^9): ACT/365 in years, 0 at or after expiry.

    Raises:
        ValueError: `tau_ns` is not an integer array (a float is most likely years by mistake).
    """
    tau = np.asarray(tau_ns)
    if tau.dtype.kind not in "iu":
        raise ValueError(f"expected tau_ns as integer nanoseconds, was dtype {tau.dtype}")
    years: Float64Array = np.maximum(tau, 0) / YEAR_NS
    return years


def forward_price(
    spot: npt.ArrayLike, tau_ns: npt.ArrayLike, rate: npt.ArrayLike = 0.0, dividend: npt.ArrayLike = 0.0
) -> Float64Array:
    """Return the carried forward F = S e^{(r - q) T}; r and q continuously compounded per year."""
    carry = _checked(rate, "rate", low=None) - _checked(dividend, "dividend", low=None)
    return _checked(spot, "spot", low=0.0, strict=True) * np.exp(carry * year_fraction(tau_ns))


def black_normalised(strike_ratio: npt.ArrayLike, total_std: npt.ArrayLike, sign: npt.ArrayLike) -> NormalisedBlack:
    """Return the undiscounted Black price per 1 of forward, the kernel of every formula here.

    With k = K/F, v = sigma sqrt(T) >= 0 and w = +1 (call) or -1 (put):
        d1 = ln(1/k) / v + v/2,  d2 = d1 - v
        delta = w N(w d1),  dual_delta = -w N(w d2),  price = delta + k dual_delta,  density = n(d1)
    dprice/dv = density; F delta + K dual_delta is the undiscounted price in quote (exact at
    expiry). At v = 0 the price is the intrinsic value max(w (1 - k), 0) and delta the step:
    w where the option is in the money, 0 out of it, w/2 exactly at k = 1.
    Inputs are not validated (callers do): k > 0, v >= 0, finite.
    """
    k = np.asarray(strike_ratio, dtype=np.float64)
    v = np.asarray(total_std, dtype=np.float64)
    w = np.asarray(sign, dtype=np.float64)
    x = -np.log(k)
    live = v > 0
    with np.errstate(over="ignore"):  # d1 may be +-inf for tiny v: N and n saturate
        d1 = np.where(live, x / np.where(live, v, 1.0) + 0.5 * v, np.where(x > 0, np.inf, np.where(x < 0, -np.inf, 0.0)))
        delta = w * ndtr(w * d1)
        dual_delta = -w * ndtr(w * (d1 - v))
        density = np.exp(-0.5 * d1 * d1) * _INV_SQRT_2PI
    return NormalisedBlack(np.maximum(delta + k * dual_delta, 0.0), delta, dual_delta, density)


def _black76_inputs(
    forward: npt.ArrayLike, strike: npt.ArrayLike, sigma: npt.ArrayLike, tau_ns: npt.ArrayLike, rate: npt.ArrayLike
) -> tuple[Float64Array, Float64Array, Float64Array, Float64Array, Float64Array]:
    return (
        _checked(forward, "forward", low=0.0, strict=True),
        _checked(strike, "strike", low=0.0, strict=True),
        _checked(sigma, "sigma", low=0.0),
        year_fraction(tau_ns),
        _checked(rate, "rate", low=None),
    )


def black76_price(
    forward: npt.ArrayLike, strike: npt.ArrayLike, sigma: npt.ArrayLike, tau_ns: npt.ArrayLike, is_call: npt.ArrayLike,
    rate: npt.ArrayLike = 0.0,
) -> Float64Array:  # fmt: skip
    """Return Black-76 prices on the forward, discounted by e^{-rT} (r = 0: undiscounted).

        call = e^{-rT} [F N(d1) - K N(d2)],  put = e^{-rT} [K N(-d2) - F N(-d1)]
        d1 = [ln(F/K) + sigma^2 T / 2] / (sigma sqrt(T)),  d2 = d1 - sigma sqrt(T)
    Units: F, K and the price in quote per unit of underlying; sigma per sqrt(year) as a
    decimal (0.7296, not Deribit's 72.96); T = tau_ns on ACT/365 (`year_fraction`); r per year,
    continuously compounded. Shapes broadcast. At or after expiry, or with sigma = 0, the price is
    the (discounted) intrinsic value e^{-rT} max(w (F - K), 0). No rounding.

    Raises:
        ValueError: F or K not > 0, sigma < 0, any input not finite, tau_ns not integers.
    """
    f, k, s, t, r = _black76_inputs(forward, strike, sigma, tau_ns, rate)
    core = black_normalised(k / f, s * np.sqrt(t), _sign(is_call))
    return np.exp(-r * t) * np.maximum(f * core.delta + k * core.dual_delta, 0.0)


def greeks(
    forward: npt.ArrayLike, strike: npt.ArrayLike, sigma: npt.ArrayLike, tau_ns: npt.ArrayLike, is_call: npt.ArrayLike,
    rate: npt.ArrayLike = 0.0,
) -> Greeks:  # fmt: skip
    """Return Black-76 price and Greeks on the forward in one pass (F, K, sigma, T, r held as given).

    With D = e^{-rT}, w = +1 call / -1 put and d1, d2 as in `black76_price`:
        delta = D w N(w d1)                     dimensionless, dV/dF
        gamma = D n(d1) / (F sigma sqrt(T))     per unit of underlying price
        vega  = D F n(d1) sqrt(T)               quote per 1.00 of vol (/100 per vol point)
        theta = -D F n(d1) sigma / (2 sqrt(T)) + r V   quote per year, -dV/dT (/365 per day)
        rho   = -T V                            quote per 1.00 of rate, dV/dr with F fixed
    At or after expiry: intrinsic price, delta the step (w in the money, 0 out, w/2 exactly at
    the money), gamma = vega = theta = rho = 0. With sigma = 0 before expiry: the discounted
    intrinsic of the forward, gamma 0, theta r V, vega its right-hand limit. Shapes broadcast;
    every field has the broadcast shape of all inputs. This is the hot path: d1, d2 and n(d1)
    are computed once. Spot-model Greeks (dV/dS, rho with S fixed): `black_scholes_greeks`.

    Raises:
        ValueError: as `black76_price`.
    """
    f, k, s, t, r, w = np.broadcast_arrays(*_black76_inputs(forward, strike, sigma, tau_ns, rate), _sign(is_call))
    sqrt_t = np.sqrt(t)
    v = s * sqrt_t
    core = black_normalised(k / f, v, w)
    discount = np.exp(-r * t)
    price = discount * np.maximum(f * core.delta + k * core.dual_delta, 0.0)
    live = v > 0
    density = discount * core.density
    gamma = np.where(live, density / f / np.where(live, v, 1.0), 0.0)
    decay = np.where(live, density * f * v / (2.0 * np.where(live, t, 1.0)), 0.0)  # D F n(d1) sigma / (2 sqrt T)
    theta = np.where(t > 0, r * price - decay, 0.0)
    return Greeks(price, discount * core.delta, gamma, density * f * sqrt_t, theta, -t * price)


def black_scholes_price(
    spot: npt.ArrayLike, strike: npt.ArrayLike, sigma: npt.ArrayLike, tau_ns: npt.ArrayLike, is_call: npt.ArrayLike,
    rate: npt.ArrayLike = 0.0, dividend: npt.ArrayLike = 0.0,
) -> Float64Array:  # fmt: skip
    """Return Black-Scholes prices on the spot with carry: Black-76 on F = S e^{(r - q)T}, discounted at r.

    call = S e^{-qT} N(d1) - K e^{-rT} N(d2). Binance prices its options so, on the spot index
    with r = 0 (then F = S). Units and edge cases as `black76_price`; q is a continuous yield.

    Raises:
        ValueError: S or K not > 0, sigma < 0, any input not finite, tau_ns not integers.
    """
    return black76_price(forward_price(spot, tau_ns, rate, dividend), strike, sigma, tau_ns, is_call, rate)


def black_scholes_greeks(
    spot: npt.ArrayLike, strike: npt.ArrayLike, sigma: npt.ArrayLike, tau_ns: npt.ArrayLike, is_call: npt.ArrayLike,
    rate: npt.ArrayLike = 0.0, dividend: npt.ArrayLike = 0.0,
) -> Greeks:  # fmt: skip
    """Return Black-Scholes price and Greeks on the spot (S, K, sigma, T, r, q held as given).

    From the Black-76 Greeks on F = S e^{bT}, b = r - q (chain rule):
        delta_S = e^{bT} delta_F = w e^{-qT} N(w d1)      gamma_S = e^{2bT} gamma_F
        vega_S = vega_F        theta_S = theta_F - b F delta_F        rho_S = rho_F + T F delta_F
    so rho_S = w K T e^{-rT} N(w d2), the textbook rho; Deribit's "standard Black Scholes" Greeks
    are these with S = the future and r = q = 0. Units as `greeks`; theta and rho are 0 at or
    after expiry. Source: docs/references.md [deribit-greeks].

    Raises:
        ValueError: as `black_scholes_price`.
    """
    f = forward_price(spot, tau_ns, rate, dividend)
    g = greeks(f, strike, sigma, tau_ns, is_call, rate)
    t = year_fraction(tau_ns)
    carry = f / np.asarray(spot, dtype=np.float64)
    b = np.asarray(rate, dtype=np.float64) - np.asarray(dividend, dtype=np.float64)
    theta = np.where(t > 0, g.theta - b * f * g.delta, 0.0)
    return Greeks(g.price, carry * g.delta, carry * carry * g.gamma, g.vega, theta, g.rho + t * f * g.delta)


def vega_per_vol_point(vega: npt.ArrayLike) -> Float64Array:
    """Return vega per 1 vol point (per 0.01 of vol): vega / 100, as Deribit and Binance quote it."""
    return np.asarray(vega, dtype=np.float64) / 100.0


def theta_per_day(theta: npt.ArrayLike) -> Float64Array:
    """Return theta per calendar day: theta per year / 365, as Binance quotes it (analytic / 365)."""
    return np.asarray(theta, dtype=np.float64) / DAYS_PER_YEAR


def rho_per_percent(rho: npt.ArrayLike) -> Float64Array:
    """Return rho per 1 % of rate: rho / 100, as Deribit quotes it."""
    return np.asarray(rho, dtype=np.float64) / 100.0


def coin_premium(premium_quote: npt.ArrayLike, underlying_price: npt.ArrayLike) -> Float64Array:
    """Return an inverse (coin) premium: premium in quote / underlying price, coin per 1 coin.

    Deribit and OKX coin options quote so: the mark divides by the forward F (Deribit's
    underlying_price) and the payoff at expiry by the delivery price S_T.
    Source: docs/references.md [deribit-options], [okx-options].

    Raises:
        ValueError: the underlying price is not > 0 and finite.
    """
    return np.asarray(premium_quote, dtype=np.float64) / _checked(underlying_price, "underlying price", low=0.0, strict=True)


def linear_payoff(settlement_price: npt.ArrayLike, strike: npt.ArrayLike, is_call: npt.ArrayLike) -> Float64Array:
    """Return the payoff at expiry in quote per unit: max(S_T - K, 0) for a call, max(K - S_T, 0) for a put."""
    s = np.asarray(settlement_price, dtype=np.float64)
    return np.maximum(_sign(is_call) * (s - np.asarray(strike, dtype=np.float64)), 0.0)


def inverse_payoff(settlement_price: npt.ArrayLike, strike: npt.ArrayLike, is_call: npt.ArrayLike) -> Float64Array:
    """Return the payoff at expiry in coin per 1 coin: max(S_T - K, 0) / S_T (call), max(K - S_T, 0) / S_T (put).

    A call's payoff is below 1 coin for ever (1 - K/S_T); a put's grows without bound as S_T -> 0.
    Source: docs/references.md [deribit-options].

    Raises:
        ValueError: the settlement price is not > 0 and finite.
    """
    s = _checked(settlement_price, "settlement price", low=0.0, strict=True)
    return linear_payoff(s, strike, is_call) / s


def reprice_positions(
    series: Greeks, position_series: npt.ArrayLike, position_quantity: npt.ArrayLike,
    position_group: npt.ArrayLike | None = None, n_groups: int = 1,
) -> PositionRisk:  # fmt: skip
    """Return each position's value and the Greeks summed per group (account), pricing per series.

    The fast path for a book: price the few series once (`greeks` over arrays of shape
    (n_series,)), then gather per position by series index, instead of pricing every
    position. value[i] = q[i] x price[s[i]]; greek[g] = sum over i in group g of q[i] x greek[s[i]].
    Shapes: series fields (n_series,); position_series (int), position_quantity (units of
    underlying, signed: short < 0) and position_group (int in [0, n_groups)) (n_positions,).
    Without groups every position is in group 0 and the sums go through the net quantity per
    series (one bincount and a dot product per Greek). Units as `Greeks`, times the quantity.

    Raises:
        ValueError: a group index is outside [0, n_groups).
    """
    index = np.asarray(position_series, dtype=np.intp)
    quantity = np.asarray(position_quantity, dtype=np.float64)
    value = quantity * series.price[index]
    sensitivities = (series.delta, series.gamma, series.vega, series.theta, series.rho)
    if position_group is None:
        net = np.bincount(index, weights=quantity, minlength=len(series.price))
        sums = [np.array([net @ greek]) for greek in sensitivities]
        return PositionRisk(value, *sums)
    group = np.asarray(position_group, dtype=np.intp)
    if group.size and (group.min() < 0 or group.max() >= n_groups):
        raise ValueError(f"expected position_group in [0, {n_groups}), was {group.min()}..{group.max()}")
    sums = [np.bincount(group, weights=quantity * greek[index], minlength=n_groups) for greek in sensitivities]
    return PositionRisk(value, *sums)
