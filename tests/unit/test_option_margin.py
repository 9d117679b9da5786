"""Standard margin of option positions against bit.com's worked example, its linear analogues and exact arithmetic.

The venue example: docs/references.md [bitcom-usdt-options-margin] (ETH-USDT-17NOV23-1850-P).
The USD numbers are linear analogues of the coin examples derived in [design-options-pm]
(bit.com's coin formula: [bitcom-coin-options-margin]).
"""

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from clearing.core.options.margin import (
    DEFAULT_OPTION_MARGIN,
    MAX_POSITION_LOTS,
    PER_LOT_LIMIT,
    OptionMarginParams,
    option_requirements,
)

# Quote decimals 6 (micro-USDT), one lot = 1 unit of underlying, underlying tick 0.01, option tick 0.1:
UNDERLYING_UNIT = 10_000  # 1 x 0.01 x 10^6 micro-USDT per option lot per underlying tick
OPTION_UNIT = 100_000  # 1 x 0.1 x 10^6 micro-USDT per option lot per option tick
USDT = 10**6  # minor units per USDT
CALL, PUT = True, False


def ints(*values):
    array = np.array(values, np.int64)
    array.flags.writeable = False  # the function must not write into its inputs
    return array


def flags(*values):
    array = np.array(values, bool)
    array.flags.writeable = False
    return array


def one(position, is_call, strike, underlying, mark, unit_u=UNDERLYING_UNIT, unit_o=OPTION_UNIT, params=DEFAULT_OPTION_MARGIN):
    initial, maintenance = option_requirements(
        ints(position), flags(is_call), ints(strike), ints(underlying), ints(mark), ints(unit_u), ints(unit_o), params
    )
    return int(initial[0]), int(maintenance[0])


def reference(position, is_call, strike, underlying, mark, unit_u, unit_o, params=DEFAULT_OPTION_MARGIN):
    # The venue's formula read literally, in exact rationals per lot, ceil once per position.
    if position >= 0:
        return 0, 0
    u, k, m = Fraction(underlying * unit_u), Fraction(strike * unit_u), Fraction(mark * unit_o)
    i, f, mm, mmm = (Fraction(r, 10**6) for r in params)
    otm = max(k - u, 0) if is_call else max(u - k, 0)
    if is_call:
        maintenance = mm * u + m
        initial = max(i * u - otm, f * u) + m
    else:
        maintenance = max(mm * u, mmm * m) + m
        initial = max(max(i * u - otm, f * u) + m, maintenance)
    return math.ceil(-position * initial), math.ceil(-position * maintenance)


# The venue's example first -------------------------------------------------------------------


def test_option_requirements_bitcom_usdt_short_put_example_is_exact():
    # bit.com: ETH-USDT-17NOV23-1850-P, U = 2,098, K = 1,850, mark 2.4, short 50 ETH.
    # OTM = 248; MM = max(157.35, 0.18) + 2.4 = 159.75; IM = max(max(314.7 - 248, 209.8) + 2.4, 159.75) = 212.2.
    initial, maintenance = one(-50, PUT, strike=185_000, underlying=209_800, mark=24)
    assert initial == 10_610 * USDT
    assert maintenance == 7_987_500_000  # 7,987.5 USDT


def test_option_requirements_bitcom_example_per_contract():
    initial, maintenance = one(-1, PUT, strike=185_000, underlying=209_800, mark=24)
    assert (initial, maintenance) == (212_200_000, 159_750_000)  # 212.2 and 159.75 USDT


# Linear (USD) analogues of the coin examples derived in options-pm 1.7 at U = 60,000 USD:
# the coin numbers times U (0.1100 BTC x 60,000 = 6,600 USD, and so on). Ticks 0.01 / 0.1 as above.
@pytest.mark.parametrize(
    ("is_call", "strike", "mark_usd", "initial_usd", "maintenance_usd"),
    [
        (CALL, 66_000, 600, 6_600, 5_100),  # max(0.15 U - 6,000, 0.10 U) + 600; 0.075 U + 600
        (PUT, 54_000, 480, 6_480, 4_980),  # max(max(9,000 - 6,000, 6,000) + 480, 4,980); max(4,500, 36) + 480
        (CALL, 60_000, 2_400, 11_400, 6_900),  # ATM: 0.15 U + 2,400; 0.075 U + 2,400
    ],
)
def test_option_requirements_linear_analogues_of_the_coin_examples(is_call, strike, mark_usd, initial_usd, maintenance_usd):
    got = one(-1, is_call, strike=strike * 100, underlying=60_000 * 100, mark=mark_usd * 10)
    assert got == (initial_usd * USDT, maintenance_usd * USDT)


