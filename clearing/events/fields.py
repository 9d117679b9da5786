"""What each integer field of an event means: money, a price, a size, a time, or a value kept as stored.

The log's SQL views (`clearing.log.schema`) and the DataFrames (`clearing.apps.frames`) turn
the payloads' integers into decimals and times by these sets; a test fails when a new field
is in none of them.
"""

from __future__ import annotations

# Money fields, in quote minor units unless `SETTLED` or `IN_ASSET` says otherwise.
MONEY = frozenset({
    "amount", "bad_debt", "buyer_fee", "seller_fee", "equity", "fee", "initial", "insurance_paid", "notional",
    "requirement", "max_per_event", "max_per_period", "value", "open_interest",
    "balance", "received", "paid",  # the analysis views' (`clearing.log.schema.ANALYSIS_VIEWS`)
})  # fmt: skip
# (kind, field): money in the market's settlement asset (its coin on an inverse market, decision 0017).
SETTLED = frozenset({("trade_executed", "buyer_fee"), ("trade_executed", "seller_fee"), ("position_settled", "amount")})
# (kind, field): an amount of the row's collateral asset, at the asset's decimals.
IN_ASSET = frozenset({("collateral_deposited", "amount"), ("collateral_seized", "amount")})
# Instants other than the event's own `ts_ns` (ns since the run's epoch), and the name of their UTC column.
INSTANTS = {"ts_source_ns": "source_utc", "ts_published_ns": "published_utc", "expiry_ns": "expiry_utc",
            "ts_visible_ns": "time_utc"}  # fmt: skip
DURATIONS = frozenset({"lag_ns", "delay_ns", "age_ns", "period_ns", "settlement_window_ns", "time_step_ns",
                       "oracle_age_ns", "oracle_delivery_ns"})  # fmt: skip
# (kind, field): a side of a quote ladder as price steps in ticks (the best price, then each level's distance from the
# one before), and the view column of the prices they make with the direction of the steps (-1: down, for bids).
STEPPED = {("quotes_replaced", "bid_price_steps"): ("bid_prices", -1), ("quotes_replaced", "ask_price_steps"): ("ask_prices", 1)}
BOOLEANS = frozenset({"liquidation", "reduce_only", "allowed", "final"})
# Integer fields kept as stored: ids, counts, enumerations (and every `*_ppm` / `*_ppb` rate, by its name).
AS_STORED = frozenset({
    "account", "market", "asset", "order_id", "first_order_id", "first_account", "maker_order", "taker_order", "buyer",
    "seller", "source", "strategy", "underlying", "settlement_asset", "count", "samples", "sources_used",
    "live_sources", "buckets", "side", "taker_side", "decimals", "quote_decimals", "unit_value", "digest_version",
    "es_horizon", "es_tail", "es_window", "extreme_cover_pct", "extreme_multiple", "weight",
})  # fmt: skip


def is_price(name: str) -> bool:
    """Whether a field is a price in ticks (of the row's market, when the row names one)."""
    return name.endswith("_ticks")


def in_quote(kind: str, name: str) -> bool:
    """Whether a field of `kind` is money in quote minor units (not in a coin or a collateral asset)."""
    return name in MONEY and (kind, name) not in SETTLED and (kind, name) not in IN_ASSET
