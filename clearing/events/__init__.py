"""Event kinds: the only way anything happens in a run.

Each kind is a frozen msgspec Struct tagged on `kind`, named in the past tense, with a
`VERSION`. Payload amounts are integers: prices in ticks, sizes in lots, money in quote
minor units, time in nanoseconds since the scenario start. Every event carries `causes`,
the sequence numbers of the events that led to it. A kind is never renamed: a changed
payload gets a new version and an upcaster from the old one.
"""

from clearing.events.accounts import AccountsOpened, Deposited, InsuranceFundDeposited, MarketListed, StrategyAssigned
from clearing.events.base import Event
from clearing.events.codec import (
    DECODER,
    ENCODER,
    EVENT_TYPES,
    KIND_OF,
    KINDS,
    UPCASTERS,
    VERSIONS,
    AnyEvent,
    decode,
    encode,
    kind_of,
    to_builtins,
)
from clearing.events.collateral import (
    CollateralDeposited,
    CollateralListed,
    CollateralPriceDelivered,
    CollateralPricePublished,
    CollateralPriceUpdated,
    CollateralSeized,
)
from clearing.events.funding import FundingPaid, FundingRateSet, PremiumSampled
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
from clearing.events.orders import OrderCancelled, OrderPlaced, OrderRejected, OrderRested, QuotesReplaced, TradeExecuted
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

__all__ = [
    "DECODER",
    "ENCODER",
    "EVENT_TYPES",
    "KINDS",
    "KIND_OF",
    "UPCASTERS",
    "VERSIONS",
    "AccountsOpened",
    "AnyEvent",
    "BadDebtRecorded",
    "CheckpointRecorded",
    "CollateralDeposited",
    "CollateralListed",
    "CollateralPriceDelivered",
    "CollateralPricePublished",
    "CollateralPriceUpdated",
    "CollateralSeized",
    "ContractSpecified",
    "Deposited",
    "EsMarginConfigured",
    "Event",
    "FundingPaid",
    "FundingRateSet",
    "GridMarginConfigured",
    "IndexPriceUpdated",
    "InsuranceFundConfigured",
    "InsuranceFundDeposited",
    "InsuranceFundPaid",
    "InsuranceFundSwept",
    "LiquidationCancelled",
    "LiquidationCompleted",
    "LiquidationFeeCharged",
    "LossSocialised",
    "MarginBreached",
    "MarginCalled",
    "MarginRatesSet",
    "MarginToppedUp",
    "MarkPriceUpdated",
    "MarketListed",
    "MarketSettled",
    "OracleGuardChecked",
    "OracleObserved",
    "OraclePriceDelivered",
    "OraclePricePublished",
    "OracleRoundFailed",
    "OracleSourceListed",
    "OrderCancelled",
    "OrderPlaced",
    "OrderRejected",
    "OrderRested",
    "PortfolioMarginConfigured",
    "PositionDeleveraged",
    "PositionSettled",
    "PremiumSampled",
    "QuotesReplaced",
    "ReturnWindowSampled",
    "SpanMarginConfigured",
    "StopTriggered",
    "StrategyAssigned",
    "TradeExecuted",
    "TraderReentered",
    "VolatilitySurfaceUpdated",
    "decode",
    "encode",
    "kind_of",
    "to_builtins",
]
