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
ROLE_MARKET_MAKER = "market_maker"
ROLE_NOISE_TRADER = "noise_trader"
ROLE_ARBITRAGEUR = "arbitrageur"
ROLE_INSURANCE_FUND = "insurance_fund"
MARGIN_MODES = ("isolated", "cross", "portfolio")
ORDER_TYPES = ("limit", "market", "ioc", "post_only")


class Event(msgspec.Struct, frozen=True, kw_only=True, tag_field="kind"):
    """Fields every event has: when it happened and which events caused it."""

    VERSION: ClassVar[int] = 1
    ts_ns: int
    causes: tuple[int, ...] = ()


class MarketListed(Event, frozen=True, kw_only=True, tag="market_listed"):
    """A perpetual market opened, with the unit conventions every amount on it uses.

    v2 adds `maker_fee_ppm`; v3 the maintenance brackets: `bracket_floors` (notional floors,
    quote minor units, the first 0) and `bracket_rates_ppm` (`maintenance_margin_ppm` is the
    first bracket's rate).
    """

    VERSION: ClassVar[int] = 3
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


class AccountsOpened(Event, frozen=True, kw_only=True, tag="accounts_opened"):
    """Accounts first_account .. first_account+count-1 opened empty, all with one role and margin mode.

    v2 adds `margin_mode` (one of `MARGIN_MODES`): "isolated" accounts hold one market,
    "cross" ones share their collateral across markets, "portfolio" ones are margined on
    the scenario risk of the whole portfolio.
    """

    VERSION: ClassVar[int] = 2
    first_account: int
    count: int
    role: str
    margin_mode: str = "cross"


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


class OracleSourceListed(Event, frozen=True, kw_only=True, tag="oracle_source_listed"):
    """An oracle source (a venue, node or publisher) feeding a market's oracle, with its weight."""

    market: int
    source: int
    name: str
    weight: int


class OracleObserved(Event, frozen=True, kw_only=True, tag="oracle_observed"):
    """Readings of one or more sources, taken at `ts_source_ns`, reached the oracle (at `ts_ns`).

    Sources sampled together (the same interval and delay) arrive in one event: `sources`
    (ascending) and, entry for entry, their `price_ticks`, `confidence_ticks` and
    `status`. The status is the simulator's ground truth about the source ("ok",
    "frozen": repeating a stale value, "dislocated": offset from the reference); the
    oracle cannot see it. v2 (decision 0010): v1 carried one source's reading as scalars.
    """

    VERSION: ClassVar[int] = 2
    market: int
    ts_source_ns: int
    sources: tuple[int, ...]
    price_ticks: tuple[int, ...]
    confidence_ticks: tuple[int, ...]
    status: tuple[str, ...]


class OracleRoundFailed(Event, frozen=True, kw_only=True, tag="oracle_round_failed"):
    """An aggregation round produced no price (too few live sources after the outlier cut)."""

    market: int
    reason: str
    live_sources: int


class OraclePricePublished(Event, frozen=True, kw_only=True, tag="oracle_price_published"):
    """The oracle published an aggregate price; its oldest input was taken at `ts_source_ns`.

    v2 adds `confidence_ticks` and `sources_used`.
    """

    VERSION: ClassVar[int] = 2
    market: int
    price_ticks: int
    confidence_ticks: int
    ts_source_ns: int
    sources_used: int
    reason: str


class OraclePriceDelivered(Event, frozen=True, kw_only=True, tag="oracle_price_delivered"):
    """A published oracle price became visible to the exchange (at `ts_ns`).

    v2 adds `confidence_ticks`.
    """

    VERSION: ClassVar[int] = 2
    market: int
    price_ticks: int
    confidence_ticks: int
    ts_source_ns: int
    ts_published_ns: int


