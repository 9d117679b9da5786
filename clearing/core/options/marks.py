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

from clearing.core.options.pricing import black76_price
from clearing.core.options.surface import VolSurface, implied_vol
from clearing.units import Float64Array, Int64Array


class OptionSeries(NamedTuple):
    """The options on one underlying, as arrays: expiry (ns), strike (quote), premium tick (quote), call or put."""

    expiry_ns: Int64Array
    strike: Float64Array
    option_tick: Float64Array
    is_call: np.ndarray

    @classmethod
    def of(
        cls, expiries_ns: Sequence[int], strikes: Sequence[Decimal], ticks: Sequence[Decimal], calls: Sequence[bool]
    ) -> OptionSeries:
        """Return the series of options given one by one."""
        return cls(np.array(expiries_ns, np.int64), np.array([float(k) for k in strikes]),
                   np.array([float(t) for t in ticks]), np.array(calls, np.bool_))  # fmt: skip


def model_prices_ticks(
    surface: VolSurface, now_ns: int, underlying_ticks: int, underlying_tick: Decimal, series: OptionSeries
) -> Int64Array:
    """Return each option's model premium in its own ticks, rounded to the nearest tick (halves up), at least 1.

    F = underlying_ticks x underlying_tick (quote), sigma = the surface's implied vol at
    (expiry, ln(K / F)), T = expiry_ns - now_ns on ACT/365. A premium below one tick is
    quoted at one tick, as venues list no option below their minimum price.

    Raises:
        ValueError: the underlying price is not positive, or `now_ns` is not before every
            option's expiry and the surface's first expiry.
    """
    if underlying_ticks <= 0 or (series.expiry_ns <= now_ns).any():
        raise ValueError(f"no model price at underlying {underlying_ticks} ticks, at {now_ns} ns, with an option expired")
    forward = float(underlying_ticks * underlying_tick)
    sigma = implied_vol(surface, now_ns, series.expiry_ns, forward, series.strike)
    premium = black76_price(forward, series.strike, sigma, series.expiry_ns - now_ns, series.is_call)
    return np.maximum(1, np.floor(premium / series.option_tick + 0.5)).astype(np.int64)


def model_price_ticks(
    surface: VolSurface, now_ns: int, expiry_ns: int, underlying_ticks: int, underlying_tick: Decimal, strike: Decimal,
    option_tick: Decimal, is_call: bool,
) -> int:  # fmt: skip
    """Return one option's `model_prices_ticks`."""
    series = OptionSeries.of([expiry_ns], [strike], [option_tick], [is_call])
    return int(model_prices_ticks(surface, now_ns, underlying_ticks, underlying_tick, series)[0])
