"""The state's schema: account roles, margin modes, the arrays it holds and their records.

Defined once, here: the reducers, the digest, the shell and the studies all read these
names. Codes are what the state's int8 columns hold and are part of the state digest:
never renumber them. Events carry roles and margin modes by their labels ("trader",
"isolated"), which `Role.of` and `MarginMode.of` turn into codes.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum
from typing import NamedTuple

from clearing import events as ev

# Bump when the digest covers different state; checkpoints of another version are not compared.
DIGEST_VERSION = 5


class Role(IntEnum):
    """Who holds an account (the `role` column)."""

    TRADER = 0
    LIQUIDITY_PROVIDER = 1  # the backstop: takes over what the book does not fill
    MARKET_MAKER = 2
    NOISE_TRADER = 3
    ARBITRAGEUR = 4
    INSURANCE_FUND = 5  # the fund's trading account (execution "fund")

    @property
    def label(self) -> str:
        """Return the role as events spell it ("trader", "liquidity_provider", ...)."""
        return self.name.lower()

    @classmethod
    def of(cls, label: str) -> Role:
        """Return the role an event's label names.

        Raises:
            KeyError: no such role.
        """
        return cls[label.upper()]


class MarginMode(IntEnum):
    """How an account is margined (the `margin_mode` column)."""

    ISOLATED = 0  # one market per account: a subaccount per position (decision 0006)
    CROSS = 1  # one pool over every market, each position at its bracket
    PORTFOLIO = 2  # one requirement over the whole account (SPAN or expected shortfall)

    @property
    def label(self) -> str:
        """Return the mode as events and scenarios spell it ("isolated", "cross", "portfolio")."""
        return self.name.lower()

    @classmethod
    def of(cls, label: str) -> MarginMode:
        """Return the mode an event's label names.

        Raises:
            KeyError: no such mode.
        """
        return cls[label.upper()]


class Instrument(StrEnum):
    """What a market trades (`contract_specified.instrument`; a market without one is a linear perpetual)."""

    LINEAR_PERPETUAL = "linear_perpetual"
    FUTURE = "future"  # dated, quote-settled at expiry, no funding
    OPTION = "option"  # European, cash-settled in quote at expiry, premium paid in full
    INVERSE_PERPETUAL = "inverse_perpetual"  # coin-margined: PnL, fees and funding in its settlement asset


DATED = frozenset({Instrument.FUTURE, Instrument.OPTION})  # instruments with an expiry
OPTION_TYPES = ("call", "put")

ROLE_LABELS = frozenset(r.label for r in Role)
MODE_LABELS = frozenset(m.label for m in MarginMode)
ORDER_TYPES = ("limit", "market", "ioc", "post_only")
PORTFOLIO_METHODS = ("span", "es", "grid")

TOUCHED_ALL = -1  # in `state.touched`: a collateral price moved, every row's backing may differ

# Per-market arrays (M,), int64, zero until set.
MARKET_ARRAYS = (
    "index_ticks", "oracle_ticks", "oracle_source_ns", "published_ticks", "published_ns", "mark_ticks",
    "last_trade_ticks", "funding_rate_ppb", "premium_weighted_sum", "premium_weight", "premium_samples",
    "oracle_confidence_ticks", "oracle_published_ns", "published_source_ns", "published_confidence_ticks",
)  # fmt: skip
# Per-asset arrays (A,), int64, zero until set.
ASSET_ARRAYS = (
    "asset_decimals", "asset_haircut_ppm", "asset_deposits", "asset_venue_ticks", "asset_oracle_ticks",
    "asset_oracle_source_ns", "asset_published_ticks", "asset_published_ns",
)  # fmt: skip
# Every array and scalar the digest covers, in digest order.
ARRAY_FIELDS = (
    "unit_value", "maintenance_margin_ppm", *MARKET_ARRAYS, "role", "margin_mode", "cash", "position", "entry_cost",
    "liquidating", "breach_ns", "last_partial_ns", *ASSET_ARRAYS, "collateral",
)  # fmt: skip
SCALAR_FIELDS = (
    "deposits", "insurance_fund", "insurance_fund_min", "fee_pool", "funding_clearing", "funding_volume",
    "bad_debt", "insurance_paid", "breaches", "liquidations", "liquidated_notional", "rejections",
    "liquidation_fills_book", "liquidated_notional_book", "liquidation_fills_backstop", "liquidated_notional_backstop",
    "liquidation_fills_fund", "liquidated_notional_fund", "fund_swept",
    "oracle_lagged_liquidations", "oracle_lag_sum_ns", "oracle_lag_max_ns",
    "adl_events", "adl_notional", "socialised_loss", "socialisations", "backlog", "max_backlog", "max_queue_wait_ns",
    "fund_max_per_event", "fund_max_per_period", "fund_period_ns",
    "oracle_failures", "guard_blocks",
    "next_order_id", "events_applied", "now_ns",
)  # fmt: skip


class InverseTerms(NamedTuple):
    """An inverse perpetual's settlement asset and k: a lot at p ticks is worth k / p of the asset's minor units."""

    asset: int
    k: int


class IncomingOrder:
    """An order being matched: `lots` is what is still unfilled."""

    __slots__ = ("account", "liquidation", "lots", "market", "order_type", "price", "reduce_only", "side")

    def __init__(self, e: ev.OrderPlaced) -> None:
        self.account = e.account
        self.market = e.market
        self.side = e.side
        self.price = e.price_ticks
        self.lots = e.lots
        self.order_type = e.order_type
        self.reduce_only = e.reduce_only
        self.liquidation = e.liquidation

    def canonical(self) -> tuple[int, int, int, int, int, str, bool, bool]:
        """Return the order's fields in a fixed order, for the state digest."""
        return (self.account, self.market, self.side, self.price, self.lots, self.order_type, self.reduce_only, self.liquidation)


class Observation:
    """A source's latest reading as the oracle holds it."""

    __slots__ = ("arrived_ns", "confidence", "price", "source_ns", "status")

    def __init__(self, price: int, confidence: int, source_ns: int, arrived_ns: int, status: str) -> None:
        self.price = price
        self.confidence = confidence
        self.source_ns = source_ns
        self.arrived_ns = arrived_ns
        self.status = status

    def canonical(self) -> tuple[int, int, int, int, str]:
        """Return the fields in a fixed order, for the state digest."""
        return (self.price, self.confidence, self.source_ns, self.arrived_ns, self.status)
