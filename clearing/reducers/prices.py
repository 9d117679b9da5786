"""Reducers of prices: index, oracle publication and delivery, mark, and checkpoints."""

from __future__ import annotations

from typing import TYPE_CHECKING

from clearing import events as ev
from clearing.errors import InvariantViolation

if TYPE_CHECKING:
    from clearing.state import ClearingState


def _check_price(state: ClearingState, e: ev.IndexPriceUpdated | ev.OraclePricePublished | ev.OraclePriceDelivered) -> None:
    # Inline: these are the most frequent events, and message formatting is costly.
    if not (e.price_ticks > 0 and 0 <= e.market < len(state.markets)):
        raise InvariantViolation(f"{type(e).__name__}: price {e.price_ticks} ticks on market {e.market}")


def index_price_updated(state: ClearingState, e: ev.IndexPriceUpdated) -> None:
    """Set the exogenous index price."""
    _check_price(state, e)
    state.index_ticks[e.market] = e.price_ticks


def oracle_price_published(state: ClearingState, e: ev.OraclePricePublished) -> None:
    """Record the oracle's last publication (price and time)."""
    _check_price(state, e)
    state.published_ticks[e.market] = e.price_ticks
    state.published_ns[e.market] = e.ts_ns


def oracle_price_delivered(state: ClearingState, e: ev.OraclePriceDelivered) -> None:
    """Set the oracle price the exchange sees, with its observation time."""
    _check_price(state, e)
    state.oracle_ticks[e.market] = e.price_ticks
    state.oracle_source_ns[e.market] = e.ts_source_ns


def mark_price_updated(state: ClearingState, e: ev.MarkPriceUpdated) -> None:
    """Set the mark price margin and liquidation use."""
    if not (e.price_ticks > 0 and e.index_ticks > 0 and 0 <= e.market < len(state.markets)):
        raise InvariantViolation(f"mark price {e.price_ticks} (index {e.index_ticks}) on market {e.market}")
    state.mark_ticks[e.market] = e.price_ticks


def checkpoint_recorded(state: ClearingState, e: ev.CheckpointRecorded) -> None:
    """Change nothing: a checkpoint only records the digest of the state before it."""
