"""The backstop's take-over: its price, and whether the fund could pay the shortfall it would leave.

Pure: reads a `ClearingState`, changes nothing. The backstop liquidity provider takes over
what nothing else closed, at the mark moved by slippage and size impact (decision 0005);
a vault take-over (execution "vault") is at the bankruptcy price instead. Whether the
shortfall such a take-over leaves is more than the fund may pay decides, outside
execution "fund", whether ADL runs first. Sources: docs/references.md [hyperliquid-liq],
[binance-adl].
"""

from __future__ import annotations

from clearing.core.liquidation.params import LiquidationParams
from clearing.core.liquidation.pricing import backstop_price_ticks
from clearing.core.risk import backing, position_bankruptcy_price
from clearing.core.state import ClearingState
from clearing.core.valuation import valuation_price, value_of


def backstop_price(state: ClearingState, market: int, lots: int, params: LiquidationParams) -> int:
    """Return the price (ticks) the backstop takes `lots` (signed, as held) over at.

    `backstop_price_ticks` at the market's valuation price: the mark x (1 -/+ min(slippage
    + |value of lots at the mark| x 1 % / impact depth, max slippage)), rounded against the
    account.
    """
    mark = valuation_price(state, market)
    notional = abs(value_of(state, market, lots, mark))
    return backstop_price_ticks(lots, mark, notional, params.slippage_ppm, params.impact_depth_minor, params.max_slippage_ppm)


def takeover_price(state: ClearingState, account: int, market: int, lots: int, params: LiquidationParams, vault: bool) -> int:
    """Return the price (ticks) the backstop takes the account's `lots` (signed, as held) on `market` over at.

    A vault take-over (`vault`): the position's bankruptcy price
    (`clearing.core.risk.position_bankruptcy_price`); otherwise `backstop_price`.
    """
    if vault:
        return position_bankruptcy_price(state, account, market)
    return backstop_price(state, market, lots, params)


def fund_falls_short(state: ClearingState, account: int, market: int, lots: int, params: LiquidationParams, now_ns: int) -> bool:
    """Return whether the backstop's take-over of `lots` would leave a shortfall larger than the fund may pay now.

    balance = backing + the value of lots at the backstop price + of kept at the mark
    (`clearing.core.valuation.value_of`: lots x price x unit value on a linear market),
    with kept = the position - lots (the part not being closed, at the mark) and the other
    markets at their prices (in the backing); falls short when balance < 0 and -balance >
    `ClearingState.fund_payable(now_ns)` (the fund under its caps).
    """
    mark = valuation_price(state, market)
    kept = state.position.item(account, market) - lots
    balance = (
        backing(state, account, market)
        + value_of(state, market, lots, backstop_price(state, market, lots, params))
        + value_of(state, market, kept, mark)
    )
    return balance < 0 and -balance > state.fund_payable(now_ns)
