"""A market's order-entry terms: what the exchange checks before an order reaches the book."""

from __future__ import annotations

from typing import NamedTuple


class MarketTerms(NamedTuple):
    """A market's order-entry terms: self-trade prevention, the market-order price band (ppm),
    initial margin base rate and size premium (ppm), open-interest caps (minor units)."""

    self_trade_prevention: str = "expire_maker"
    band_ppm: int = 50_000
    initial_margin_ppm: int = 0
    size_premium_ppm: int = 0
    oi_caps_minor: tuple[int, int] = (0, 0)
