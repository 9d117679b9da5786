"""Mark price methods: what margin and liquidation value positions at.

- "oracle": the delivered oracle price itself, as dYdX v4 and Drift mark (the oracle's
  delivery sets it; no mark clock).
- "binance_median": median(P1, P2, last) with P1 = index x (1 + F x t_left / interval),
  P2 = index + moving average of (mid - index), last = last trade; with no trade yet,
  floor((P1 + P2) / 2).
- "ema_basis": index + an exponential moving average of (mid - index), the first of
  Hyperliquid's three mark components (a plain time-constant EMA).
Here "index" is the oracle price the exchange sees. Integer ticks, rounded down. The mark
clock (`clearing.sim.mark_clock`) samples the basis each interval and calls the method's
rule, one `MarkRule` per `MarkMethod` looked up by `mark_rule`.
Sources: docs/references.md [binance-mark], [binance-mark-usdm], [hyperliquid-mark],
[dydx-v4-margin], [drift-v2-margin].
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import NamedTuple

PPB = 1_000_000_000


class MarkMethod(StrEnum):
    """What the mark is (see the module's list)."""

    ORACLE = "oracle"
    BINANCE_MEDIAN = "binance_median"
    EMA_BASIS = "ema_basis"


MARK_METHODS = tuple(m.value for m in MarkMethod)


class MarkParams(NamedTuple):
    """Method, cadence and smoothing windows (ns)."""

    method: MarkMethod
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


def basis_sample(mid_ticks: int, index_ticks: int) -> int:
    """Return one basis sample, mid - index (0 while the book has no mid)."""
    return mid_ticks - index_ticks if mid_ticks else 0


def basis_window_length(params: MarkParams) -> int:
    """Return how many basis samples the window holds: window / interval, at least one."""
    return max(1, params.basis_window_ns // params.interval_ns)


class MarkRule:
    """A method computed on the mark clock (stateless; a base class, so that the compiled build dispatches natively)."""

    @property
    def reads_last_trade(self) -> bool:
        """Whether the last trade is an input (and so a cause of each mark)."""
        return False

    def step(
        self,
        params: MarkParams,
        index_ticks: int,
        basis_samples: Sequence[int],
        smoothed_basis_ticks: int,
        last_ticks: int,
        funding_rate_ppb: int,
        now_ns: int,
    ) -> tuple[int, int]:
        """Return (the mark at `now_ns`, the smoothed basis to carry to the next step), ticks.

        `basis_samples` are the window's samples, oldest first, the newest (this step's) last;
        `smoothed_basis_ticks` is what the previous step returned (0 at the first). A plain
        pair, not a named tuple: the compiled build builds it without a call into Python.
        """
        raise NotImplementedError


class BinanceMedian(MarkRule):
    """median(P1, P2, last): the funding basis, the window's mean basis, the last trade."""

    @property
    def reads_last_trade(self) -> bool:
        """Return True: the last trade is the third candidate."""
        return True

    def step(
        self,
        params: MarkParams,
        index_ticks: int,
        basis_samples: Sequence[int],
        smoothed_basis_ticks: int,
        last_ticks: int,
        funding_rate_ppb: int,
        now_ns: int,
    ) -> tuple[int, int]:
        """Return `median_mark` with the floor of the window's mean basis and the time to the next funding."""
        average = sum(basis_samples) // len(basis_samples)
        to_funding = params.funding_interval_ns - now_ns % params.funding_interval_ns
        price = median_mark(index_ticks, funding_rate_ppb, to_funding, params.funding_interval_ns, average, last_ticks)
        return price, average


class EmaBasis(MarkRule):
    """index + EMA of the basis, the window as the time constant, one step per interval."""

    def step(
        self,
        params: MarkParams,
        index_ticks: int,
        basis_samples: Sequence[int],
        smoothed_basis_ticks: int,
        last_ticks: int,
        funding_rate_ppb: int,
        now_ns: int,
    ) -> tuple[int, int]:
        """Return max(1, index + ema) with ema = `ema_step` of the previous one toward the newest sample."""
        ema = ema_step(smoothed_basis_ticks, basis_samples[-1], params.interval_ns, params.basis_window_ns)
        return max(1, index_ticks + ema), ema


MARK_RULES: Mapping[MarkMethod, MarkRule] = {MarkMethod.BINANCE_MEDIAN: BinanceMedian(), MarkMethod.EMA_BASIS: EmaBasis()}


def mark_rule(method: MarkMethod) -> MarkRule:
    """Return the rule of a method computed on the mark clock (not "oracle": its deliveries set the mark)."""
    try:
        return MARK_RULES[method]
    except KeyError as e:
        raise ValueError(f"expected a mark method in {tuple(MARK_RULES)}, was {method!r}") from e
