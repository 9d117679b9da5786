"""Fixed-point units and exact integer arithmetic.

Prices are integer ticks, sizes integer lots, money integer quote minor units and time
integer nanoseconds. This module converts outside decimal values into those units exactly
(refusing values that are not exact) and provides the rounding helpers every formula uses.
It must not import anything beyond the standard library and numpy.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import NewType

import numpy as np
import numpy.typing as npt

Ticks = NewType("Ticks", int)
Lots = NewType("Lots", int)
Quote = NewType("Quote", int)
Nanos = NewType("Nanos", int)

NS_PER_S = 1_000_000_000
NS_PER_MS = 1_000_000
NS_PER_DAY = 86_400 * NS_PER_S
SECONDS_PER_YEAR = 365 * 86_400  # annualised volatilities and rates use a 365-day year
PPM = 1_000_000
INT64_MAX = 2**63 - 1

Int64Array = npt.NDArray[np.int64]
Float64Array = npt.NDArray[np.float64]


def to_decimal(value: str | int | float | Decimal) -> Decimal:
    """Return `value` as an exact Decimal; floats go through their shortest repr."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        value = repr(value)
    try:
        result = Decimal(str(value).replace("_", ""))
    except InvalidOperation:
        raise ValueError(f"expected a decimal number, was {value!r}") from None
    if not result.is_finite():
        raise ValueError(f"expected a finite decimal number, was {value!r}")
    return result


def to_units(value: str | int | float | Decimal, unit: Decimal, what: str) -> int:
    """Convert a decimal amount into an exact integer count of `unit`.

    Raises:
        ValueError: the amount is not an exact multiple of `unit`.
    """
    amount = to_decimal(value)
    count = amount / unit
    if count != count.to_integral_value():
        raise ValueError(f"{what} {amount} is not a whole number of {unit}")
    return int(count)


def to_ppm(value: str | int | float | Decimal, what: str) -> int:
    """Convert a rate given as a fraction (0.005 = 0.5 %) into exact parts per million."""
    return to_units(value, Decimal("0.000001"), what)


def div_ceil(a: int, b: int) -> int:
    """Return ceil(a / b) for integers, b > 0."""
    return -((-a) // b)


def mul_div_ceil(a: Int64Array | int, num: int, den: int) -> Int64Array | int:
    """Return ceil(a * num / den) exactly, without forming a * num.

    Splits a = q*den + r so that the product never exceeds max(a, r*num): safe in int64
    when a fits and `num * den` < 2**63. Works elementwise on int64 arrays and on ints.
    Rounds up: used for requirements and fees, which round against the account.
    """
    q, r = divmod(a, den)
    return q * num + (-((-r * num) // den))


def mul_div_floor(a: Int64Array | int, num: int, den: int) -> Int64Array | int:
    """Return floor(a * num / den) exactly, without forming a * num.

    Rounds down: used for payouts, which round against the account.
    """
    q, r = divmod(a, den)
    return q * num + (r * num) // den


def format_minor(amount: int, decimals: int) -> str:
    """Format integer minor units as an exact decimal string ("-12.340000")."""
    sign = "-" if amount < 0 else ""
    whole, frac = divmod(abs(int(amount)), 10**decimals)
    if decimals == 0:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{frac:0{decimals}d}"
