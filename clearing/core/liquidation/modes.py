"""The execution modes: where a liquidation's close-out goes, one small frozen policy per mode.

`EXECUTIONS` maps each `Execution` to its policy; the liquidator looks the mode up once
per liquidation and asks it, for each market it closes: does the vault take the whole
position over (`vault_takes_over`)? what is the IOC order's limit (`limit_ticks`)? does the
insurance fund's account take over what the book left (`fund_takes_over`)? does what is
still left go to ADL when the waterfall deleverages (`adl_applies`)? Pure: each reads a
`ClearingState` and changes nothing.

| mode | IOC limit | take-over | to ADL |
|---|---|---|---|
| book | mark -/+ max slippage | | when the fund falls short |
| bankruptcy | the bankruptcy price | | when the fund falls short |
| fillable | dYdX v4's fillable price | | when the fund falls short |
| vault | as book | the backstop vault, below the threshold, at bankruptcy | as book (never after a take-over) |
| fund | the bankruptcy price | the fund's account, within its limit, at bankruptcy | what the fund had no room for |

Sources: docs/references.md [bitmex-liquidation], [binance-liq], [dydx-v4-fillable],
[hyperliquid-liq], [binance-insurance-fund].
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Protocol

import numpy as np

from clearing.core.liquidation.backstop import fund_falls_short
from clearing.core.liquidation.params import Execution, LiquidationParams
from clearing.core.liquidation.pricing import fill_price_ticks, fillable_price
from clearing.core.margin import maintenance_amounts, notional
from clearing.core.risk import account_risk, position_bankruptcy_price
from clearing.core.state import ClearingState
from clearing.core.valuation import valuation_price
from clearing.units import PPM


class ExecutionPolicy(Protocol):
    """What an execution mode decides for each market a liquidation closes."""

    @property
    def fund_takes_over(self) -> bool:
        """Whether the insurance fund's account takes over, at the bankruptcy price, what the book left."""
        ...

    def vault_takes_over(self, state: ClearingState, account: int, params: LiquidationParams) -> bool:
        """Return whether the backstop vault takes the account's whole position over, with no IOC."""
        ...

    def limit_ticks(self, state: ClearingState, account: int, market: int, lots: int, params: LiquidationParams) -> int:
        """Return the limit (ticks) of the IOC order closing `lots` (signed, as held) of the position on `market`."""
        ...

    def adl_applies(
        self, state: ClearingState, account: int, market: int, lots: int, params: LiquidationParams, now_ns: int
    ) -> bool:
        """Return whether `lots` (signed) still open goes to ADL, when the waterfall deleverages."""
        ...


def below_vault_threshold(equity: int, requirement: int, threshold_ppm: int) -> bool:
    """Return whether equity < threshold x requirement: equity x 10^6 < requirement x threshold_ppm, exact.

    Hyperliquid: below 2/3 of maintenance (666,667 ppm) the liquidator vault takes the
    position over. Source: docs/references.md [hyperliquid-liq].
    """
    return equity * PPM < requirement * threshold_ppm


def fillable_limit(state: ClearingState, account: int, market: int) -> int:
    """Return dYdX v4's fillable price (ticks) for the account's position on `market`.

    `fillable_price` with TNC the account's equity and TMMR its requirement, both with this
    market at its oracle price (the other markets at their prices), and PMMR the position's
    maintenance at the oracle (the oracle: the mark before the first delivery). The limit
    moves from the oracle (account exactly at maintenance) to 1.5 x the position's
    maintenance margin past it (account bankrupt). Source: docs/references.md [dydx-v4-fillable].
    """
    mark = valuation_price(state, market)
    unit_value = int(state.unit_value[market])
    held = state.position[account : account + 1, market]
    oracle = int(state.oracle_ticks[market]) or mark
    equity, requirement = account_risk(state, np.array([account]))
    value_shift = int(held[0]) * (oracle - mark) * unit_value  # this market at the oracle, not the mark
    tnc = int(equity[0]) + value_shift
    position = int(maintenance_amounts(notional(held, oracle, unit_value), state.brackets[market], held)[0])
    at_mark = int(maintenance_amounts(notional(held, mark, unit_value), state.brackets[market], held)[0])
    total = int(requirement[0]) - at_mark + position
    return fillable_price(int(held[0]), oracle, unit_value, tnc, max(total, 1), max(position, 1))


@dataclass(frozen=True)
class BookMode:
    """`book`: an IOC limited at the mark -/+ `max_slippage` (the rounding against the account)."""

    fund_takes_over: ClassVar[bool] = False

    def vault_takes_over(self, state: ClearingState, account: int, params: LiquidationParams) -> bool:
        """Return False: no take-over."""
        return False

    def limit_ticks(self, state: ClearingState, account: int, market: int, lots: int, params: LiquidationParams) -> int:
        """Return `fill_price_ticks(lots, mark, max_slippage)`."""
        return fill_price_ticks(lots, valuation_price(state, market), params.max_slippage_ppm)

    def adl_applies(
        self, state: ClearingState, account: int, market: int, lots: int, params: LiquidationParams, now_ns: int
    ) -> bool:
        """Return whether the backstop's take-over would leave more than the fund may pay (`fund_falls_short`)."""
        return fund_falls_short(state, account, market, lots, params, now_ns)


@dataclass(frozen=True)
class BankruptcyMode(BookMode):
    """`bankruptcy`: an IOC limited at the bankruptcy price, so no book fill makes a shortfall (Binance, BitMEX)."""

    def limit_ticks(self, state: ClearingState, account: int, market: int, lots: int, params: LiquidationParams) -> int:
        """Return the position's bankruptcy price (`clearing.core.risk.position_bankruptcy_price`)."""
        return position_bankruptcy_price(state, account, market)


@dataclass(frozen=True)
class FillableMode(BookMode):
    """`fillable`: an IOC limited at dYdX v4's fillable price (`fillable_limit`)."""

    def limit_ticks(self, state: ClearingState, account: int, market: int, lots: int, params: LiquidationParams) -> int:
        """Return `fillable_limit` of the position."""
        return fillable_limit(state, account, market)


@dataclass(frozen=True)
class VaultMode(BookMode):
    """`vault`: below `vault_threshold` of its requirement the backstop vault takes the whole position over
    at the bankruptcy price and keeps the margin, with no IOC (Hyperliquid); otherwise as `book`."""

    def vault_takes_over(self, state: ClearingState, account: int, params: LiquidationParams) -> bool:
        """Return `below_vault_threshold` of the account's equity and requirement (`account_risk`)."""
        equity, requirement = account_risk(state, np.array([account]))
        return below_vault_threshold(int(equity[0]), int(requirement[0]), params.vault_threshold_ppm)


@dataclass(frozen=True)
class FundMode(BankruptcyMode):
    """`fund`: an IOC at the bankruptcy price; the insurance fund's account takes over the rest at that
    price within its limit (Binance's liquidation clearance, decision 0007); what it has no room for goes to ADL."""

    fund_takes_over: ClassVar[bool] = True

    def adl_applies(
        self, state: ClearingState, account: int, market: int, lots: int, params: LiquidationParams, now_ns: int
    ) -> bool:
        """Return True: what the fund had no room for goes to ADL."""
        return True


EXECUTIONS: dict[Execution, ExecutionPolicy] = {
    Execution.BOOK: BookMode(),
    Execution.BANKRUPTCY: BankruptcyMode(),
    Execution.FILLABLE: FillableMode(),
    Execution.VAULT: VaultMode(),
    Execution.FUND: FundMode(),
}
