"""Event kinds of liquidation and the loss waterfall: cancels, fees, the insurance fund, bad debt, ADL, socialised loss."""

from __future__ import annotations

from clearing.events.base import Event


class LiquidationCancelled(Event, frozen=True, kw_only=True, tag="liquidation_cancelled"):
    """A queued liquidation was dropped because the account was healthy again."""

    account: int
    market: int
    reason: str


class LiquidationFeeCharged(Event, frozen=True, kw_only=True, tag="liquidation_fee_charged"):
    """A liquidation fee moved from the account to the insurance fund."""

    account: int
    amount: int


class InsuranceFundConfigured(Event, frozen=True, kw_only=True, tag="insurance_fund_configured"):
    """The insurance fund's payout caps (quote minor units; 0: no cap).

    At most `max_per_event` per liquidation and `max_per_period` within any window of
    `period_ns` (dYdX caps insurance lost per subaccount per block; Drift per market, as a
    running total rather than a window). Sources: docs/references.md [dydx-v4-liq],
    [drift-v2-socialised-loss].
    """

    max_per_event: int
    max_per_period: int
    period_ns: int


class InsuranceFundPaid(Event, frozen=True, kw_only=True, tag="insurance_fund_paid"):
    """The insurance fund covered part or all of a bankrupt account's shortfall."""

    account: int
    amount: int


class InsuranceFundSwept(Event, frozen=True, kw_only=True, tag="insurance_fund_swept"):
    """The fund's trading account moved its realised balance into the insurance fund.

    `amount` is signed: a gain (> 0) tops the fund up, a loss (< 0) is paid from it. The
    fund's account takes over liquidated positions (execution "fund") and unwinds them.
    """

    account: int
    amount: int


class BadDebtRecorded(Event, frozen=True, kw_only=True, tag="bad_debt_recorded"):
    """A shortfall nobody covered was written off; the account's balance is reset to 0."""

    account: int
    amount: int


class LiquidationCompleted(Event, frozen=True, kw_only=True, tag="liquidation_completed"):
    """A liquidation finished: `lots` closed (signed, as held), `notional` at the fill."""

    account: int
    market: int
    lots: int
    notional: int
    fee: int
    insurance_paid: int
    bad_debt: int


class PositionDeleveraged(Event, frozen=True, kw_only=True, tag="position_deleveraged"):
    """Auto-deleveraging: `lots` of the liquidated account closed against a counterparty at the bankruptcy price.

    Moves like a trade from seller to buyer, without fees; `account` is the liquidated one.
    """

    market: int
    account: int
    buyer: int
    seller: int
    lots: int
    price_ticks: int


class LossSocialised(Event, frozen=True, kw_only=True, tag="loss_socialised"):
    """What the insurance fund could not cover of `account`'s shortfall, charged to open positions.

    Each of `accounts` pays its amount (quote minor units) to `account`; the amounts sum
    to at most the account's shortfall.
    """

    market: int
    account: int
    accounts: tuple[int, ...]
    amounts: tuple[int, ...]