def test_option_requirements_deep_itm_short_put_initial_is_its_maintenance():
    # U = 100, K = 400, mark 300: max(max(15 - 0, 10) + 300) = 315 < MM = max(7.5, 22.5) + 300 = 322.5.
    assert one(-1, PUT, strike=40_000, underlying=10_000, mark=3_000) == (322_500_000, 322_500_000)


def test_option_requirements_read_the_rates_from_params():
    # A wider product (bit.com's BCH coin rows: 0.25, 0.15, 0.125), here on a linear call at U = 100, K = 110, mark 1:
    # IM = max(25 - 10, 15) + 1 = 16; MM = 12.5 + 1 = 13.5.
    params = OptionMarginParams(initial_ppm=250_000, floor_ppm=150_000, maintenance_ppm=125_000)
    assert one(-1, CALL, strike=11_000, underlying=10_000, mark=10, params=params) == (16 * USDT, 13_500_000)
    assert one(-1, CALL, strike=11_000, underlying=10_000, mark=10) == (11 * USDT, 8_500_000)  # the defaults differ


def test_option_requirements_otm_reduces_only_down_to_the_floor():
    # Call at U = 100: K = 103 -> 15 - 3 = 12; K = 120 -> max(15 - 20, 10) = 10 (the floor); an ITM call gets no relief.
    assert one(-1, CALL, strike=10_300, underlying=10_000, mark=0)[0] == 12 * USDT
    assert one(-1, CALL, strike=12_000, underlying=10_000, mark=0)[0] == 10 * USDT
    assert one(-1, CALL, strike=8_000, underlying=10_000, mark=0)[0] == 15 * USDT


# Longs, flat, rounding ---------------------------------------------------------------------------


def test_option_requirements_longs_and_flat_positions_need_nothing():
    initial, maintenance = option_requirements(
        ints(5, 0, 3, 0), flags(CALL, PUT, PUT, CALL), ints(185_000, 185_000, 10, 0), ints(209_800, 209_800, 10**15, 0),
        ints(24, 24, 10**15, 0), ints(UNDERLYING_UNIT), ints(OPTION_UNIT),
    )  # fmt: skip
    assert initial.tolist() == [0, 0, 0, 0]  # a long's out-of-bound inputs are never multiplied
    assert maintenance.tolist() == [0, 0, 0, 0]
    assert initial.dtype == np.int64


def test_option_requirements_round_up_once_per_position_against_the_account():
    # One minor unit per tick, U = 7, ATM call, mark 0: per lot IM = max(1.05, 0.7) = 1.05, MM = 0.525.
    assert one(-1, CALL, strike=7, underlying=7, mark=0, unit_u=1, unit_o=1) == (2, 1)  # ceil(1.05), ceil(0.525)
    # 20 lots: 21 exactly and ceil(10.5) = 11, not 20 x ceil(1.05) = 40 (rounding per lot would overcharge).
    assert one(-20, CALL, strike=7, underlying=7, mark=0, unit_u=1, unit_o=1) == (21, 11)


# Properties ---------------------------------------------------------------------------------------

rates = st.builds(
    lambda m, extra_floor, extra_initial, mark_rate: OptionMarginParams(m + extra_floor + extra_initial, m + extra_floor, m, mark_rate),
    st.integers(0, 300_000), st.integers(0, 300_000), st.integers(0, 300_000), st.integers(0, 10**6),
)  # fmt: skip
rows = st.tuples(
    st.integers(-(10**6), 10**6),  # position lots
    st.booleans(),
    st.integers(0, 10**7),  # strike ticks
    st.integers(0, 10**7),  # underlying ticks
    st.integers(0, 10**6),  # mark ticks
    st.integers(1, 10**5),  # underlying unit value
    st.integers(1, 10**5),  # option unit value
)


@given(rows, rates)
def test_option_requirements_equal_the_formula_in_exact_rationals(row, params):
    assert one(*row, params=params) == reference(*row, params=params)


@given(st.lists(rows, min_size=1, max_size=30), rates)
def test_option_requirements_vectorised_equal_a_loop_over_positions(table, params):
    columns = list(zip(*table, strict=True))
    initial, maintenance = option_requirements(
        ints(*columns[0]), flags(*columns[1]), *(ints(*c) for c in columns[2:]), params=params
    )
    looped = [one(*row, params=params) for row in table]
    assert list(zip(initial.tolist(), maintenance.tolist(), strict=True)) == looped