class OracleGuardChecked(Event, frozen=True, kw_only=True, tag="oracle_guard_checked"):
    """A guard decided whether an action may use the oracle price now.

    `action` is "liquidation", "mark" or "pull"; `reason` "ok" or the guard that refused
    ("stale", "confidence", "divergence"); `age_ns` = now - the price's observation time;
    `confidence_ppm` and `divergence_ppm` (|mark - oracle| / oracle) are what was compared.
    """

    market: int
    action: str
    account: int
    allowed: bool
    reason: str
    age_ns: int
    confidence_ppm: int
    divergence_ppm: int


class MarkPriceUpdated(Event, frozen=True, kw_only=True, tag="mark_price_updated"):
    """The mark price that margin and liquidation use changed.

    v2 adds `method` and `index_ticks` (the oracle price the mark was derived from).
    """

    VERSION: ClassVar[int] = 2
    market: int
    price_ticks: int
    index_ticks: int
    method: str


class OrderPlaced(Event, frozen=True, kw_only=True, tag="order_placed"):
    """An order arrived at the matching engine (price 0 for a market order)."""

    order_id: int
    account: int
    market: int
    side: int
    lots: int
    price_ticks: int
    order_type: str
    reduce_only: bool
    liquidation: bool


class OrderRejected(Event, frozen=True, kw_only=True, tag="order_rejected"):
    """An order was refused before matching; nothing changed but the record."""

    order_id: int
    account: int
    market: int
    reason: str


class OrderRested(Event, frozen=True, kw_only=True, tag="order_rested"):
    """The unfilled part of a limit order joined the book at the back of its level."""

    order_id: int
    lots: int


class OrderCancelled(Event, frozen=True, kw_only=True, tag="order_cancelled"):
    """An order (resting or incoming) left the book unfilled for `lots`, for `reason`."""

    order_id: int
    lots: int
    reason: str


class QuotesReplaced(Event, frozen=True, kw_only=True, tag="quotes_replaced"):
    """A market maker cancelled its quotes on a market and posted a new ladder.

    The new orders get ids first_order_id, first_order_id + 1, ... bids first (best
    first), then asks. `reference_ticks` and `volatility_ppm` record the maker's inputs.
    """

    account: int
    market: int
    first_order_id: int
    bids: tuple[tuple[int, int], ...]
    asks: tuple[tuple[int, int], ...]
    reference_ticks: int
    volatility_ppm: int


class TradeExecuted(Event, frozen=True, kw_only=True, tag="trade_executed"):
    """`lots` changed hands from seller to buyer at `price_ticks`; fees go to the fee pool.

    v2 adds the orders: `maker_order` (0 when the backstop took the other side),
    `taker_order` and `taker_side` (+1 buy, -1 sell; 0 in upcast v1 rows).
    """

    VERSION: ClassVar[int] = 2
    market: int
    buyer: int
    seller: int
    lots: int
    price_ticks: int
    buyer_fee: int
    seller_fee: int
    liquidation: bool
    maker_order: int
    taker_order: int
    taker_side: int


class MarginBreached(Event, frozen=True, kw_only=True, tag="margin_breached"):
    """An account's equity fell below its requirement; it enters the liquidation queue.

    `equity`, `requirement` and `liquidation_price_ticks` are audit copies: replay
    recomputes and compares them. v2 adds `liquidation_price_ticks`: the price of `market`
    at which the account reaches its requirement, the others held (`clearing.margin.
    liquidation_price` of its cross backing; 0 for a portfolio account, or none).
    """

    VERSION: ClassVar[int] = 2
    account: int
    market: int
    mark_ticks: int
    equity: int
    requirement: int
    liquidation_price_ticks: int = 0


class PortfolioMarginConfigured(Event, frozen=True, kw_only=True, tag="portfolio_margin_configured"):
    """How portfolio-margined accounts are margined (see `clearing.margin.account_requirements`).

    `method` "span": CME's 16 scenarios over each market's `scan_range_ppm`, the extreme
    moves at `extreme_multiple` ranges counting `extreme_cover_pct` %, and the
    inter-commodity credit; "es": the mean of the `es_tail` worst losses over the last
    `es_window` returns of `es_horizon` samples (`return_window_sampled`).
    """

    method: str
    scan_range_ppm: tuple[int, ...]
    inter_commodity_credit_ppm: int
    extreme_multiple: int
    extreme_cover_pct: int
    es_window: int
    es_horizon: int
    es_tail: int


