"""Option markets' model prices in their own ticks: Black-76 on the underlying at the surface's implied vol.

The options' index and mark (`clearing.sim.option_pricer`) are their model values at the
underlying's index and at the underlying's valuation price, with r = 0 and the underlying's
price as the forward, as Binance prices its options on the spot index with r = 0 (and
Deribit on the matching future; with no listed future the index is the forward).
Vectorised over the options of one underlying. Sources: docs/references.md
[binance-options-mark-stream], [deribit-options].
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import NamedTuple

import numpy as np

from clearing.core.options.pricing import black_normalised, year_fraction
from clearing.core.options.surface import VolSurface, implied_vol
from clearing.units import PPM, Float64Array, Int64Array


class OptionSeries(NamedTuple):
    """The options on one underlying, as arrays: expiry (ns), strike (quote), premium tick (quote), call or put."""

    expiry_ns: Int64Array
    strike: Float64Array
    option_tick: Float64Array
    is_call: np.ndarray
    sign: Float64Array  # +1 a call, -1 a put

    def twice(self) -> OptionSeries:
        """Return the series followed by itself (to price every option at two underlying prices in one call)."""
        return OptionSeries(*(np.concatenate([a, a]) for a in self))

    @classmethod
    def of(
        cls, expiries_ns: Sequence[int], strikes: Sequence[Decimal], ticks: Sequence[Decimal], calls: Sequence[bool]
    ) -> OptionSeries:
        """Return the series of options given one by one."""
        call = np.array(calls, np.bool_)
        return cls(np.array(expiries_ns, np.int64), np.array([float(k) for k in strikes]),
                   np.array([float(t) for t in ticks]), call, np.where(call, 1.0, -1.0))  # fmt: skip


def model_prices_ticks(
    surface: VolSurface, now_ns: int, underlying_ticks: int | Int64Array, underlying_tick: Decimal, series: OptionSeries
) -> Int64Array:
    """Return each option's model premium in its own ticks, rounded to the nearest tick (halves up), at least 1.

    F = underlying_ticks x underlying_tick (quote; one price, or one per option), sigma = the
    surface's implied vol at (expiry, ln(K / F)), T = expiry_ns - now_ns on ACT/365. A premium
    below one tick is quoted at one tick, as venues list no option below their minimum price.

    Raises:
        ValueError: an underlying price is not positive, or `now_ns` is not before every
            option's expiry and the surface's first expiry.
    """
    ticks = np.asarray(underlying_ticks, np.int64)
    if (ticks <= 0).any() or (series.expiry_ns <= now_ns).any():
        raise ValueError(f"no model price at underlying {ticks.tolist()} ticks, at {now_ns} ns, with an option expired")
    forward = ticks * float(underlying_tick)
    tau_ns = series.expiry_ns - now_ns
    sigma = _on_nodes(surface, series.expiry_ns, np.log(series.strike / forward))
    if sigma is None:  # an expiry between the surface's nodes: interpolate in total variance
        sigma = implied_vol(surface, now_ns, series.expiry_ns, forward, series.strike)
    # black76_price without its input checks (made above): the undiscounted kernel, r = 0
    core = black_normalised(series.strike / forward, sigma * np.sqrt(year_fraction(tau_ns)), series.sign)
    premium = np.maximum(forward * core.delta + series.strike * core.dual_delta, 0.0)
    return np.maximum(1, np.floor(premium / series.option_tick + 0.5)).astype(np.int64)


def _on_nodes(surface: VolSurface, expiry_ns: Int64Array, k: Float64Array) -> Float64Array | None:
    """Return the surface's vols at k for options that all expire on its nodes (each its node's smile), else None.

    The same values as `implied_vol`, which returns a node's own smile at a node; cheaper,
    for the usual case of a surface built on the listed options' expiries.
    """
    nodes = np.asarray(surface.expiries_ns, np.int64)
    at = np.searchsorted(nodes, expiry_ns)
    if (at >= len(nodes)).any() or (nodes[np.minimum(at, len(nodes) - 1)] != expiry_ns).any():
        return None
    grid = np.asarray(surface.log_moneyness_ppm, np.float64) / PPM
    sigma = np.empty(len(k))
    for j, row in enumerate(surface.vol_ppm):
        on = at == j
        if on.any():
            sigma[on] = np.interp(k[on], grid, np.asarray(row, np.float64) / PPM)
    return sigma


def model_price_ticks(
    surface: VolSurface, now_ns: int, expiry_ns: int, underlying_ticks: int, underlying_tick: Decimal, strike: Decimal,
    option_tick: Decimal, is_call: bool,
) -> int:  # fmt: skip
    """Return one option's `model_prices_ticks`."""
    series = OptionSeries.of([expiry_ns], [strike], [option_tick], [is_call])
    return int(model_prices_ticks(surface, now_ns, underlying_ticks, underlying_tick, series)[0])
