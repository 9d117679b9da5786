"""Venue rules as pure functions, each against the venue's own numbers (issue 17 item 3).

BitMEX's stepped risk limits ([bitmex-risk-limits]: the XBTUSD table), Drift's liquidation
transfer size and insurance-fund fee ([drift-v2-liq]) and Drift's oracle validity ladder
([drift-v2-oracle-guards]). Sources: docs/references.md.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from clearing.core.liquidation.pricing import drift_if_fee_ppm, drift_liquidation_lots
from clearing.core.margin import Brackets, liquidation_price, maintenance_amounts
from clearing.core.oracle.guards import Validity, oracle_validity, valid_for
from clearing.core.rates import initial_margin_ppm, risk_limit_rates
from tests.unit.margin_reference import below_maintenance

XBT = 100_000_000  # satoshi


@pytest.mark.parametrize(("value", "rates"), [
    (0, (5_000, 10_000)), (199 * XBT, (5_000, 10_000)), (200 * XBT, (10_000, 15_000)), (349 * XBT, (10_000, 15_000)),
    (350 * XBT, (15_000, 20_000)), (499 * XBT, (15_000, 20_000)), (500 * XBT, (20_000, 25_000)),
    (649 * XBT, (20_000, 25_000)), (-300 * XBT, (10_000, 15_000)),
])  # fmt: skip
def test_bitmex_risk_limit_steps_are_the_xbtusd_table(value, rates):
    # XBTUSD: base MM 0.50 %, base IM 1.00 %, base risk limit 200 XBT, step 150 XBT:
    # <200: 0.50/1.00; <350: 1.00/1.50; <500: 1.50/2.00; <650: 2.00/2.50 (%).
    assert risk_limit_rates(value, 200 * XBT, 150 * XBT, 5_000, 10_000) == rates


def test_a_risk_limit_needs_a_step():
    with pytest.raises(ValueError, match="positive risk-limit step"):
        risk_limit_rates(1, 200, 0, 5_000, 10_000)


def test_drift_takes_over_just_enough_to_cover_the_shortage():
    # 10 BTC long at 20,000 USDC (lot 1 BTC, value 20,000 USDC = 2 x 10^10 minor units at 6 decimals); maintenance
    # 5 % plus the 2 % buffer, liquidator fee 1 %, IF liquidation fee 1 %, shortage 2,000 USDC (1 % of the value):
    # if_fee = min(1 %, 0.95 x (7 % - 1 % - 1 %)) = 1 %; base = 2,000 / (20,000 x (7 % - 1 %) - 20,000 x 1 %) = 2 BTC.
    usdc = 10**6
    if_fee = drift_if_fee_ppm(10_000, 70_000, 10_000, 2_000 * usdc, 200_000 * usdc)
    assert if_fee == 10_000
    assert drift_liquidation_lots(2_000 * usdc, 10, 20_000 * usdc, 70_000, 10_000, if_fee, 50 * usdc) == 2
    # Check: 2 BTC (40,000) free 2,800 of requirement and cost 800 of fees, exactly the 2,000 short.
    assert 40_000 * 70_000 // 10**6 - 40_000 * 20_000 // 10**6 == 2_000
    # A shortage that leaves little room: the IF fee shrinks to 95 % of what is left (7 % - 1 % - 5.5 % = 0.5 %).
    assert drift_if_fee_ppm(10_000, 70_000, 10_000, 11_000 * usdc, 200_000 * usdc) == 4_750
    # Rounded up to whole lots, never more than the position; small shortages or positions go whole.
    assert drift_liquidation_lots(2_001 * usdc, 10, 20_000 * usdc, 70_000, 10_000, 10_000, 50 * usdc) == 3
    assert drift_liquidation_lots(10**9 * usdc, 10, 20_000 * usdc, 70_000, 10_000, 10_000, 50 * usdc) == 10
    assert drift_liquidation_lots(40 * usdc, 10, 20_000 * usdc, 70_000, 10_000, 10_000, 50 * usdc) == 10
    assert drift_liquidation_lots(0, 10, 20_000 * usdc, 70_000, 10_000, 10_000, 50 * usdc) == 0
    assert drift_liquidation_lots(100 * usdc, -4, 20_000 * usdc, 20_000, 10_000, 10_000, 50 * usdc) == 4  # fees eat it


@pytest.mark.parametrize(("price", "twap", "confidence", "age_s", "validity"), [
    (0, 100, 0, 0, Validity.NON_POSITIVE),
    (600, 100, 0, 0, Validity.TOO_VOLATILE),  # more than 5x its TWAP
    (19, 100, 0, 0, Validity.TOO_VOLATILE),  # less than a fifth
    (500, 100, 0, 0, Validity.VALID),  # exactly 5x is not too volatile
    (10_000, 10_000, 201, 0, Validity.TOO_UNCERTAIN),  # confidence above 2 % of price
    (10_000, 10_000, 200, 61, Validity.STALE_FOR_MARGIN),
    (10_000, 10_000, 200, 6, Validity.STALE_FOR_AMM),
    (10_000, 10_000, 200, 5, Validity.VALID),
])  # fmt: skip
def test_drift_oracle_validity_ladder(price, twap, confidence, age_s, validity):
    assert oracle_validity(price, twap, confidence, age_s * 10**9) is validity


def test_drift_liquidations_refuse_only_a_non_positive_or_too_volatile_price():
    assert valid_for("liquidation", Validity.STALE_FOR_MARGIN) and valid_for("liquidation", Validity.TOO_UNCERTAIN)
    assert not valid_for("liquidation", Validity.TOO_VOLATILE) and not valid_for("liquidation", Validity.NON_POSITIVE)
    assert not valid_for("margin", Validity.STALE_FOR_MARGIN) and valid_for("margin", Validity.STALE_FOR_AMM)
    assert not valid_for("amm", Validity.STALE_FOR_AMM) and valid_for("amm", Validity.VALID)


def test_the_twap_weights_each_price_by_the_time_it_held():
    from clearing.core.oracle.guards import time_weighted_price

    # 100 from 0 to 200 s, 200 from 200 s to 300 s: over the last 300 s at 300 s, (100 x 200 + 200 x 100) / 300 = 133.
    s = 10**9
    assert time_weighted_price([(0, 100), (200 * s, 200)], 300 * s, 300 * s) == 133
    # A price older than the window holds from the window's start; a history shorter than the window averages it.
    assert time_weighted_price([(-500 * s, 100), (250 * s, 400)], 300 * s, 300 * s) == (100 * 250 + 400 * 50) // 300
    assert time_weighted_price([], 300 * s, 300 * s) == 0


def test_drift_liquidations_pass_a_stale_price_and_stop_at_a_volatile_or_far_one():
    from clearing.core.oracle.guards import validity_guard

    s = 10**9
    stale = validity_guard(10_000, 10_000, 0, 600 * s, 5, 500_000)  # ten minutes old: still allowed, and said
    assert (stale.allowed, stale.reason, stale.age_ns) == (True, "stale_for_margin", 600 * s)
    far = validity_guard(16_000, 10_000, 0, 1 * s, 5, 500_000)  # 60 % above its TWAP
    assert (far.allowed, far.reason, far.divergence_ppm) == (False, "twap_divergence", 600_000)
    volatile = validity_guard(60_000, 10_000, 0, 1 * s, 5, 500_000)
    assert (volatile.allowed, volatile.reason) == (False, "too_volatile")
    assert validity_guard(0, 10_000, 0, 1 * s, 5, 500_000).reason == "non_positive"
    assert validity_guard(10_400, 10_000, 0, 1 * s, 5, 500_000) == validity_guard(10_400, 10_000, 0, 1 * s, 5, 0)


# A linear XBT contract of 1 XBT a lot: a position's size in the base asset is its lots.
RISK_LIMITED = Brackets.flat(5_000)._replace(risk_limit_lots=(200, 150))  # XBTUSD: 200 XBT base, 150 XBT step


@pytest.mark.parametrize(("lots", "rate"), [
    (1, 5_000), (199, 5_000), (200, 10_000), (-349, 10_000), (350, 15_000), (500, 20_000), (649, 20_000),
])  # fmt: skip
def test_bitmex_risk_limits_raise_the_maintenance_of_the_whole_position(lots, rate):
    # The XBTUSD table by size: <200: 0.50 %; <350: 1.00 %; <500: 1.50 %; <650: 2.00 %. The rate applies to the whole
    # position (no maintenance amount): at 10,000 USD a lot (unit value 1), MM = ceil(|lots| x 10,000 x rate / 10^6).
    held = np.array([lots])
    assert RISK_LIMITED.size_rates(held).tolist() == [rate]
    assert maintenance_amounts(np.abs(held) * 10_000, RISK_LIMITED, held).tolist() == [-(-abs(lots) * 10_000 * rate // 10**6)]
    # The initial rate steps with it: base IM + steps x base MM, as `risk_limit_rates` gives on the same table.
    assert initial_margin_ppm(10_000, held, 0, 0, 0, 0, (200, 150), 5_000).tolist() == [
        risk_limit_rates(lots, 200, 150, 5_000, 10_000)[1]
    ]


def test_drift_size_premium_raises_maintenance_too():
    # Drift's get_margin_ratio applies calculate_size_premium_liability_weight to the maintenance ratio as to the
    # initial: 5 % maintenance, premium 0.1 % per square-root lot: 1 lot 5 %, 10,000 lots 0.8 x 5 % + 100 x 0.1 % = 14 %.
    premium = Brackets.flat(50_000)._replace(premium_ppm=1_000)
    held = np.array([1, 100, 10_000, -10_001])
    assert premium.size_rates(held).tolist() == [50_000, 50_000, 140_000, 141_000]
    assert maintenance_amounts(np.abs(held) * 1_000, premium, held).tolist() == [50, 5_000, 1_400_000, 1_410_141]
    with pytest.raises(ValueError, match="needs the positions' lots"):
        maintenance_amounts(np.abs(held) * 1_000, premium)


@given(st.integers(1, 10**5), st.sampled_from([1, -1]), st.integers(2, 120), st.integers(1_000, 300_000),
       st.sampled_from([RISK_LIMITED, Brackets.flat(50_000)._replace(premium_ppm=700)]))  # fmt: skip
def test_a_liquidation_price_set_by_size_is_the_edge_of_maintenance(lots, side, leverage, entry, brackets):
    notional = lots * entry
    backing = notional // leverage - side * notional
    position = np.array([side * lots])
    price = int(liquidation_price(np.array([backing]), position, 1, brackets)[0])
    if price <= 0:
        return  # a long that no positive price liquidates
    if price == np.iinfo(np.int64).max:  # margined at 100 %: a long with less cash than nothing is short at every price
        assert side > 0 and backing < 0 and brackets.size_rates(position)[0] == 10**6
        return
    assert below_maintenance(np.array([backing]), position, price, 1, brackets)[0]
    healthy = price + 1 if side > 0 else price - 1
    if healthy >= 1:
        assert not below_maintenance(np.array([backing]), position, healthy, 1, brackets)[0]


@pytest.mark.parametrize(("market", "message"), [
    ({"risk_limit_base": "200"}, "risk limits need both risk_limit_base and risk_limit_step"),
    ({"risk_limit_base": "200", "risk_limit_step": "150", "size_premium": "0.001"}, "one rule"),
    ({"size_premium": "0.001", "maintenance_brackets": [["0", "0.005"], ["50000", "0.01"]]}, "no maintenance_brackets"),
    ({"risk_limit_base": "200.0005", "risk_limit_step": "150"}, "risk_limit_base 200.0005 is not a whole number of 0.001"),
])  # fmt: skip
def test_a_rate_set_by_size_is_refused_where_it_cannot_apply(market, message):
    from pydantic import ValidationError

    from tests.conftest import small_scenario

    with pytest.raises(ValidationError, match=message):
        small_scenario(**{f"market__{k}": v for k, v in market.items()})


def test_drift_shortage_partial_closes_the_transfer_size_of_the_shortage():
    # 10 BTC long at 20,000 USDC (lot 1 BTC), maintenance 5 % (10,000 of requirement), Drift's 2 % buffer (4,000 on
    # the 200,000 position), liquidation fee 1 %, equity 12,000: shortage 2,000; ratio 5 % + 2 %; no IF fee here,
    # so base = 2,000 / (20,000 x (7 % - 1 %)) = 1.67, rounded up to 2 lots.
    from clearing.core.liquidation.params import Partial
    from clearing.core.liquidation.pricing import partial_lots

    usdc = 10**6
    requirement_of = lambda size: size * 1_000 * usdc  # noqa: E731
    lots = partial_lots(Partial.SHORTAGE, 10, 12_000 * usdc, 20_000 * usdc, requirement_of, fee_ppm=10_000,
                        buffer_ppm=20_000, min_notional=50 * usdc)  # fmt: skip
    assert lots == 2 == drift_liquidation_lots(2_000 * usdc, 10, 20_000 * usdc, 70_000, 10_000, 0, 50 * usdc)
    # Deeper under water the transfer grows; a position worth at most 50 USDC goes whole.
    assert partial_lots(Partial.SHORTAGE, 10, 6_000 * usdc, 20_000 * usdc, requirement_of, fee_ppm=10_000,
                        buffer_ppm=20_000, min_notional=50 * usdc) == 7  # fmt: skip
    assert partial_lots(Partial.SHORTAGE, -3, 0, 10 * usdc, lambda s: s * usdc, buffer_ppm=20_000, min_notional=50 * usdc) == 3
