"""Market-maker policy: a quote ladder around a reference price that thins out under stress.

The maker tracks an exponentially weighted variance of its reference price's log returns.
Stress is how far the resulting annualised volatility exceeds a calm reference level;
under stress the half-spread widens and the size per level shrinks, so liquidity
withdraws in a crash. Inventory skews the ladder against the position, and at the
inventory limit the maker quotes only the side that reduces it.
"""

from __future__ import annotations

import functools
import math
from enum import StrEnum
from operator import gt, lt
from typing import NamedTuple

from clearing.units import SECONDS_PER_YEAR

BPS = 10_000


class Anchor(StrEnum):
    """The price a maker quotes around: the external index, the delivered oracle price, or the last trade."""

    INDEX = "index"
    ORACLE = "oracle"
    LAST = "last"


def anchor_price(anchor: Anchor, index_ticks: int, oracle_ticks: int, last_ticks: int) -> int:
    """Return the maker's reference price: the anchor's price, the index while the anchor has none yet."""
    if anchor is Anchor.LAST and last_ticks:
        return last_ticks
    if anchor is Anchor.ORACLE and oracle_ticks:
        return oracle_ticks
    return index_ticks


class MakerParams(NamedTuple):
    """Ladder shape and stress response (bps of the reference price; notional in quote minor units)."""

    levels: int
    half_spread_bps: float
    level_spacing_bps: float
    level_notional_minor: int
    calm_volatility: float  # annualised, where stress starts
    spread_stress: float  # half-spread multiplier per unit of stress
    depth_stress: float  # size divisor per unit of stress
    halflife_ns: int
    inventory_limit_lots: int
    skew_bps: float  # reference shift at the inventory limit


def updated_variance(variance: float, previous_ticks: int, reference_ticks: int, dt_ns: int, halflife_ns: int) -> float:
    """Return the EWMA of squared log returns per second after one observation.

    v' = v + a (r^2 / dt - v), r = ln(reference / previous), dt in seconds, a = 1 - 2^(-dt / halflife).
    """
    if previous_ticks <= 0 or dt_ns <= 0:
        return variance
    r = math.log(reference_ticks / previous_ticks)
    dt = dt_ns / 1e9
    weight = 1.0 - math.pow(2.0, -dt_ns / halflife_ns)
    return variance + weight * (r * r / dt - variance)


def stress(variance: float, calm_volatility: float) -> float:
    """Return max(0, annualised volatility / calm_volatility - 1)."""
    volatility = math.sqrt(max(variance, 0.0) * SECONDS_PER_YEAR)
    return max(0.0, volatility / calm_volatility - 1.0) if calm_volatility > 0 else 0.0


def ladder(
    reference_ticks: int,
    variance: float,
    inventory_lots: int,
    params: MakerParams,
    unit_value: int,
    level_notionals_minor: tuple[tuple[int, ...], tuple[int, ...]] | None = None,
    inverse: bool = False,
) -> tuple[tuple[tuple[int, int], ...], tuple[tuple[int, int], ...]]:
    """Return (bids, asks) as ((price_ticks, lots), ...) best first.

    half = half_spread x (1 + spread_stress x s); level k sits at half + k x spacing bps
    from the skewed centre, centre = reference x (1 - skew x inventory / limit); bids round
    down and asks up, one tick apart at least. Size of level k: its notional (per side from
    `level_notionals_minor` = (bid notionals, ask notionals) if given, else level_notional)
    / (1 + depth_stress x s), in whole lots rounded down, at least one: a lot is worth
    price x `unit_value`, or `unit_value` at every price on an `inverse` perpetual.
    At the inventory limit only the reducing side is quoted.
    """
    s = stress(variance, params.calm_volatility)
    half = params.half_spread_bps * (1.0 + params.spread_stress * s)
    shrink = 1.0 + params.depth_stress * s
    limit = max(params.inventory_limit_lots, 1)
    centre = reference_ticks * (1.0 - params.skew_bps / BPS * max(-1.0, min(1.0, inventory_lots / limit)))
    distances = [(half + offset) / BPS for offset in _offsets(params.levels, params.level_spacing_bps)]
    bids: tuple[tuple[int, int], ...] = ()
    asks: tuple[tuple[int, int], ...] = ()
    if not distances:
        return bids, asks
    floor, ceil, up = math.floor, math.ceil, _UP
    if inventory_lots < limit:
        prices = _monotonic([floor(centre * (1.0 - d) * up) for d in distances], reference_ticks - 1, -1)
        if prices[-1] <= 0:
            prices = [p for p in prices if p > 0]
        notionals = level_notionals_minor[0] if level_notionals_minor else None
        sized = [1] * len(prices) if inverse else prices
        bids = tuple(zip(prices, _sizes(sized, notionals, params.level_notional_minor, shrink, unit_value), strict=False))
    if inventory_lots > -limit:
        prices = _monotonic([ceil(centre * (1.0 + d) * _DOWN) for d in distances], reference_ticks + 1, 1)
        notionals = level_notionals_minor[1] if level_notionals_minor else None
        sized = [1] * len(prices) if inverse else prices
        asks = tuple(zip(prices, _sizes(sized, notionals, params.level_notional_minor, shrink, unit_value), strict=False))
    return bids, asks


