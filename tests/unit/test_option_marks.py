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


def test_a_short_put_is_margined_by_the_standard_rule_in_account_risk() -> None:
    # bit.com's ETH-USDT-17NOV23-1850-P: U 2,098, mark 2.4, 50 contracts short -> MM 7,987.5 USDT.
    import numpy as np

    from clearing.core.risk import account_risk
    from clearing.core.state import ClearingState, apply
    from tests.builders import contract_specified, deposited, mark_price_updated, market_listed, opened, trade

    state = ClearingState()
    events = [
        market_listed(0, symbol="ETHUSDT", tick_size="0.01", lot_size="1", quote_decimals=6, unit_value=10_000),
        market_listed(1, symbol="ETH-1850-P", tick_size="0.1", lot_size="1", quote_decimals=6, unit_value=100_000),
        *opened(2)[1:],
        contract_specified(1, "option", option_type="put", strike="1850", expiry_ns=30 * DAY),
        deposited(0, 10**12), deposited(1, 10**12),
        trade(0, 1, 50, 24, market=1),  # account 1 writes 50 puts at 2.4
        mark_price_updated(209_800, market=0, index_ticks=209_800), mark_price_updated(24, market=1, index_ticks=209_800),
    ]  # fmt: skip
    for event in events:
        apply(state, event)
    equity, requirement = account_risk(state, np.array([0, 1]))
    assert requirement.tolist() == [0, 7_987_500_000]  # the long needs nothing, the writer the rule's MM
    assert equity.tolist() == [10**12, 10**12]  # premium paid and received, the position at its mark


@pytest.mark.parametrize("off_nodes", [False, True])
def test_the_strip_is_priced_as_black76_at_implied_vol(off_nodes: bool) -> None:
    import numpy as np

    from clearing.core.options.marks import OptionSeries, model_prices_ticks
    from clearing.core.options.surface import implied_vol

    nodes = (DAY, 7 * DAY, 30 * DAY)
    surface = VolSurface(nodes, (-200_000, 0, 200_000), ((900_000, 700_000, 800_000), (750_000, 600_000, 650_000),
                                                         (700_000, 550_000, 600_000)))  # fmt: skip
    expiries = [e + (DAY // 2 if off_nodes else 0) for e in nodes for _ in range(5)]
    strikes = [Decimal(k) for _ in nodes for k in (45_000, 55_000, 60_000, 65_000, 80_000)]
    calls = [k >= 60_000 for k in strikes]
    series = OptionSeries.of(expiries, strikes, [Decimal(5)] * 15, calls)
    got = model_prices_ticks(surface, 3_600 * S, 600_000, Decimal("0.1"), series)
    k = np.array([float(x) for x in strikes])
    vol = implied_vol(surface, 3_600 * S, np.array(expiries), 60_000.0, k)
    expected = black76_price(60_000.0, k, vol, np.array(expiries) - 3_600 * S, np.array(calls))
    assert got.tolist() == np.maximum(1, np.floor(expected / 5 + 0.5)).astype(int).tolist()
