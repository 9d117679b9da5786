"""Option marks in ticks from the surface: Black-76 at the surface's vol, rounded to the option's tick."""

from __future__ import annotations

from decimal import Decimal

import pytest

from clearing.core.options.marks import model_price_ticks
from clearing.core.options.pricing import black76_price
from clearing.core.options.surface import VolSurface

S = 10**9
DAY = 86_400 * S


def flat(vol_ppm: int, expiry_ns: int) -> VolSurface:
    return VolSurface((expiry_ns,), (-500_000, 0, 500_000), ((vol_ppm,) * 3,))


def test_binance_example_on_a_flat_surface() -> None:
    # Binance's BTC-251120-126000-C: S = 104,334.60217, vol 0.9408058, 758,056.679 s to expiry -> 770.54 USDT.
    tau = 758_056_679_000_000
    surface = flat(940_806, tau + DAY)
    ticks = model_price_ticks(surface, 0, tau, 1_043_346, Decimal("0.1"), Decimal(126_000), Decimal("0.01"), True)
    assert ticks == pytest.approx(77_054, abs=3)  # 770.54 with S rounded to the 0.1 tick and the vol to 1 ppm


def test_the_price_is_black76_at_the_interpolated_vol_rounded_to_the_tick() -> None:
    surface = VolSurface((30 * DAY,), (-100_000, 0, 100_000), ((700_000, 600_000, 650_000),))
    # F = 60,000, K = 57,000: k = ln(0.95) = -0.0513, vol interpolated between 60 % and 70 %
    k = -0.05129329438755058
    vol = 0.6 + (0.7 - 0.6) * (-k / 0.1)
    expected = float(black76_price(60_000.0, 57_000.0, vol, 30 * DAY, False)[()])
    ticks = model_price_ticks(surface, 0, 30 * DAY, 600_000, Decimal("0.1"), Decimal(57_000), Decimal(5), False)
    assert ticks == round(expected / 5)


def test_a_worthless_option_is_marked_at_one_tick() -> None:
    surface = flat(300_000, DAY)
    assert model_price_ticks(surface, 0, DAY, 600_000, Decimal("0.1"), Decimal(200_000), Decimal(5), True) == 1


def test_no_price_at_or_after_expiry_or_without_an_underlying() -> None:
    surface = flat(500_000, 2 * DAY)
    with pytest.raises(ValueError, match="no model price"):
        model_price_ticks(surface, DAY, DAY, 600_000, Decimal("0.1"), Decimal(60_000), Decimal(5), True)
    with pytest.raises(ValueError, match="no model price"):
        model_price_ticks(surface, 0, DAY, 0, Decimal("0.1"), Decimal(60_000), Decimal(5), True)
