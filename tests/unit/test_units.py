from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from clearing.units import div_ceil, format_minor, mul_div_ceil, mul_div_floor, to_ppm, to_units


@given(st.integers(0, 2**62), st.integers(0, 10**6), st.integers(1, 10**6))
def test_mul_div_matches_exact_rational(a, num, den):
    assert mul_div_floor(a, num, den) == (a * num) // den
    assert mul_div_ceil(a, num, den) == -((-a * num) // den)


def test_mul_div_ceil_on_arrays_never_overflows_near_int64_max():
    a = np.array([2**62, 2**62 + 12345], dtype=np.int64)
    out = mul_div_ceil(a, 999_999, 1_000_000)
    assert [int(x) for x in out] == [-((-int(v) * 999_999) // 1_000_000) for v in a]


def test_to_units_is_exact_or_refuses():
    assert to_units("60000.1", Decimal("0.1"), "price") == 600001
    assert to_units(0.3, Decimal("0.1"), "price") == 3  # floats go through their repr
    with pytest.raises(ValueError, match="not a whole number"):
        to_units("60000.15", Decimal("0.1"), "price")


def test_to_ppm_and_div_ceil():
    assert to_ppm("0.005", "rate") == 5000
    assert to_ppm(0.0125, "rate") == 12500
    assert div_ceil(7, 2) == 4 and div_ceil(-7, 2) == -3 and div_ceil(6, 2) == 3


def test_format_minor_is_exact():
    assert format_minor(1_234_567, 6) == "1.234567"
    assert format_minor(-5, 2) == "-0.05"
    assert format_minor(42, 0) == "42"
