"""Event kinds: the only way anything happens in a run.

Each kind is a frozen msgspec Struct tagged on `kind`, named in the past tense, with a
`VERSION`. Payload amounts are integers: prices in ticks, sizes in lots, money in quote
minor units, time in nanoseconds since the scenario start. Every event carries `causes`,
the sequence numbers of the events that led to it. A kind is never renamed: a changed
payload gets a new version and an upcaster from the old one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import msgspec

ROLE_TRADER = "trader"
ROLE_LIQUIDITY_PROVIDER = "liquidity_provider"


class Event(msgspec.Struct, frozen=True, kw_only=True, tag_field="kind"):
    """Fields every event has: when it happened and which events caused it."""

    VERSION: ClassVar[int] = 1
    ts_ns: int
    causes: tuple[int, ...] = ()


class MarketListed(Event, frozen=True, kw_only=True, tag="market_listed"):
    """A perpetual market opened, with the unit conventions every amount on it uses."""

    market: int
    symbol: str
    tick_size: str
    lot_size: str
    quote_decimals: int
    unit_value: int
    maintenance_margin_ppm: int
    liquidation_fee_ppm: int
    taker_fee_ppm: int


class AccountsOpened(Event, frozen=True, kw_only=True, tag="accounts_opened"):
    """Accounts first_account .. first_account+count-1 opened empty, all with one role."""

    first_account: int
    count: int
    role: str


class Deposited(Event, frozen=True, kw_only=True, tag="deposited"):
    """Collateral came into an account from outside the exchange."""

    account: int
    amount: int


class InsuranceFundDeposited(Event, frozen=True, kw_only=True, tag="insurance_fund_deposited"):
    """Money came into the insurance fund from outside the exchange."""

    amount: int


class IndexPriceUpdated(Event, frozen=True, kw_only=True, tag="index_price_updated"):
    """The exogenous (external index) price of a market moved."""

    market: int
    price_ticks: int


class OraclePricePublished(Event, frozen=True, kw_only=True, tag="oracle_price_published"):
    """The oracle published a price it observed at `ts_source_ns`."""

    market: int
    price_ticks: int
    ts_source_ns: int
    reason: str


class OraclePriceDelivered(Event, frozen=True, kw_only=True, tag="oracle_price_delivered"):
    """A published oracle price became visible to the exchange (at `ts_ns`)."""

    market: int
    price_ticks: int
    ts_source_ns: int
    ts_published_ns: int


class MarkPriceUpdated(Event, frozen=True, kw_only=True, tag="mark_price_updated"):
    """The mark price that margin and liquidation use changed."""

    market: int
    price_ticks: int


class TradeExecuted(Event, frozen=True, kw_only=True, tag="trade_executed"):
    """`lots` changed hands from seller to buyer at `price_ticks`; fees go to the fee pool."""

    market: int
    buyer: int
    seller: int
    lots: int
    price_ticks: int
    buyer_fee: int
    seller_fee: int
    liquidation: bool


class MarginBreached(Event, frozen=True, kw_only=True, tag="margin_breached"):
    """An account's equity fell below maintenance margin; it enters the liquidation queue.

    `equity` and `requirement` are audit copies: replay recomputes and compares them.
    """

    account: int
    market: int
    mark_ticks: int
    equity: int
    requirement: int


class LiquidationCancelled(Event, frozen=True, kw_only=True, tag="liquidation_cancelled"):
    """A queued liquidation was dropped because the account was healthy again."""

    account: int
    market: int
    reason: str


class LiquidationFeeCharged(Event, frozen=True, kw_only=True, tag="liquidation_fee_charged"):
    """A liquidation fee moved from the account to the insurance fund."""

    account: int
    amount: int


class InsuranceFundPaid(Event, frozen=True, kw_only=True, tag="insurance_fund_paid"):
    """The insurance fund covered part or all of a bankrupt account's shortfall."""

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


class CheckpointRecorded(Event, frozen=True, kw_only=True, tag="checkpoint_recorded"):
    """A digest of the full state after every earlier event, for replay to check."""

    digest: str
    final: bool


EVENT_TYPES: tuple[type[Event], ...] = (
    MarketListed,
    AccountsOpened,
    Deposited,
    InsuranceFundDeposited,
    IndexPriceUpdated,
    OraclePricePublished,
    OraclePriceDelivered,
    MarkPriceUpdated,
    TradeExecuted,
    MarginBreached,
    LiquidationCancelled,
    LiquidationFeeCharged,
    InsuranceFundPaid,
    BadDebtRecorded,
    LiquidationCompleted,
    CheckpointRecorded,
)

AnyEvent = (
    MarketListed
    | AccountsOpened
    | Deposited
    | InsuranceFundDeposited
    | IndexPriceUpdated
    | OraclePricePublished
    | OraclePriceDelivered
    | MarkPriceUpdated
    | TradeExecuted
    | MarginBreached
    | LiquidationCancelled
    | LiquidationFeeCharged
    | InsuranceFundPaid
    | BadDebtRecorded
    | LiquidationCompleted
    | CheckpointRecorded
)


def kind_of(event_type: type[Event]) -> str:
    """Return the `kind` tag of an event class."""
    tag = msgspec.inspect.type_info(event_type).tag  # type: ignore[attr-defined]
    return str(tag)


KINDS: dict[str, type[Event]] = {kind_of(t): t for t in EVENT_TYPES}
KIND_OF: dict[type[Event], str] = {t: k for k, t in KINDS.items()}
VERSIONS: dict[str, int] = {kind: t.VERSION for kind, t in KINDS.items()}

# Upcasters turn an old payload (a dict) into the next version: (kind, from_version) -> fn.
# None yet: every kind is at version 1.
UPCASTERS: dict[tuple[str, int], Callable[[dict[str, Any]], dict[str, Any]]] = {}

ENCODER = msgspec.json.Encoder()
DECODER: msgspec.json.Decoder[Any] = msgspec.json.Decoder(AnyEvent)


def encode(event: Event) -> bytes:
    """Return the canonical bytes of an event (compact JSON, fields in declared order)."""
    return ENCODER.encode(event)


def decode(payload: bytes | str, kind: str, version: int) -> Event:
    """Decode a stored payload, upcasting it first when it was written by an older version.

    Raises:
        msgspec.ValidationError: the payload does not match its kind's schema.
        ValueError: the kind is unknown or its version is newer than this code.
    """
    current = VERSIONS.get(kind)
    if current is None:
        raise ValueError(f"unknown event kind {kind!r}")
    if version == current:
        return DECODER.decode(payload)  # type: ignore[no-any-return]
    if version > current:
        raise ValueError(f"{kind} version {version} is newer than this clearing reads ({current})")
    data: dict[str, Any] = msgspec.json.decode(payload)
    for step in range(version, current):
        data = UPCASTERS[(kind, step)](data)
    return msgspec.convert(data, AnyEvent)  # type: ignore[no-any-return]


def to_builtins(event: Event) -> dict[str, Any]:
    """Return the event as a plain dict, `kind` first."""
    return msgspec.to_builtins(event)  # type: ignore[no-any-return]