@functools.cache
def _offsets(levels: int, spacing_bps: float) -> tuple[float, ...]:
    # k x spacing for each level k, in bps.
    return tuple(k * spacing_bps for k in range(levels))


# Tolerates the last-bit error of float arithmetic: 100000 x 1.0012 is 100120.00000000001.
_UP = 1.0 + 1e-12
_DOWN = 1.0 - 1e-12


def _monotonic(prices: list[int], bound: int, direction: int) -> list[int]:
    # Bids (direction -1) at most bound and strictly descending, asks (+1) at least bound
    # and strictly ascending: each level at least one tick beyond the one before.
    if direction < 0:
        if prices[0] <= bound and all(map(gt, prices, prices[1:])):
            return prices
        previous = bound + 1
        for i, price in enumerate(prices):
            previous = prices[i] = min(price, previous - 1)
    else:
        if prices[0] >= bound and all(map(lt, prices, prices[1:])):
            return prices
        previous = bound - 1
        for i, price in enumerate(prices):
            previous = prices[i] = max(price, previous + 1)
    return prices


def _sizes(prices: list[int], notionals: tuple[int, ...] | None, notional: int, shrink: float, unit_value: int) -> list[int]:
    # Whole lots of each level's notional (`notionals`, else `notional` for all) / shrink at
    # its price, rounded down, at least one. With prices > 0 and no negative quotient
    # possible, `or 1` is max(1, ...).
    if notionals is None:
        scaled = notional / shrink
        if scaled >= 0 and unit_value > 0:
            return [int(scaled // (p * unit_value)) or 1 for p in prices]
        return [max(1, int(scaled // (p * unit_value))) for p in prices]
    if shrink > 0 and unit_value > 0 and min(notionals, default=0) >= 0:
        return [int(n / shrink // (p * unit_value)) or 1 for p, n in zip(prices, notionals, strict=False)]
    return [max(1, int(n / shrink // (p * unit_value))) for p, n in zip(prices, notionals, strict=False)]


def clip_to_book(
    bids: tuple[tuple[int, int], ...], asks: tuple[tuple[int, int], ...], best_other_bid: int, best_other_ask: int
) -> tuple[tuple[tuple[int, int], ...], tuple[tuple[int, int], ...]]:
    """Drop levels that would cross other makers' quotes (post-only semantics)."""
    if best_other_ask and bids and bids[0][0] >= best_other_ask:  # else nothing to drop (bids descend)
        bids = tuple(level for level in bids if level[0] < best_other_ask)
    if best_other_bid and asks and asks[0][0] <= best_other_bid:
        asks = tuple(level for level in asks if level[0] > best_other_bid)
    return bids, asks


def profile_notionals(cumulative_minor: tuple[float, ...], params: MakerParams, share: float) -> tuple[int, ...]:
    """Spread a side's cumulative depth profile over the ladder's levels.

    `cumulative_minor[j]` is the notional within (j + 1) % of mid (j = 0..4). Level k at
    distance half + k x spacing bps falls in bucket j = ceil(distance / 100 bps) - 1
    (clipped to 0..4); it gets the bucket's increment divided by the number of levels in
    the bucket, times `share` (this maker's share of the venue's depth).
    """
    last = len(cumulative_minor) - 1
    distances = [params.half_spread_bps + k * params.level_spacing_bps for k in range(params.levels)]
    buckets = [min(last, max(0, math.ceil(d / 100) - 1)) for d in distances]
    out = []
    for bucket in buckets:
        below = cumulative_minor[bucket - 1] if bucket else 0.0
        increment = max(0.0, cumulative_minor[bucket] - below)
        out.append(int(increment / buckets.count(bucket) * share))
    return tuple(out)
