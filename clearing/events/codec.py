"""The event union, kinds and versions, upcasters of old payloads, and the canonical encoding."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from clearing.events.accounts import (
    AccountsOpened,
    Deposited,
    InsuranceFundDeposited,
    MarketListed,
    StrategyAssigned,
)
from clearing.events.base import Event
from clearing.events.collateral import (
    CollateralDeposited,
    CollateralListed,
    CollateralPriceDelivered,
    CollateralPricePublished,
    CollateralPriceUpdated,
    CollateralSeized,
)
from clearing.events.funding import (
    FundingPaid,
    FundingRateSet,
    PremiumSampled,
)
from clearing.events.instruments import ContractSpecified, MarketSettled, PositionSettled, VolatilitySurfaceUpdated
from clearing.events.liquidation import (
    BadDebtRecorded,
    InsuranceFundConfigured,
    InsuranceFundPaid,
    InsuranceFundSwept,
    LiquidationCancelled,
    LiquidationCompleted,
    LiquidationFeeCharged,
    LossSocialised,
    PositionDeleveraged,
)
from clearing.events.margin import (
    EsMarginConfigured,
    GridMarginConfigured,
    MarginBreached,
    MarginCalled,
    MarginRatesSet,
    MarginToppedUp,
    PortfolioMarginConfigured,
    ReturnWindowSampled,
    SpanMarginConfigured,
)
from clearing.events.orders import (
    OrderCancelled,
    OrderPlaced,
    OrderRejected,
    OrderRested,
    QuotesReplaced,
    TradeExecuted,
)
from clearing.events.prices import (
    CheckpointRecorded,
    IndexPriceUpdated,
    MarkPriceUpdated,
    OracleGuardChecked,
    OracleObserved,
    OraclePriceDelivered,
    OraclePricePublished,
    OracleRoundFailed,
    OracleSourceListed,
)
from clearing.events.traders import StopTriggered, TraderReentered

EVENT_TYPES: tuple[type[Event], ...] = (
    MarketListed,
    AccountsOpened,
    Deposited,
    InsuranceFundDeposited,
    IndexPriceUpdated,
    OracleSourceListed,
    OracleObserved,
    OracleRoundFailed,
    OraclePricePublished,
    OraclePriceDelivered,
    OracleGuardChecked,
    MarkPriceUpdated,
    OrderPlaced,
    OrderRejected,
    OrderRested,
    OrderCancelled,
    QuotesReplaced,
    TradeExecuted,
    MarginBreached,
    PortfolioMarginConfigured,
    ReturnWindowSampled,
    MarginRatesSet,
    GridMarginConfigured,
    SpanMarginConfigured,
    EsMarginConfigured,
    StrategyAssigned,
    MarginCalled,
    MarginToppedUp,
    StopTriggered,
    TraderReentered,
    LiquidationCancelled,
    LiquidationFeeCharged,
    InsuranceFundConfigured,
    InsuranceFundPaid,
    InsuranceFundSwept,
    BadDebtRecorded,
    LiquidationCompleted,
    PositionDeleveraged,
    LossSocialised,
    CollateralListed,
    CollateralDeposited,
    CollateralPriceUpdated,
    CollateralPricePublished,
    CollateralPriceDelivered,
    CollateralSeized,
    PremiumSampled,
    FundingRateSet,
    FundingPaid,
    CheckpointRecorded,
    ContractSpecified,
    MarketSettled,
    PositionSettled,
    VolatilitySurfaceUpdated,
)

AnyEvent = (
    MarketListed
    | AccountsOpened
    | Deposited
    | InsuranceFundDeposited
    | IndexPriceUpdated
    | OracleSourceListed
    | OracleObserved
    | OracleRoundFailed
    | OraclePricePublished
    | OraclePriceDelivered
    | OracleGuardChecked
    | MarkPriceUpdated
    | OrderPlaced
    | OrderRejected
    | OrderRested
    | OrderCancelled
    | QuotesReplaced
    | TradeExecuted
    | MarginBreached
    | PortfolioMarginConfigured
    | ReturnWindowSampled
    | MarginRatesSet
    | GridMarginConfigured
    | SpanMarginConfigured
    | EsMarginConfigured
    | StrategyAssigned
    | MarginCalled
    | MarginToppedUp
    | StopTriggered
    | TraderReentered
    | LiquidationCancelled
    | LiquidationFeeCharged
    | InsuranceFundConfigured
    | InsuranceFundPaid
    | InsuranceFundSwept
    | BadDebtRecorded
    | LiquidationCompleted
    | PositionDeleveraged
    | LossSocialised
    | CollateralListed
    | CollateralDeposited
    | CollateralPriceUpdated
    | CollateralPricePublished
    | CollateralPriceDelivered
    | CollateralSeized
    | PremiumSampled
    | FundingRateSet
    | FundingPaid
    | CheckpointRecorded
    | ContractSpecified
    | MarketSettled
    | PositionSettled
    | VolatilitySurfaceUpdated
)


def kind_of(event_type: type[Event]) -> str:
    """Return the `kind` tag of an event class."""
    tag = msgspec.inspect.type_info(event_type).tag  # type: ignore[attr-defined]
    return str(tag)


KINDS: dict[str, type[Event]] = {kind_of(t): t for t in EVENT_TYPES}
KIND_OF: dict[type[Event], str] = {t: k for k, t in KINDS.items()}
VERSIONS: dict[str, int] = {kind: t.VERSION for kind, t in KINDS.items()}


def upcast_accounts_opened_v1_v2(payload: dict[str, Any]) -> dict[str, Any]:
    """v1 traders each held one isolated position; every other account was cross."""
    return {**payload, "margin_mode": "isolated" if payload["role"] == "trader" else "cross"}


def upcast_market_listed_v1_v2(payload: dict[str, Any]) -> dict[str, Any]:
    """v1 markets charged makers nothing."""
    return {**payload, "maker_fee_ppm": 0}


def upcast_market_listed_v2_v3(payload: dict[str, Any]) -> dict[str, Any]:
    """v2 markets had one maintenance rate for every notional."""
    return {**payload, "bracket_floors": [0], "bracket_rates_ppm": [payload["maintenance_margin_ppm"]]}


def upcast_market_listed_v3_v4(payload: dict[str, Any]) -> dict[str, Any]:
    """v3 markets set no rate by the position's size."""
    return {**payload, "size_premium_ppm": 0, "risk_limit_lots": [0, 0]}


