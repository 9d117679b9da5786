"""Reducers of prices: index, oracle publication and delivery, mark, and checkpoints."""

from __future__ import annotations

from typing import TYPE_CHECKING

from clearing import events as ev
from clearing.core.state.reducers.checks import market, require
from clearing.core.state.schema import Observation
from clearing.errors import InvariantViolation

if TYPE_CHECKING:
    from clearing.core.state.state import ClearingState


def _check_price(state: ClearingState, e: ev.IndexPriceUpdated | ev.OraclePricePublished | ev.OraclePriceDelivered) -> None:
    # Inline: these are the most frequent events, and message formatting is costly.
    if not (e.price_ticks > 0 and 0 <= e.market < len(state.markets)):
        raise InvariantViolation(f"{type(e).__name__}: price {e.price_ticks} ticks on market {e.market}")


def index_price_updated(state: ClearingState, e: ev.IndexPriceUpdated) -> None:
    """Set the exogenous index price."""
    _check_price(state, e)
    state.index_ticks[e.market] = e.price_ticks


def oracle_source_listed(state: ClearingState, e: ev.OracleSourceListed) -> None:
    """Register the next source of a market's oracle."""
    market(state, e.market)
    sources = state.oracle_sources[e.market]
    require(
        e.source == len(sources) and e.weight > 0, "oracle source %s (%s) listed out of order or weightless", e.source, e.name
    )
    sources.append(e)
    state.observations[e.market].append(None)


def oracle_observed(state: ClearingState, e: ev.OracleObserved) -> None:
    """Hold each source's latest reading (replacing its previous one)."""
    market(state, e.market)
    held = state.observations[e.market]
    n = len(e.sources)
    if not (
        n > 0 and len(e.price_ticks) == n and len(e.confidence_ticks) == n and len(e.status) == n
        and all(a < b for a, b in zip(e.sources, e.sources[1:], strict=False)) and e.sources[0] >= 0
        and e.sources[-1] < len(held) and e.ts_source_ns <= e.ts_ns
        and min(e.price_ticks) > 0 and min(e.confidence_ticks) >= 0
    ):  # fmt: skip
        raise InvariantViolation(f"bad observation {e}")
    for source, price, confidence, status in zip(e.sources, e.price_ticks, e.confidence_ticks, e.status, strict=True):
        held[source] = Observation(price, confidence, e.ts_source_ns, e.ts_ns, status)


def oracle_round_failed(state: ClearingState, e: ev.OracleRoundFailed) -> None:
    """Count a round that produced no price."""
    market(state, e.market)
    state.oracle_failures += 1


def oracle_guard_checked(state: ClearingState, e: ev.OracleGuardChecked) -> None:
    """Count a refusal by an oracle guard."""
    market(state, e.market)
    state.guard_blocks += not e.allowed


def oracle_price_published(state: ClearingState, e: ev.OraclePricePublished) -> None:
    """Record the oracle's last publication (price and time)."""
    _check_price(state, e)
    state.published_ticks[e.market] = e.price_ticks
    state.published_ns[e.market] = e.ts_ns
    state.published_source_ns[e.market] = e.ts_source_ns
    state.published_confidence_ticks[e.market] = e.confidence_ticks


def oracle_price_delivered(state: ClearingState, e: ev.OraclePriceDelivered) -> None:
    """Set the oracle price the exchange sees, with its observation time."""
    _check_price(state, e)
    state.oracle_ticks[e.market] = e.price_ticks
    state.oracle_source_ns[e.market] = e.ts_source_ns
    state.oracle_confidence_ticks[e.market] = e.confidence_ticks
    state.oracle_published_ns[e.market] = e.ts_published_ns


def mark_price_updated(state: ClearingState, e: ev.MarkPriceUpdated) -> None:
    """Set the mark price margin and liquidation use."""
    if not (e.price_ticks > 0 and e.index_ticks > 0 and 0 <= e.market < len(state.markets)):
        raise InvariantViolation(f"mark price {e.price_ticks} (index {e.index_ticks}) on market {e.market}")
    state.mark_ticks[e.market] = e.price_ticks


def checkpoint_recorded(state: ClearingState, e: ev.CheckpointRecorded) -> None:
    """Change nothing: a checkpoint only records the digest of the state before it."""
