"""Event kinds of accounts, markets and deposits: what a run opens at its start."""

from __future__ import annotations

from typing import ClassVar

from clearing.events.base import Event


class MarketListed(Event, frozen=True, kw_only=True, tag="market_listed"):
    """A perpetual market opened, with the unit conventions every amount on it uses.

    v2 adds `maker_fee_ppm`; v3 the maintenance brackets: `bracket_floors` (notional floors,
    quote minor units, the first 0) and `bracket_rates_ppm` (`maintenance_margin_ppm` is the
    first bracket's rate); v4 the rules that set the rate by the position's size (one
    bracket): `size_premium_ppm` (Drift's size premium, ppm per square-root lot) and
    `risk_limit_lots` (BitMEX's base risk limit and step, lots; a step of 0: none).
    """

    VERSION: ClassVar[int] = 4
    market: int
    symbol: str
    tick_size: str
    lot_size: str
    quote_decimals: int
    unit_value: int
    maintenance_margin_ppm: int
    liquidation_fee_ppm: int
    taker_fee_ppm: int
    maker_fee_ppm: int
    bracket_floors: tuple[int, ...]
    bracket_rates_ppm: tuple[int, ...]
    size_premium_ppm: int
    risk_limit_lots: tuple[int, int]


class AccountsOpened(Event, frozen=True, kw_only=True, tag="accounts_opened"):
    """Accounts first_account .. first_account+count-1 opened empty, all with one role and margin mode.

    v2 adds `margin_mode` ("isolated", "cross" or "portfolio"): "isolated" accounts hold one market,
    "cross" ones share their collateral across markets, "portfolio" ones are margined on
    the scenario risk of the whole portfolio.
    """

    VERSION: ClassVar[int] = 2
    first_account: int
    count: int
    role: str
    margin_mode: str = "cross"


class StrategyAssigned(Event, frozen=True, kw_only=True, tag="strategy_assigned"):
    """The traders of portfolio type `strategy` (`population.strategies`, named `name`) hold `accounts` (ascending).

    Written at time 0, one per type, when the population has types, so a reader of the log
    (the summary, SQL) can group accounts by type; an isolated trader's every leg account is
    listed.
    """

    strategy: int
    name: str
    accounts: tuple[int, ...]


class Deposited(Event, frozen=True, kw_only=True, tag="deposited"):
    """Collateral came into an account from outside the exchange."""

    account: int
    amount: int


class InsuranceFundDeposited(Event, frozen=True, kw_only=True, tag="insurance_fund_deposited"):
    """Money came into the insurance fund from outside the exchange."""

    amount: int
