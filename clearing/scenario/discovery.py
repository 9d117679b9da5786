"""The `[price_discovery]` section: prices that liquidations can move (off by default)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from clearing.scenario.sections import Section


class PriceDiscoveryConfig(Section):
    """The venue's own trading moves its index by a price-discovery weight (0: the index is the exogenous path).

    With `weight` w > 0 the price path (the day's tape, or a generated one) is the outside
    fundamental F, and each step the index I moves by (1 - w) x the fundamental's move plus
    w x the move of the venue's own price V (its book's mid, or its last trade), then is pulled
    back toward F with a half-life of `reversion_halflife_s` (arbitrage between venues):
    I' = F' + (I + (1 - w) dF + w dV - F') x 2^(-step / half-life). The makers anchor to that
    index and the oracle reads it, so liquidations that sell into the book lower the index,
    the oracle, the mark and the next accounts' equity. w is Hasbrouck's information share of
    the venue (docs/references.md [alexander-price-discovery]: Binance's BTCUSDT perpetual about
    0.25 of Bitcoin's price discovery in mid-2021).
    """

    weight: float = Field(default=0.0, ge=0, lt=1)
    venue_price: Literal["mid", "last"] = "mid"
    reversion_halflife_s: float = Field(default=600, gt=0, le=86_400)
