"""Funding: premium index, the interval's rate, and exactly zero-sum payments.

Binance / BitMEX style:
    P  = [max(0, impact_bid - index) - max(0, index - impact_ask)] / index
    P̄  = sum(i x P_i) / sum(i) over the interval's samples (weights 1..n)
    F  = P̄ + clamp(I - P̄, -c, +c), then capped at +/- cap
    payment = position notional at mark x F; longs pay when F > 0.
Rates are integers in parts per 10^9 (ppb): 0.01 % = 100,000 ppb.
The dYdX, Hyperliquid and Drift presets apply the same formula each hour, which only
approximates those venues' funding (see their entries).
Sources: docs/references.md [binance-funding], [bitmex-funding]; [dydx-v4-funding],
[hyperliquid-funding], [drift-v2-funding].
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from clearing.units import Int64Array, mul_div_ceil

PPB = 1_000_000_000


class FundingParams(NamedTuple):
    """Cadences (ns), impact notional (quote minor units) and rates (ppb)."""

    sample_ns: int
    interval_ns: int
    impact_notional_minor: int
    interest_ppb: int
    clamp_ppb: int
    cap_ppb: int


def premium_ppb(impact_bid_ticks: int, impact_ask_ticks: int, index_ticks: int) -> int:
    """Return the premium index in ppb, truncated toward zero.

    A side with no impact price (0: the book is too thin) contributes nothing.
    """
    if index_ticks <= 0:
        raise ValueError(f"expected a positive index, was {index_ticks}")
    up = max(0, impact_bid_ticks - index_ticks) if impact_bid_ticks else 0
    down = max(0, index_ticks - impact_ask_ticks) if impact_ask_ticks else 0
    numerator = (up - down) * PPB
    return numerator // index_ticks if numerator >= 0 else -((-numerator) // index_ticks)


def average_premium_ppb(weighted_sum: int, weight: int) -> int:
    """Return sum(i x P_i) / sum(i) truncated toward zero (0 with no samples)."""
    if weight <= 0:
        return 0
    return weighted_sum // weight if weighted_sum >= 0 else -((-weighted_sum) // weight)


def funding_rate_ppb(average_ppb: int, interest_ppb: int, clamp_ppb: int, cap_ppb: int) -> int:
    """Return clamp(P̄ + clamp(I - P̄, -c, c), -cap, cap)."""
    rate = average_ppb + max(-clamp_ppb, min(clamp_ppb, interest_ppb - average_ppb))
    return max(-cap_ppb, min(cap_ppb, rate))


def payments(position_lots: Int64Array, mark_ticks: int, unit_value: int, rate_ppb: int) -> tuple[Int64Array, Int64Array]:
    """Return (accounts, amounts) of one settlement; amounts sum to exactly zero.

    Payers (long when F > 0, short when F < 0) pay ceil(|q| x mark x unit_value x |F|)
    (rounded against them). Receivers share the total paid in proportion to their
    notional: floor shares, then one more minor unit each to the largest remainders (ties
    to the lower account) until the total is handed out. Accounts ascend; payers' amounts
    are negative. Empty when F = 0 or nobody holds a position.
    """
    held = np.flatnonzero(position_lots)
    if rate_ppb == 0 or held.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    lots = position_lots[held]
    value = np.abs(lots) * (mark_ticks * unit_value)
    pays = (lots > 0) if rate_ppb > 0 else (lots < 0)
    paid = mul_div_ceil(value[pays], abs(rate_ppb), PPB)
    total = int(np.sum(paid))
    receivers = value[~pays].tolist()
    pool = sum(receivers)
    if pool == 0:
        raise ValueError("funding has payers but no receivers: long and short lots must match")
    shares = [total * v // pool for v in receivers]
    remainders = [total * v % pool for v in receivers]
    left = total - sum(shares)
    for i in sorted(range(len(receivers)), key=lambda i: -remainders[i])[:left]:
        shares[i] += 1
    amounts = np.zeros(held.size, np.int64)
    amounts[pays] = -paid
    amounts[~pays] = np.asarray(shares, dtype=np.int64)
    return held.astype(np.int64), amounts
