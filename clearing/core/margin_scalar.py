"""One position's liquidation price in Python numbers: `margin.liquidation_price`'s arithmetic without numpy's per-call cost.

A replay recomputes the liquidation price of every margin breach it meets (`clearing.apps.replay`),
one account at a time; the vectorised function costs about 80 µs a call on one row, most of it
numpy's overhead on arrays of one element, which made the breach audits of a cascade the larger
part of a replay. `liquidation_price_one` does the same operations in the same order on Python
floats (IEEE doubles, as numpy's float64) and integers (as numpy's int64, within the range its
`safe` test allows), so it returns what `liquidation_price` returns for that row:
`tests/property/test_liquidation_price_one.py` holds it to that. Rows the vectorised function
would not compute in int64, and sizes margined by size (`Brackets.by_size`), go to it.
"""

from __future__ import annotations

import math
from bisect import bisect_left

import numpy as np

from clearing.core.margin import Brackets, liquidation_price, liquidation_price_exact
from clearing.units import PPM

_INT64 = 2**63
_EXACT_FLOAT = 2**53  # integers a float64 holds exactly


def liquidation_price_one(backing: int, position_lots: int, unit_value: int, brackets: Brackets) -> int:
    """Return `liquidation_price` of one position (ticks; 0 for none), computed in Python numbers."""
    if not position_lots:
        return 0
    if brackets.by_size:
        return _vectorised(backing, position_lots, unit_value, brackets)
    size, side = abs(position_lots), (1 if position_lots > 0 else -1)
    floors, rates, cums = brackets.floors.tolist(), brackets.rates_ppm.tolist(), brackets.cums.tolist()
    count = len(floors)
    if size * unit_value >= _INT64 or floors[-1] >= _EXACT_FLOAT:  # where int64 would wrap or a float round a floor
        return _vectorised(backing, position_lots, unit_value, brackets)
    # The bracket: the highest whose float LP falls in it (numpy's: int64 and float64 operands, float64 results).
    bracket = 0
    notional_unit = float(size * unit_value)
    for k in range(count - 1, -1, -1):
        denominator = notional_unit * (float(rates[k]) / PPM - side)
        if denominator == 0.0:
            return _vectorised(backing, position_lots, unit_value, brackets)
        lp = (float(backing) + float(cums[k])) / denominator
        if math.isnan(lp):
            return _vectorised(backing, position_lots, unit_value, brackets)
        at = bisect_left(floors, float(size) * max(lp, 1.0) * unit_value) - 1
        if max(at, 0) == k:
            bracket = k
            break
    cum = cums[bracket]
    if not (abs(backing) + cum < 9 * 10**12 and size * unit_value < 4 * 10**12):
        return liquidation_price_exact(backing, position_lots, unit_value, brackets)
    denominator_int = size * unit_value * (rates[bracket] - side * PPM)
    if denominator_int == 0:
        return _vectorised(backing, position_lots, unit_value, brackets)
    floor, rest = divmod((backing + cum) * PPM, denominator_int)
    price = (floor - 1 if rest == 0 else floor) if side > 0 else floor + 1
    notional = size * max(price, 1) * unit_value
    if notional >= _INT64:
        return _vectorised(backing, position_lots, unit_value, brackets)
    agrees = max(bisect_left(floors, notional) - 1, 0)
    if agrees != bracket:
        return liquidation_price_exact(backing, position_lots, unit_value, brackets)
    return max(price, 0)


def _vectorised(backing: int, position_lots: int, unit_value: int, brackets: Brackets) -> int:
    return int(liquidation_price(np.array([backing], np.int64), np.array([position_lots], np.int64), unit_value, brackets)[0])
