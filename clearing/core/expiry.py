"""Expiry of dated instruments: the settlement price and what each open position is credited.

Deribit and Binance settle dated futures and options on the average of the underlying's
index over the last 30 minutes before expiry, one sample a second (Binance: 1,800 prices
07:30-08:00 UTC). An option's settlement value is its intrinsic value at that price.
Sources: docs/references.md [deribit-futures], [binance-delivery], [binance-options].
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_FLOOR, Decimal

import numpy as np

from clearing.units import Int64Array


def settlement_average(samples_ticks: Sequence[int]) -> int:
    """Return the arithmetic mean of the index samples (ticks), rounded to the nearest tick, halves up.

    Raises:
        ValueError: no samples, or a sample that is not positive (an index not yet known).
    """
    if not samples_ticks or min(samples_ticks) <= 0:
        raise ValueError(f"settlement needs positive index samples, got {len(samples_ticks)}")
    n = len(samples_ticks)
    return (2 * sum(samples_ticks) + n) // (2 * n)


def sample_times_ns(expiry_ns: int, window_ns: int, step_ns: int) -> range:
    """Return the sampling times of the window [expiry - window, expiry): the middle of each `step_ns`.

    A 30-minute window sampled every second has 1,800 samples. Each reads the index in force
    during its second: taken half-way through it, a sample never ties with an index update
    at the second's start, whatever order a simulator runs same-instant events in.
    """
    if not (0 < step_ns <= window_ns <= expiry_ns):
        raise ValueError(f"bad settlement window {window_ns} ns (step {step_ns} ns) before expiry {expiry_ns} ns")
    return range(expiry_ns - window_ns + step_ns // 2, expiry_ns, step_ns)


def option_settlement_ticks(
    underlying_ticks: int, underlying_tick: Decimal, strike: Decimal, option_tick: Decimal, option_type: str
) -> int:
    """Return an option's settlement value in its own ticks: its intrinsic value, rounded down to a tick.

    call: max(S - K, 0); put: max(K - S, 0), S = underlying_ticks x underlying_tick (quote).
    Rounding down is against the holder, by less than one tick of premium per lot.
    """
    price = underlying_ticks * underlying_tick
    intrinsic = price - strike if option_type == "call" else strike - price
    if option_type not in ("call", "put"):
        raise ValueError(f"option type must be call or put, was {option_type!r}")
    return int((max(intrinsic, Decimal(0)) / option_tick).to_integral_value(rounding=ROUND_FLOOR))


def settlements(position_lots: Int64Array, price_ticks: int, unit_value: int) -> tuple[Int64Array, Int64Array, Int64Array]:
    """Return (accounts, lots, amounts) of every open position of one market closed at `price_ticks`.

    Accounts ascend; amount = lots x price x unit_value (quote minor units, signed: a long is
    credited, a short debited). The amounts sum to zero: long and short lots cancel.
    """
    accounts = np.flatnonzero(position_lots).astype(np.int64)
    lots = position_lots[accounts].astype(np.int64)
    return accounts, lots, lots * np.int64(price_ticks * unit_value)
