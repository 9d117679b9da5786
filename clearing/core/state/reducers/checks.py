"""Precondition checks shared by the reducers (cheap; messages formatted only on failure)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from clearing.errors import InvariantViolation

if TYPE_CHECKING:
    from clearing.core.state.state import ClearingState


def require(condition: bool, message: str, *args: object) -> None:
    """Raise `InvariantViolation(message % args)` unless `condition` holds (formatted only then)."""
    if not condition:
        raise InvariantViolation(message % args if args else message)


def account(state: ClearingState, account_id: int) -> None:
    """Require an open account."""
    if not 0 <= account_id < state.cash.shape[0]:
        raise InvariantViolation(f"unknown account {account_id}")


def market(state: ClearingState, market_id: int) -> None:
    """Require a listed market."""
    if not 0 <= market_id < len(state.markets):
        raise InvariantViolation(f"unknown market {market_id}")
