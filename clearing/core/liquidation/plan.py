"""Which markets a liquidation closes, in which order, and how many lots of each.

An account with one position closes it by the partial policy (`pricing.partial_lots`:
all, a fraction, or just enough to restore maintenance; the cooldown and the per-block
notional cap apply); an account with positions on several markets (cross or portfolio)
closes every one of them whole, largest notional at its valuation price first (ties to
the lower market), and settles once (decision 0006). Every market it holds must pass its
oracle guard first, the breach market's first. Pure: reads a `ClearingState`, changes
nothing. Sources: docs/references.md [binance-liq], [hyperliquid-liq], [dydx-v4-liq].
"""

from __future__ import annotations

from typing import NamedTuple

from clearing.core.liquidation.params import LiquidationParams
from clearing.core.liquidation.pricing import partial_lots
from clearing.core.risk import backing, market_values, requirement_with, valuation_prices, value_of
from clearing.core.state import ClearingState


class Close(NamedTuple):
    """Close `lots` (signed, as held) of the account's position on `market`."""

    market: int
    lots: int


def guard_markets(state: ClearingState, account: int, market: int) -> list[int]:
    """Return the markets whose oracle guards must allow the liquidation: `market`, then every other one held, ascending."""
    return [market, *[m for m in range(state.n_markets) if m != market and state.position.item(account, m)]]


def close_plan(state: ClearingState, account: int, now_ns: int, params: LiquidationParams) -> list[Close]:
    """Return what the liquidation of `account` closes, market by market in order.

    Markets by notional (the position's quote value, `clearing.core.risk.market_values`),
    largest first, ties to the lower market. One position: `partial_close` of it; several: each whole.
    """
    prices = valuation_prices(state)
    held = [m for m in range(state.n_markets) if state.position.item(account, m)]
    values = market_values(state, state.position[account : account + 1], prices)[0]
    held.sort(key=lambda m: (-abs(int(values[m])), m))
    if len(held) == 1:
        return [Close(held[0], partial_close(state, account, held[0], int(prices[held[0]]), now_ns, params))]
    return [Close(m, state.position.item(account, m)) for m in held]


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
        max_notional=params.max_notional_per_block,
    )  # fmt: skip
    return sign * closing
