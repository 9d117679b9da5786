"""Event kinds of the traders' own decisions after entry: a stop-loss fired, a re-entry after a close-out."""

from __future__ import annotations

from clearing.events.base import Event


class StopTriggered(Event, frozen=True, kw_only=True, tag="stop_triggered"):
    """A trader's stop-loss was reached by the mark; its reduce-only market order follows, citing this.

    Causes: the mark that reached it. `stop_ticks` is the stop's price (from the trader's
    average entry price and its drawn distance).
    """

    account: int
    market: int
    stop_ticks: int


class TraderReentered(Event, frozen=True, kw_only=True, tag="trader_reentered"):
    """A trader closed out (by its liquidation or its stop) opens again; its deposit and order follow, citing this.

    Causes: the close (`liquidation_completed`, or the stop's last fill).
    """

    account: int
    market: int
