"""Arbitrageur policy: trade the perpetual back toward the index, within a capital limit.

When the best bid is above index x (1 + threshold) the arbitrageur sells, and when the
best ask is below index x (1 - threshold) it buys, with an IOC order limited at that
band edge, so it only takes liquidity that is mispriced. Its position is capped in
notional at the index price, so in a crash it runs out of room and the basis blows out.
"""

from __future__ import annotations

import math
from typing import NamedTuple


class ArbitrageParams(NamedTuple):
    """Band (bps), largest order and largest position (quote minor units)."""

    threshold_bps: float
    max_order_notional_minor: int
    max_position_notional_minor: int


def arbitrage_order(
    best_bid: int, best_ask: int, index_ticks: int, position_lots: int, unit_value: int, params: ArbitrageParams
) -> tuple[int, int, int] | None:
    """Return (side, lots, limit_ticks) of the IOC order to send, or None.

    Sell when best_bid > ceil(index x (1 + t)), limit at that edge; buy when best_ask <
    floor(index x (1 - t)), limit at that edge. Size: the order cap, less what the position
    cap leaves room for (both converted to lots at the index price, rounded down).
    """
    if index_ticks <= 0:
        return None
    band = params.threshold_bps / 10_000
    lot_value = index_ticks * unit_value
    max_lots = params.max_order_notional_minor // lot_value
    room = params.max_position_notional_minor // lot_value
    upper = math.ceil(index_ticks * (1 + band))
    lower = math.floor(index_ticks * (1 - band))
    if best_bid and best_bid > upper:
        lots = min(max_lots, room + position_lots)
        return (-1, lots, upper) if lots > 0 else None
    if best_ask and best_ask < lower:
        lots = min(max_lots, room - position_lots)
        return (1, lots, lower) if lots > 0 else None
    return None
