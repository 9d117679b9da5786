"""Event kinds of prices: the index, the oracle (sources, rounds, publication, delivery, guards), the mark, checkpoints."""

from __future__ import annotations

from typing import ClassVar

from clearing.events.base import Event


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
    ("stale", "confidence", "divergence"), or under Drift's validity rules the price's validity
    ("valid", "stale_for_amm", "stale_for_margin", "non_positive", "too_volatile") or
    "twap_divergence"; `age_ns` = now - the price's observation time; `confidence_ppm` and
    `divergence_ppm` (|mark - oracle| / oracle, or |oracle - TWAP| / TWAP) are what was compared.
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


class CheckpointRecorded(Event, frozen=True, kw_only=True, tag="checkpoint_recorded"):
    """A digest of the full state after every earlier event, for replay to check.

    v2 adds `digest_version`: replay compares only digests of its own version.
    """

    VERSION: ClassVar[int] = 2
    digest: str
    digest_version: int
    final: bool