@given(rows, rates)
def test_option_requirements_initial_at_least_maintenance_at_least_zero(row, params):
    initial, maintenance = one(*row, params=params)
    assert initial >= maintenance >= 0


@given(rows, st.integers(1, 1_000))
def test_option_requirements_rise_linearly_with_the_position_up_to_rounding(row, k):
    position, *rest = row
    position = -max(abs(position), 1)
    base_im, base_mm = one(position, *rest)
    assume(k * (base_im + 1) < 2**62)  # the scaled position's requirement must itself fit in int64
    scaled_im, scaled_mm = one(k * position, *rest)
    # ceil(k x) lies in (k ceil(x) - k, k ceil(x)]: never more than k times one position's, short by under a unit per step.
    assert k * base_im - k < scaled_im <= k * base_im
    assert k * base_mm - k < scaled_mm <= k * base_mm
    assert one(position - 1, *rest)[0] >= base_im


# Units and bounds -------------------------------------------------------------------------------


def test_option_requirements_scalar_unit_values_broadcast():
    initial, maintenance = option_requirements(
        ints(-50, -1), flags(PUT, PUT), ints(185_000, 185_000), ints(209_800, 209_800), ints(24, 24),
        np.int64(UNDERLYING_UNIT), np.int64(OPTION_UNIT),
    )  # fmt: skip
    assert initial.tolist() == [10_610 * USDT, 212_200_000]
    assert maintenance.tolist() == [7_987_500_000, 159_750_000]


def test_option_requirements_at_the_int64_bound_are_exact_and_beyond_it_refused():
    # Per lot max(K, U) x underlying unit value + mark x option unit value may reach PER_LOT_LIMIT.
    at_limit = (-1, CALL, PER_LOT_LIMIT - 5, PER_LOT_LIMIT - 5, 5, 1, 1)
    expected = (
        -(-15 * (PER_LOT_LIMIT - 5) // 100) + 5,
        -(-75 * (PER_LOT_LIMIT - 5) // 1000) + 5,
    )  # ATM: 0.15 U + mark, 0.075 U + mark
    assert one(*at_limit) == reference(*at_limit) == expected
    with pytest.raises(ValueError, match="per lot"):
        one(-1, CALL, PER_LOT_LIMIT - 5, PER_LOT_LIMIT - 5, 6, 1, 1)
    with pytest.raises(ValueError, match="per lot"):
        one(-1, PUT, PER_LOT_LIMIT // 2 + 1, 10, 0, 2, 1)  # the strike alone, times its unit value
    with pytest.raises(ValueError, match="per lot"):
        one(-(MAX_POSITION_LOTS + 1), CALL, 1, 1, 0, 1, 1)
    with pytest.raises(ValueError, match="below 2"):
        one(-(10**8), CALL, 10**12, 10**12, 0, 1, 1)  # 0.15 x 10^12 per lot x 10^8 lots = 1.5 x 10^19 > 2^63


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"position": np.array([-1.0])}, "position_lots as integers"),
        ({"is_call": np.array([1])}, "is_call as booleans"),
        ({"strike": np.array([2**63], np.uint64)}, "strike_ticks within int64"),
        ({"strike": ints(-1)}, "strike_ticks >= 0"),
        ({"underlying": ints(-1)}, "underlying_ticks >= 0"),
        ({"mark": ints(-1)}, "option_mark_ticks >= 0"),
        ({"unit_u": ints(0)}, "underlying_unit_value >= 1"),
        ({"unit_o": ints(0)}, "option_unit_value >= 1"),
        ({"params": OptionMarginParams(initial_ppm=1_000_001)}, "initial_ppm an int in"),
        ({"params": OptionMarginParams(floor_ppm=-1)}, "floor_ppm an int in"),
        ({"params": OptionMarginParams(maintenance_ppm=0.075)}, "maintenance_ppm an int in"),
        ({"params": OptionMarginParams(floor_ppm=50_000)}, "floor_ppm >= maintenance_ppm"),
    ],
)
def test_option_requirements_refuse_bad_input(change, match):
    args = {
        "position": ints(-1), "is_call": flags(CALL), "strike": ints(100), "underlying": ints(100), "mark": ints(1),
        "unit_u": ints(1), "unit_o": ints(1), "params": OptionMarginParams(),
    }  # fmt: skip
    args.update(change)
    with pytest.raises(ValueError, match=match):
        option_requirements(*args.values())