class ReturnWindowSampled(Event, frozen=True, kw_only=True, tag="return_window_sampled"):
    """Every market's mark, sampled into the rolling window expected-shortfall margin scans."""

    prices_ticks: tuple[int, ...]


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
    `period_ns` (dYdX caps insurance lost per subaccount per block; Drift per market).
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

    `value` = amount at the oracle price less the haircut, rounded down.
    """

    account: int
    asset: int
    amount: int
    value: int
    buyer: int


class PremiumSampled(Event, frozen=True, kw_only=True, tag="premium_sampled"):
    """A funding premium sample: [max(0, impact bid - index) - max(0, index - impact ask)] / index."""

    market: int
    premium_ppb: int
    impact_bid_ticks: int
    impact_ask_ticks: int
    index_ticks: int


class FundingRateSet(Event, frozen=True, kw_only=True, tag="funding_rate_set"):
    """The funding rate of the interval that ends now, from the averaged premium."""

    market: int
    rate_ppb: int
    average_premium_ppb: int
    samples: int
    mark_ticks: int


class FundingPaid(Event, frozen=True, kw_only=True, tag="funding_paid"):
    """Funding moved between accounts (amount > 0 received, < 0 paid) via the clearing ledger.

    One settlement may span several events; the last has `final` set, and after it the
    clearing ledger is exactly zero.
    """

    market: int
    accounts: tuple[int, ...]
    amounts: tuple[int, ...]
    final: bool


class CheckpointRecorded(Event, frozen=True, kw_only=True, tag="checkpoint_recorded"):
    """A digest of the full state after every earlier event, for replay to check.

    v2 adds `digest_version`: replay compares only digests of its own version.
    """

    VERSION: ClassVar[int] = 2
    digest: str
    digest_version: int
    final: bool


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
    return {**payload, "margin_mode": "isolated" if payload["role"] == ROLE_TRADER else "cross"}


def upcast_market_listed_v1_v2(payload: dict[str, Any]) -> dict[str, Any]:
    """v1 markets charged makers nothing."""
    return {**payload, "maker_fee_ppm": 0}


def upcast_market_listed_v2_v3(payload: dict[str, Any]) -> dict[str, Any]:
    """v2 markets had one maintenance rate for every notional."""
    return {**payload, "bracket_floors": [0], "bracket_rates_ppm": [payload["maintenance_margin_ppm"]]}


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


def upcast_checkpoint_recorded_v1_v2(payload: dict[str, Any]) -> dict[str, Any]:
    """v1 digests covered the issue-2 state layout (digest version 1)."""
    return {**payload, "digest_version": 1}


# Upcasters turn an old payload (a dict) into the next version: (kind, from_version) -> fn.
UPCASTERS: dict[tuple[str, int], Callable[[dict[str, Any]], dict[str, Any]]] = {
    ("accounts_opened", 1): upcast_accounts_opened_v1_v2,
    ("market_listed", 1): upcast_market_listed_v1_v2,
    ("market_listed", 2): upcast_market_listed_v2_v3,
    ("oracle_price_published", 1): upcast_oracle_price_published_v1_v2,
    ("oracle_price_delivered", 1): upcast_oracle_price_delivered_v1_v2,
    ("trade_executed", 1): upcast_trade_executed_v1_v2,
    ("mark_price_updated", 1): upcast_mark_price_updated_v1_v2,
    ("checkpoint_recorded", 1): upcast_checkpoint_recorded_v1_v2,
    ("margin_breached", 1): upcast_margin_breached_v1_v2,
    ("oracle_observed", 1): upcast_oracle_observed_v1_v2,
}

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
