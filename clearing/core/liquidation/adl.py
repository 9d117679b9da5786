"""Auto-deleveraging of one position: who may be deleveraged, in what order, how many lots each, at what price.

What the insurance fund cannot absorb is closed against ranked opposite positions at the
liquidated position's bankruptcy price (BitMEX and Binance close ADL at the bankruptcy
price of the liquidated order). Never deleveraged: the account itself, the backstop and
the insurance fund's account (decisions 0005, 0007), accounts being liquidated, and
accounts that closing their whole position at that price would leave with negative
equity (each is itself for liquidation, and ADL would leave it owing). The ranking and the
sharing are `clearing.core.liquidation.waterfall`'s. Pure: reads a `ClearingState`,
changes nothing. Sources: docs/references.md [binance-adl], [bitmex-adl],
[dydx-v4-deleveraging].
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from clearing import events as ev
from clearing.core.inverse import position_coin_values
from clearing.core.liquidation.params import AdlRanking
from clearing.core.liquidation.waterfall import RANKINGS, adl_allocation, adl_ranking
from clearing.core.margin import maintenance_amounts, maintenance_margin
from clearing.core.risk import position_bankruptcy_price
from clearing.core.state import ClearingState
from clearing.core.state.schema import Role
from clearing.core.valuation import market_values, valuation_prices, value_at
from clearing.units import Int64Array, mul_div_floor

FUND = Role.INSURANCE_FUND
FIRST_RANKED = 64  # candidates ranked first; four times more each time they hold too little


class Candidates(NamedTuple):
    """Accounts that may be deleveraged (ascending), their positions (signed lots) and backing (margin cash), shape (K,)."""

    accounts: Int64Array
    position_lots: Int64Array
    backing: Int64Array


class Deleveraging(NamedTuple):
    """The ADL of one position: the price (ticks), then each counterparty (in ranked order) and its lots."""

    price_ticks: int
    counterparties: list[int]
    lots: list[int]


def adl_candidates(
    state: ClearingState, account: int, market: int, lots: int, backstop: int, price_ticks: int
) -> Candidates:
    """Return who may take the other side of `lots` (signed, as held by `account`) on `market` at `price_ticks`.

    The accounts holding the opposite side, except `account`, the `backstop`, the
    insurance fund's account and accounts being liquidated; and of those only the ones
    whose equity, their position closed at `price_ticks` instead of its valuation price,
    stays >= 0: margin cash + sum of position values + the position's value at `price_ticks`
    less its value at the valuation price (`clearing.core.valuation.value_at`). On an inverse
    perpetual the ranking reads coin: the positions' coin values, their coin cost and the
    backing in coin at the settlement asset's price.
    """
    column = state.position[:, market]
    candidates = np.flatnonzero(column < 0) if lots > 0 else np.flatnonzero(column > 0)
    candidates = candidates[~state.liquidating[candidates] & (state.role[candidates] != FUND)]
    candidates = candidates[(candidates != account) & (candidates != backstop)]
    prices = valuation_prices(state)
    held = column[candidates]
    backing = state.margin_cash(candidates)
    equity = backing + market_values(state, state.position[candidates], prices).sum(axis=1)
    shift = value_at(state, market, held, price_ticks) - value_at(state, market, held, int(prices[market]))
    keep = equity + shift >= 0
    return Candidates(candidates[keep], held[keep], backing[keep])


def deleveraging(
    state: ClearingState, account: int, market: int, lots: int, backstop: int, ranking: AdlRanking, seed: int
) -> Deleveraging:
    """Return the ADL of `lots` (signed, as held) of the account's position on `market`.

    At the position's bankruptcy price (`clearing.core.risk.position_bankruptcy_price`);
    the `adl_candidates` ranked by `ranking` (`waterfall.adl_ranking`, seeded with `seed`,
    the breach's seq; only as far as the lots need, unless pro rata), then shared by
    `waterfall.adl_allocation`: min(what is left, its position) each in ranked order, or
    pro rata. Candidates giving nothing are left out; the lots sum to min(|lots|, what
    the candidates hold).
    """
    price = position_bankruptcy_price(state, account, market)
    candidates, held, backing = adl_candidates(state, account, market, lots, backstop, price)
    policy = RANKINGS[ranking]
    limit = None if policy.pro_rata else FIRST_RANKED
    entry = state.entry_cost[candidates, market]
    sizes, mark, unit_value = held, int(state.mark_ticks[market]), int(state.unit_value[market])
    terms = state.inverse.get(market)
    quote_unit = 10 ** int(state.markets[market].quote_decimals)
    if terms is not None:  # ranked in the settlement asset: coin values, coin cost, coin backing
        sizes, mark, unit_value = position_coin_values(held, mark, terms.k), 1, 1
        asset_price = max(int(state.asset_oracle_ticks[terms.asset]), 1)
        quote_unit = 10 ** int(state.asset_decimals[terms.asset])
        backing = mul_div_floor(backing, quote_unit, asset_price)  # type: ignore[assignment]
    maintenance = None  # only Binance's ranking reads the positions' maintenance requirements
    if ranking is AdlRanking.LEVERAGE_PNL:
        maintenance = (maintenance_margin(np.abs(sizes), int(state.maintenance_margin_ppm[market])) if terms is not None
                       else maintenance_amounts(np.abs(held) * (mark * unit_value), state.brackets[market], held))  # fmt: skip
    while True:  # rank only as far as the position needs (pro rata shares it among all)
        order = adl_ranking(ranking, candidates, sizes, entry, backing, mark, unit_value, seed=seed, limit=limit,
                            maintenance=maintenance, quote_unit=quote_unit)  # fmt: skip
        if limit is None or len(order) == len(candidates) or int(np.abs(held[order]).sum()) >= abs(lots):
            break
        limit *= 4
    ranked = candidates[order]
    allocation = np.array(adl_allocation(abs(lots), np.abs(held[order]), policy.pro_rata), np.int64)
    given = np.flatnonzero(allocation)
    return Deleveraging(price, ranked[given].tolist(), allocation[given].tolist())


def deleveraged_events(
    plan: Deleveraging, ts_ns: int, causes: tuple[int, ...], market: int, account: int, lots: int
) -> list[ev.PositionDeleveraged]:
    """Return the `position_deleveraged` events of `plan` for the account's `lots` (signed, as held), in its order.

    A long is sold to each counterparty (it buys), a short bought back from each.
    """
    out = []
    for counterparty, size in zip(plan.counterparties, plan.lots, strict=True):
        buyer, seller = (counterparty, account) if lots > 0 else (account, counterparty)
        out.append(
            ev.PositionDeleveraged(
                ts_ns=ts_ns, causes=causes, market=market, account=account, buyer=buyer, seller=seller, lots=size,
                price_ticks=plan.price_ticks,
            )
        )  # fmt: skip
    return out
