"""Which markets a liquidation closes, in which order, and how many lots of each.

An account with one position closes it by the partial policy (`pricing.partial_lots`:
all, a fraction, or just enough to restore maintenance; the cooldown and the per-block
notional cap apply); an account with positions on several markets (cross or portfolio)
closes every one of them whole, largest notional at its valuation price first (ties to
the lower market), and settles once (decision 0006), or with `multi_leg` "incremental"
is reduced chunk by chunk, the chunk that lowers its requirement most per unit of cost
first, until it meets maintenance (Deribit's portfolio liquidation; `incremental_plan`). Every market it holds must pass its
oracle guard first, the breach market's first. Pure: reads a `ClearingState`, changes
nothing. Sources: docs/references.md [binance-liq], [hyperliquid-liq], [dydx-v4-liq].
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from clearing.core.liquidation.params import LiquidationParams, MultiLeg
from clearing.core.liquidation.pricing import partial_lots
from clearing.core.risk import account_risk, backing, requirement_with
from clearing.core.state import ClearingState
from clearing.core.valuation import market_values, valuation_prices, value_of
from clearing.units import PPM, div_ceil


class Close(NamedTuple):
    """Close `lots` (signed, as held) of the account's position on `market`."""

    market: int
    lots: int


def guard_markets(state: ClearingState, account: int, market: int) -> list[int]:
    """Return the markets whose oracle guards must allow the liquidation: `market`, then every other one held, ascending."""
    return [market, *[m for m in range(state.n_markets) if m != market and state.position.item(account, m)]]


def close_plan(state: ClearingState, account: int, now_ns: int, params: LiquidationParams) -> list[Close]:
    """Return what the liquidation of `account` closes, market by market in order.

    Markets by notional (the position's quote value, `clearing.core.valuation.market_values`),
    largest first, ties to the lower market. One position: `partial_close` of it; several: each whole.
    """
    prices = valuation_prices(state)
    held = [m for m in range(state.n_markets) if state.position.item(account, m)]
    values = market_values(state, state.position[account : account + 1], prices)[0]
    held.sort(key=lambda m: (-abs(int(values[m])), m))
    if len(held) == 1:
        return [Close(held[0], partial_close(state, account, held[0], int(prices[held[0]]), now_ns, params))]
    if params.multi_leg is MultiLeg.INCREMENTAL:
        return incremental_plan(state, account, params, held)
    return [Close(m, state.position.item(account, m)) for m in held]


def incremental_plan(state: ClearingState, account: int, params: LiquidationParams, held: list[int]) -> list[Close]:
    """Return Deribit's incremental liquidation of a multi-market account: chunks, best first, until maintenance holds.

    Each step closes, on one market, a chunk of `partial_fraction` of the position as it was
    (at least one lot, at most what is left): the chunk whose requirement relief
    (`account_risk` of the positions without it) per unit of its estimated cost (its notional
    at the valuation price x `slippage`, at least one minor unit) is largest, ties to the
    larger position (`held`'s order). It stops once the equity less the estimated costs meets
    the requirement of what is left; when no chunk lowers the requirement, every leg left is
    closed whole. Returns one close per market, in the order each was first chosen.
    Source: docs/references.md [deribit-pm].
    """
    prices = valuation_prices(state)
    rows = np.array([account])
    positions = state.position[rows].copy()
    equity, requirement = (int(x[0]) for x in account_risk(state, rows))
    chunk = {m: max(1, div_ceil(abs(state.position.item(account, m)) * params.partial_fraction_ppm, PPM)) for m in held}
    closes: dict[int, int] = {}
    cost = 0
    while equity - cost < requirement:
        left = [m for m in held if positions[0, m]]
        if not left:
            break
        best: tuple[int, int, int, int] | None = None  # (market, lots, relief, cost)
        for m in left:
            q = int(positions[0, m])
            lots = q if abs(q) <= chunk[m] else (chunk[m] if q > 0 else -chunk[m])
            trial = positions.copy()
            trial[0, m] -= lots
            relief = requirement - int(account_risk(state, rows, trial)[1][0])
            spend = max(1, abs(value_of(state, m, lots, int(prices[m]))) * params.slippage_ppm // PPM)
            if relief > 0 and (best is None or relief * best[3] > best[2] * spend):
                best = (m, lots, relief, spend)
        if best is None:  # nothing left lowers the requirement: close the rest whole
            for m in left:
                closes[m] = closes.get(m, 0) + int(positions[0, m])
            break
        m, lots, relief, spend = best
        positions[0, m] -= lots
        closes[m] = closes.get(m, 0) + lots
        requirement -= relief
        cost += spend
    return [Close(m, lots) for m, lots in closes.items()]


def partial_close(
    state: ClearingState, account: int, market: int, mark_ticks: int, now_ns: int, params: LiquidationParams
) -> int:
    """Return how many lots (signed, as held) of the account's one position one liquidation closes.

    `pricing.partial_lots` by `params.partial` at `mark_ticks`, the requirement of a
    smaller position by `clearing.core.risk.requirement_with`; in the cooldown (within
    `cooldown_ns` of the account's last partial liquidation) all of it; capped by
    `max_notional_per_block`.
    """
    held_lots = state.position.item(account, market)
    sign = 1 if held_lots > 0 else -1
    last = state.last_partial_ns.item(account)
    equity = backing(state, account, market) + value_of(state, market, held_lots, mark_ticks)
    closing = partial_lots(
        params.partial, held_lots, equity, abs(value_of(state, market, 1, mark_ticks)),
        lambda size: requirement_with(state, account, market, sign * size), params.partial_fraction_ppm,
        params.partial_min_notional, in_cooldown=bool(params.cooldown_ns) and last > 0 and now_ns - last < params.cooldown_ns,
        max_notional=params.max_notional_per_block, fee_ppm=state.markets[market].liquidation_fee_ppm,
        buffer_ppm=params.margin_buffer_ppm,
    )  # fmt: skip
    return sign * closing
