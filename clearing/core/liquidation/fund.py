"""The insurance fund's trading account (execution "fund"): its room, its take-over, its unwinding.

Binance's liquidation clearance: the fund takes over at the bankruptcy price what the
book did not fill, as long as its net notional at the mark stays within `fund_limit` of
its equity (the fund plus its account's equity; Binance: 100 %), and offloads what it holds
to the market slowly, sweeping the realised result into the fund (decision 0007). Pure:
reads a `ClearingState`, changes nothing; the liquidator and `offload_process`
(`clearing.sim.liquidator`) emit. Sources: docs/references.md [binance-insurance-fund],
[binance-liq].
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from clearing.core.liquidation.pricing import fill_price_ticks
from clearing.core.margin import position_values
from clearing.core.risk import fund_equity, position_bankruptcy_price
from clearing.core.state import ClearingState
from clearing.core.valuation import valuation_prices
from clearing.units import PPM


class Takeover(NamedTuple):
    """How many lots (absolute) are taken over, and at what price (ticks)."""

    lots: int
    price_ticks: int


class OffloadOrder(NamedTuple):
    """One reduce-only IOC order of the fund's unwinding: side +1 buys back, -1 sells."""

    market: int
    side: int
    lots: int
    limit_ticks: int


def fund_room_lots(
    state: ClearingState, fund_account: int, market: int, lots: int, price_ticks: int, limit_ppm: int = PPM
) -> int:
    """Return how many lots of a position of `lots` (signed, as held) the fund may take over at `price_ticks`.

    After taking n lots its net notional, the sum over markets of abs(position) x mark,
    must stay within limit x its equity (`clearing.core.risk.fund_equity`), and the equity
    counts the take-over's loss against the mark: n <= (limit x equity - used) / (lot value
    + limit x loss per lot), rounded down. Lots that offset a position the fund holds on the
    market come first and are free.
    """
    prices = valuation_prices(state)
    unit_value = int(state.unit_value[market])
    lot_value = int(prices[market]) * unit_value
    held = state.position.item(fund_account, market)
    offsetting = min(abs(held), abs(lots)) if held and (held > 0) != (lots > 0) else 0
    used = int(np.abs(position_values(state.position[fund_account : fund_account + 1], prices, state.unit_value)).sum())
    loss = (price_ticks - int(prices[market])) * unit_value * (1 if lots > 0 else -1)  # per lot, at the mark
    equity = fund_equity(state) - offsetting * loss
    used -= offsetting * lot_value
    room = equity * limit_ppm - used * PPM
    per_lot = lot_value * PPM + limit_ppm * loss
    if room <= 0 or per_lot <= 0:
        return offsetting + (abs(lots) - offsetting if room > 0 else 0)
    return offsetting + room // per_lot


def fund_takeover(state: ClearingState, fund_account: int, account: int, market: int, lots: int, limit_ppm: int) -> Takeover:
    """Return what the fund takes over of the account's `lots` (signed, as held) still open on `market`.

    At the position's bankruptcy price (`clearing.core.risk.position_bankruptcy_price`,
    with what the book filled realised), min(|lots|, `fund_room_lots`) lots.
    """
    price = position_bankruptcy_price(state, account, market)
    return Takeover(min(abs(lots), fund_room_lots(state, fund_account, market, lots, price, limit_ppm)), price)


def offload_orders(state: ClearingState, fund_account: int, notional_minor: int, max_slippage_ppm: int) -> list[OffloadOrder]:
    """Return the fund's unwinding orders: for each market it holds, min(|position|, max(1, notional / lot value)) lots.

    Each a reduce-only IOC limited at the mark -/+ `max_slippage_ppm` (`fill_price_ticks`,
    against the fund), in market order; none for a market without a price yet.
    """
    prices = valuation_prices(state)
    orders = []
    for market in range(state.n_markets):
        held = state.position.item(fund_account, market)
        if not held or not prices[market]:
            continue
        lot_value = int(prices[market]) * int(state.unit_value[market])
        lots = min(abs(held), max(1, notional_minor // lot_value))
        limit = fill_price_ticks(held, int(prices[market]), max_slippage_ppm)
        orders.append(OffloadOrder(market, -1 if held > 0 else 1, lots, limit))
    return orders


def sweep_amount(state: ClearingState, fund_account: int) -> int:
    """Return what moves from the fund's account into the fund: its wallet, a loss no larger than the fund.

    wallet = cash + the open positions' cost (decision 0002); max(wallet, -insurance fund).
    """
    wallet = state.cash.item(fund_account) + int(state.entry_cost[fund_account].sum())
    return max(wallet, -state.insurance_fund)
