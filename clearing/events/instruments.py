"""Events of instruments other than linear perpetuals: their contract terms and their settlement at expiry."""

from __future__ import annotations

from typing import ClassVar

from clearing.events.base import Event


class ContractSpecified(Event, frozen=True, kw_only=True, tag="contract_specified"):
    """The contract of market `market` is not a linear perpetual: its kind, expiry, option terms, settlement asset.

    Emitted right after the market's `market_listed`; a market with none is a linear
    perpetual (so logs of perpetual-only runs are unchanged). `instrument` is "future" (a
    dated future, quote-settled, no funding), "option" (a European option, cash-settled in
    quote, its premium paid in full at the trade) or "inverse_perpetual" (coin-margined:
    its `unit_value` is the contract's value in quote minor units, its PnL, fees and
    funding move in collateral asset `settlement_asset`; `clearing.core.inverse`).
    `expiry_ns` is the expiry (ns since the scenario start; 0 for a perpetual);
    `settlement_window_ns` the averaging window before it (30 minutes at Deribit and
    Binance); `underlying` the market whose index settles it (itself for a future or a
    perpetual); for an option `option_type` ("call" or "put") and `strike` (a decimal string
    in quote units, like `tick_size`). v2 adds `settlement_asset` (-1: the quote).
    Source: docs/references.md [deribit-futures], [binance-delivery], [bitmex-inverse].
    """

    VERSION: ClassVar[int] = 2
    market: int
    instrument: str
    expiry_ns: int
    settlement_window_ns: int
    underlying: int
    option_type: str = ""
    strike: str = ""
    settlement_asset: int = -1


class MarketSettled(Event, frozen=True, kw_only=True, tag="market_settled"):
    """Market `market` expired: every open position closes at `price_ticks` (its own ticks).

    `underlying_ticks` is the settlement price of the underlying (the average of its index
    over the settlement window, in the underlying's ticks, from `samples` one-second
    samples); for a future `price_ticks` is that price, for an option its intrinsic value
    rounded down to the option's tick. The market takes no orders after it; a
    `position_settled` per open position follows.
    """

    VERSION: ClassVar[int] = 1
    market: int
    price_ticks: int
    underlying_ticks: int
    samples: int


class PositionSettled(Event, frozen=True, kw_only=True, tag="position_settled"):
    """Account `account`'s position of `lots` (signed) in an expired market closed at its settlement price.

    `amount` = lots x price_ticks x unit_value (quote minor units, signed) is credited to the
    account against the settlement ledger, which is zero again once every position settled.
    """

    VERSION: ClassVar[int] = 1
    market: int
    account: int
    lots: int
    price_ticks: int
    amount: int


class VolatilitySurfaceUpdated(Event, frozen=True, kw_only=True, tag="volatility_surface_updated"):
    """The implied-volatility surface of underlying market `underlying` changed; options on it are priced on it.

    A grid of expiries x log-moneyness k = ln(K / F), in integers: `expiries_ns` (ns since the
    scenario start, strictly increasing, all after the event), `log_moneyness_ppm` (k x 10^6,
    strictly increasing), `vol_ppm` (implied vol x 10^6, one row per expiry, every value > 0).
    Interpolation: `clearing.core.options.surface.implied_vol`. `source` says what drove it
    ("synthetic" or the data file's name).
    """

    VERSION: ClassVar[int] = 1
    underlying: int
    expiries_ns: tuple[int, ...]
    log_moneyness_ppm: tuple[int, ...]
    vol_ppm: tuple[tuple[int, ...], ...]
    source: str
