"""Mark price methods: what margin and liquidation value positions at.

- "oracle": the delivered oracle price itself (dYdX, Drift style).
- "binance_median": median(P1, P2, last) with P1 = index x (1 + F x t_left / interval),
  P2 = index + moving average of (mid - index), last = last trade (venues.md 1.2);
  with no trade yet, floor((P1 + P2) / 2).
- "ema_basis": index + an exponential moving average of (mid - index).
Here "index" is the oracle price the exchange sees. Integer ticks, rounded down.
"""

from __future__ import annotations

from typing import NamedTuple

MARK_METHODS = ("oracle", "binance_median", "ema_basis")
PPB = 1_000_000_000


class MarkParams(NamedTuple):
    """Method, cadence and smoothing windows (ns)."""

    method: str
    interval_ns: int
    basis_window_ns: int
    funding_interval_ns: int


def median_mark(
    index_ticks: int, funding_rate_ppb: int, ns_to_funding: int, interval_ns: int, basis_average_ticks: int, last_ticks: int
) -> int:
    """Return median(P1, P2, last); with no trade yet, floor((P1 + P2) / 2).

    P1 = index + floor(index x F x t_left / (10^9 x interval)); P2 = index + basis average.
    """
    p1 = index_ticks + index_ticks * funding_rate_ppb * ns_to_funding // (PPB * interval_ns)
    p2 = index_ticks + basis_average_ticks
    candidates = sorted((p1, p2, last_ticks) if last_ticks > 0 else (p1, p2))
    return max(1, candidates[1] if len(candidates) == 3 else (candidates[0] + candidates[1]) // 2)


def ema_step(ema_ticks: int, basis_ticks: int, dt_ns: int, time_constant_ns: int) -> int:
    """Return ema + floor((basis - ema) x dt / (tau + dt)): one step of a discrete EMA."""
    return ema_ticks + (basis_ticks - ema_ticks) * dt_ns // (time_constant_ns + dt_ns)