def upcast_oracle_price_published_v1_v2(payload: dict[str, Any]) -> dict[str, Any]:
    """v1 oracles had one source and no confidence."""
    return {**payload, "confidence_ticks": 0, "sources_used": 1}


def upcast_oracle_price_delivered_v1_v2(payload: dict[str, Any]) -> dict[str, Any]:
    """v1 deliveries carried no confidence."""
    return {**payload, "confidence_ticks": 0}


def upcast_trade_executed_v1_v2(payload: dict[str, Any]) -> dict[str, Any]:
    """v1 trades named no orders: maker and taker order 0, taker side 0 (unknown)."""
    return {**payload, "maker_order": 0, "taker_order": 0, "taker_side": 0}


def upcast_mark_price_updated_v1_v2(payload: dict[str, Any]) -> dict[str, Any]:
    """v1 marks were the delivered oracle price itself."""
    return {**payload, "index_ticks": payload["price_ticks"], "method": "oracle"}


def upcast_margin_breached_v1_v2(payload: dict[str, Any]) -> dict[str, Any]:
    """v1 breaches carried no liquidation price (0: none)."""
    return {**payload, "liquidation_price_ticks": 0}


def upcast_oracle_observed_v1_v2(payload: dict[str, Any]) -> dict[str, Any]:
    """v1 carried one source's reading; v2 a batch of them."""
    fields = ("source", "price_ticks", "confidence_ticks", "status")
    rest = {k: v for k, v in payload.items() if k not in fields}
    return {**rest, "sources": [payload["source"]], **{f: [payload[f]] for f in fields[1:]}}


def upcast_quotes_replaced_v1_v2(payload: dict[str, Any]) -> dict[str, Any]:
    """v1 held each side as (price, lots) pairs; v2 as two arrays, the prices as steps."""
    return {**{k: v for k, v in payload.items() if k not in ("bids", "asks")},
            **QuotesReplaced.sides(payload["bids"], payload["asks"])}  # fmt: skip


def upcast_checkpoint_recorded_v1_v2(payload: dict[str, Any]) -> dict[str, Any]:
    """v1 digests covered the issue-2 state layout (digest version 1)."""
    return {**payload, "digest_version": 1}


def upcast_contract_specified_v1_v2(payload: dict[str, Any]) -> dict[str, Any]:
    """v1 contracts all settled in the quote."""
    return {**payload, "settlement_asset": -1}


