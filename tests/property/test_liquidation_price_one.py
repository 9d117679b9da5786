"""`liquidation_price_one` (Python numbers) returns what the vectorised `liquidation_price` returns for that row.

The replay's breach audits use the scalar form; the live monitor the vectorised one. Brackets
are drawn as venues write them (floors rising from 0, rates rising, 100 % included), with
backings and sizes across int64's range, where the vectorised function switches to Python
integers, and at the brackets' edges.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from clearing.core.margin import Brackets, liquidation_price
from clearing.core.margin_scalar import liquidation_price_one


@st.composite
def brackets(draw: st.DrawFn) -> Brackets:
    count = draw(st.integers(1, 8))
    steps = draw(st.lists(st.integers(1, 10**8).map(lambda n: n * 10**6), min_size=count - 1, max_size=count - 1))
    floors = [0]
    for step in steps:
        floors.append(floors[-1] + step)
    rates = sorted(draw(st.lists(st.integers(1, 1_000_000), min_size=count, max_size=count)))
    made = Brackets.of(floors, rates)
    if draw(st.booleans()) and count == 1:  # margined by size (Hyperliquid's premium, BitMEX's risk limits)
        made = made._replace(premium_ppm=draw(st.integers(0, 5_000)), risk_limit_lots=(draw(st.integers(1, 10**6)),
                                                                                       draw(st.integers(0, 10**5))))  # fmt: skip
    return made


@settings(max_examples=600, deadline=None)
@given(b=brackets(), backing=st.one_of(st.integers(-(10**13), 10**13), st.integers(-(2**62), 2**62)),
       lots=st.one_of(st.integers(-(10**7), 10**7), st.integers(-(2**40), 2**40)),
       unit_value=st.sampled_from([1, 100, 10_000, 1_000_000]))  # fmt: skip
def test_the_scalar_liquidation_price_is_the_vectorised_one(b: Brackets, backing: int, lots: int, unit_value: int) -> None:
    with np.errstate(all="ignore"):  # the vectorised function divides by zero where a long is margined at 100 %
        try:
            want: int | str = int(liquidation_price(np.array([backing], np.int64), np.array([lots], np.int64), unit_value,
                                                    b)[0])  # fmt: skip
        except ZeroDivisionError:  # a bracket above the first at 100 %, for a long: no venue writes one
            want = "ZeroDivisionError"
        try:
            got: int | str = liquidation_price_one(backing, lots, unit_value, b)  # (which hands such rows to it)
        except ZeroDivisionError:
            got = "ZeroDivisionError"
    assert got == want
