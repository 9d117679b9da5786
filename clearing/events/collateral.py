"""Event kinds of collateral assets: listing, deposits, venue and oracle prices, seizures."""

from __future__ import annotations

from clearing.events.base import Event


class CollateralListed(Event, frozen=True, kw_only=True, tag="collateral_listed"):
    """A collateral asset accounts can deposit; its value counts at the oracle price less the haircut.

    Amounts of it are in minor units of 10^-decimals; its prices are quote minor units per
    whole unit of the asset.
    """

    asset: int
    symbol: str
    decimals: int
    haircut_ppm: int


class CollateralDeposited(Event, frozen=True, kw_only=True, tag="collateral_deposited"):
    """An amount of a collateral asset came into an account from outside."""

    account: int
    asset: int
    amount: int


class CollateralPriceUpdated(Event, frozen=True, kw_only=True, tag="collateral_price_updated"):
    """The collateral asset's price on the venue its oracle watches moved (exogenous)."""

    asset: int
    price_ticks: int


class CollateralPricePublished(Event, frozen=True, kw_only=True, tag="collateral_price_published"):
    """The collateral asset's oracle published the venue price it read at `ts_source_ns`."""

    asset: int
    price_ticks: int
    ts_source_ns: int
    reason: str


class CollateralPriceDelivered(Event, frozen=True, kw_only=True, tag="collateral_price_delivered"):
    """A published collateral price became the one margin uses (at `ts_ns`)."""

    asset: int
    price_ticks: int
    ts_source_ns: int
    ts_published_ns: int


class CollateralSeized(Event, frozen=True, kw_only=True, tag="collateral_seized"):
    """A liquidated account's collateral went to the buyer for `value` quote minor units.

    `value` = amount at the oracle price less the haircut, rounded down. A negative `amount`
    repays a debt in the asset (an inverse perpetual's loss beyond the account's coin): the
    buyer delivers -amount and the account pays -value = the amount at the oracle price,
    rounded up.
    """

    account: int
    asset: int
    amount: int
    value: int
    buyer: int