# Upcasters turn an old payload (a dict) into the next version: (kind, from_version) -> fn.
UPCASTERS: dict[tuple[str, int], Callable[[dict[str, Any]], dict[str, Any]]] = {
    ("accounts_opened", 1): upcast_accounts_opened_v1_v2,
    ("market_listed", 1): upcast_market_listed_v1_v2,
    ("market_listed", 2): upcast_market_listed_v2_v3,
    ("market_listed", 3): upcast_market_listed_v3_v4,
    ("oracle_price_published", 1): upcast_oracle_price_published_v1_v2,
    ("oracle_price_delivered", 1): upcast_oracle_price_delivered_v1_v2,
    ("trade_executed", 1): upcast_trade_executed_v1_v2,
    ("mark_price_updated", 1): upcast_mark_price_updated_v1_v2,
    ("checkpoint_recorded", 1): upcast_checkpoint_recorded_v1_v2,
    ("quotes_replaced", 1): upcast_quotes_replaced_v1_v2,
    ("margin_breached", 1): upcast_margin_breached_v1_v2,
    ("oracle_observed", 1): upcast_oracle_observed_v1_v2,
    ("contract_specified", 1): upcast_contract_specified_v1_v2,
}

ENCODER = msgspec.json.Encoder()
DECODER: msgspec.json.Decoder[Any] = msgspec.json.Decoder(AnyEvent)
_BASE_FIELDS = ("ts_ns", "causes")
# Each kind's own fields (after `ts_ns` and `causes`), in the order its payload array holds them.
PAYLOAD_FIELDS: dict[str, tuple[str, ...]] = {
    kind: tuple(f.name for f in msgspec.structs.fields(t) if f.name not in _BASE_FIELDS) for kind, t in KINDS.items()
}


def encode(event: Event) -> bytes:
    """Return the canonical bytes of an event: a compact JSON array, `[kind, ts_ns, causes, *fields]` in declared order."""
    return ENCODER.encode(event)


def encode_object(event: Event) -> bytes:
    """Return an event as a JSON object, `kind` first, then its fields in declared order: the canonical bytes of
    log layouts before 7, and what the state digest hashes of the events it holds (so digests did not change)."""
    return ENCODER.encode({"kind": KIND_OF[type(event)], **msgspec.structs.asdict(event)})


def _upcast(data: dict[str, Any], kind: str, version: int) -> Event:
    current = VERSIONS[kind]
    for step in range(version, current):
        data = UPCASTERS[(kind, step)](data)
    cls = KINDS[kind]
    missing = msgspec.NODEFAULT
    values = [data.get(f.name, missing) if f.default is missing and f.default_factory is missing
              else data.get(f.name, f.default if f.default is not missing else f.default_factory())
              for f in msgspec.structs.fields(cls)]  # fmt: skip
    if missing in values:
        absent = [f.name for f, v in zip(msgspec.structs.fields(cls), values, strict=True) if v is missing]
        raise msgspec.ValidationError(f"Object missing required field(s) {', '.join(absent)}")
    return msgspec.convert([kind, *values], AnyEvent)  # type: ignore[no-any-return]


def _check_version(kind: str, version: int) -> int:
    current = VERSIONS.get(kind)
    if current is None:
        raise ValueError(f"unknown event kind {kind!r}")
    if version > current:
        raise ValueError(f"{kind} version {version} is newer than this clearing reads ({current})")
    return current


def decode(payload: bytes | str, kind: str, version: int, fields: tuple[str, ...] | None = None) -> Event:
    """Decode an event's canonical bytes (`encode`), upcasting them first when an older version wrote them.

    `fields`: the kind's own fields as that version declared them (a log records them, table
    `kinds`), needed to name an older version's array before its upcasters run.

    Raises:
        msgspec.ValidationError: the payload does not match its kind's schema.
        ValueError: the kind is unknown, its version is newer than this code, or an older version's fields are unknown.
    """
    if _check_version(kind, version) == version:
        return DECODER.decode(payload)  # type: ignore[no-any-return]
    if fields is None:
        raise ValueError(f"{kind} v{version}: the fields of that version are needed to read it")
    values = msgspec.json.decode(payload)
    names = ("kind", *_BASE_FIELDS, *fields)
    if not isinstance(values, list) or len(values) != len(names):
        raise msgspec.ValidationError(f"Expected an array of {len(names)} values for {kind} v{version}")
    return _upcast(dict(zip(names[1:], values[1:], strict=True)), kind, version)


def decode_object(payload: bytes | str, kind: str, version: int) -> Event:
    """Decode a payload of a log before layout 7 (a JSON object, `encode_object`), upcasting it first if it is old.

    Raises:
        msgspec.ValidationError: the payload does not match its kind's schema.
        ValueError: the kind is unknown or its version is newer than this code.
    """
    _check_version(kind, version)
    data = msgspec.json.decode(payload)
    if not isinstance(data, dict) or data.get("kind") != kind:
        raise msgspec.ValidationError(f"Expected an object of kind {kind!r}")
    return _upcast({k: v for k, v in data.items() if k != "kind"}, kind, version)


def to_builtins(event: Event) -> dict[str, Any]:
    """Return the event as a plain dict, `kind` first, then its fields by name."""
    return msgspec.json.decode(encode_object(event))  # type: ignore[no-any-return]
