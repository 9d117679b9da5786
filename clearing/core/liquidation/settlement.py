"""Settling a closed account: collateral seized, the liquidation fee, the fund's payout, bad debt, socialised loss.

Once every position of a liquidated account is closed: a negative balance of an asset (an
inverse perpetual's loss beyond the coin it held) is bought from the backstop at the oracle
price (`debt_repayments`); then if its quote cash is negative its
collateral assets go to the backstop at the oracle price less the haircut
(`collateral_seizures`); a positive balance then pays the liquidation fee to the insurance
fund, a negative one is covered by the fund as far as it can under its caps, and the rest
is bad debt (`settlement`), which with `after_fund = "socialise"` is charged to the closed
markets' other open positions instead (`socialisation`, Drift). Pure: reads a
`ClearingState`, changes nothing. Sources: docs/references.md [bitmex-liquidation],
[binance-clearance-fee], [dydx-v4-liq], [drift-v2-socialised-loss].
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from clearing.core.liquidation.pricing import Settlement, settle
from clearing.core.liquidation.waterfall import socialised_amounts
from clearing.core.margin import collateral_value
from clearing.core.state import ClearingState
from clearing.core.valuation import value_at
from clearing.units import PPM, mul_div_ceil


class Closed(NamedTuple):
    """A market a liquidation closed, and the notional it closed there (quote minor units)."""

    market: int
    notional: int


class Seizure(NamedTuple):
    """Collateral seized: the asset, the amount (asset minor units) and its value (quote minor units)."""

    asset: int
    amount: int
    value: int


class Charge(NamedTuple):
    """A socialised loss on one market: who is charged (ascending) and how much each (quote minor units)."""

    market: int
    accounts: tuple[int, ...]
    amounts: tuple[int, ...]


def debt_repayments(state: ClearingState, account: int) -> list[Seizure]:
    """Return every asset the account owes (a negative balance: an inverse perpetual's loss), in asset order.

    The buyer delivers the debt and the account pays its value: amount = the (negative)
    balance, value = -ceil(|amount| x oracle price / 10^decimals), rounded up against the
    account (the settlement asset has no haircut). Binance converts a negative asset
    balance this way (its auto-exchange). Source: docs/references.md [binance-auto-exchange].
    """
    out = []
    for asset in range(len(state.assets)):
        amount = state.collateral.item(account, asset)
        if amount < 0:
            price, decimals = int(state.asset_oracle_ticks[asset]), int(state.asset_decimals[asset])
            out.append(Seizure(asset, amount, -int(mul_div_ceil(-amount, price, 10**decimals))))
    return out


def collateral_seizures(state: ClearingState, account: int) -> list[Seizure]:
    """Return every collateral asset the account holds, in asset order, with its value to the buyer.

    value = `collateral_value` of the amount: floor(floor(amount x oracle price /
    10^decimals) x (10^6 - haircut) / 10^6), rounded down twice, against the account.
    """
    out = []
    for asset in range(len(state.assets)):
        amount = state.collateral.item(account, asset)
        if amount > 0:
            one = state.collateral[account : account + 1, asset : asset + 1]
            value = collateral_value(
                one, state.asset_oracle_ticks[asset : asset + 1], state.asset_decimals[asset : asset + 1],
                state.asset_haircut_ppm[asset : asset + 1],
            )  # fmt: skip
            out.append(Seizure(asset, amount, int(value[0])))
    return out


def liquidation_fee_due(state: ClearingState, closed: Sequence[Closed]) -> int:
    """Return sum over the closed markets of ceil(notional x the market's `liquidation_fee_ppm` / 10^6).

    Each market's rate on its closed notional, rounded up per market (against the account).
    """
    return sum(int(mul_div_ceil(value, state.markets[m].liquidation_fee_ppm, PPM)) for m, value in closed)


def settlement(state: ClearingState, account: int, closed: Sequence[Closed], now_ns: int) -> Settlement:
    """Return how the account's balance (its quote cash, every position closed) is settled.

    `pricing.settle` of the balance with the fee `liquidation_fee_due`: a positive balance
    pays min(fee, balance) to the fund; a negative one is paid by the fund up to
    min(fund, -balance, what its caps allow now: `ClearingState.fund_payable`), the rest is
    bad debt.
    """
    return settle(state.cash.item(account), liquidation_fee_due(state, closed), PPM, state.insurance_fund,
                  state.fund_payable(now_ns))  # fmt: skip


def socialisation(state: ClearingState, account: int, closed: Sequence[Closed], loss: int) -> list[Charge]:
    """Return the charges that cover `loss` on the closed markets' other open positions.

    Several markets share the loss by their closed notional (`socialised_amounts` of
    max(notional, 0)); each market's share is charged to every other open position of it,
    both sides and the backstop's included (decision 0005), in proportion to |position| x
    mark (`socialised_amounts`: the charges sum to exactly the share). A market with no
    other open position, or a share of 0, has no charge, and its share stays bad debt.
    """
    shares = socialised_amounts(loss, [max(value, 0) for _m, value in closed]) if len(closed) > 1 else [loss]
    charges = []
    for (market, _value), share in zip(closed, shares, strict=True):
        if not share:
            continue
        column = state.position[:, market]
        holders = np.flatnonzero(column)
        holders = holders[holders != account]
        if holders.size == 0:
            continue
        notionals = np.abs(value_at(state, market, column[holders], int(state.mark_ticks[market]))).tolist()
        charges.append(Charge(market, tuple(holders.tolist()), tuple(socialised_amounts(share, notionals))))
    return charges
