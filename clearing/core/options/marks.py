"""An option market's model price in its own ticks: Black-76 on the underlying at the surface's implied vol.

The option's index and mark (`clearing.sim.option_pricer`) are its model value at the
underlying's index and at the underlying's valuation price, with r = 0 and the underlying's
price as the forward, as Binance prices its options on the spot index with r = 0 (and
Deribit on the matching future; with no listed future the index is the forward).
Sources: docs/references.md [binance-options-mark-stream], [deribit-options].
"""

from __future__ import annotations

import math
from decimal import Decimal

from clearing.core.options.pricing import black76_price
from clearing.core.options.surface import VolSurface, implied_vol


def model_price_ticks(
    surface: VolSurface,
    now_ns: int,
    expiry_ns: int,
    underlying_ticks: int,
    underlying_tick: Decimal,
    strike: Decimal,
    option_tick: Decimal,
    is_call: bool,
) -> int:
    """Return the option's model premium in its own ticks, rounded to the nearest tick (halves up), at least 1.

    F = underlying_ticks x underlying_tick (quote), sigma = the surface's implied vol at
    (expiry, ln(K / F)), T = expiry_ns - now_ns on ACT/365. A premium below one tick is
    quoted at one tick, as venues list no option below their minimum price.

    Raises:
        ValueError: the underlying price is not positive, or `now_ns` is not before the
            surface's first expiry or the option's expiry.
    """
    if underlying_ticks <= 0 or now_ns >= expiry_ns:
        raise ValueError(f"no model price at underlying {underlying_ticks} ticks, {expiry_ns - now_ns} ns before expiry")
    forward = float(underlying_ticks * underlying_tick)
    sigma = float(implied_vol(surface, now_ns, expiry_ns, forward, float(strike))[()])
    premium = float(black76_price(forward, float(strike), sigma, expiry_ns - now_ns, is_call)[()])
    return max(1, math.floor(premium / float(option_tick) + 0.5))
