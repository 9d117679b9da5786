"""The HTML report of a run: one self-contained, interactive file (`clearing report`).

`build` walks the log once with the one verified fold (`clearing.apps.fold`), carrying three
observers: the replay's checks (so the report shows the state the live run had, and a
tampered or diverging log is refused with exit code 1), the `Sampler` of the state every
`step_s` of simulated time, and the cascade analysis. `clearing.apps.report_page.render`
writes the page (its panels: `clearing.apps.report_figures`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

from clearing import events as ev
from clearing.apps.cascades import CascadeAnalysis, Cascades
from clearing.apps.fold import Folded, Observer
from clearing.apps.replay import ReplayResult, fold
from clearing.apps.tally import MarketTally
from clearing.core.risk import fund_equity
from clearing.core.state import ClearingState
from clearing.core.valuation import trade_notional, valuation_price
from clearing.units import NS_PER_S


@dataclass
class MarketSeries:
    """One market's columns of the samples, under its symbol."""

    symbol: str
    index: list[float] = field(default_factory=list)
    oracle: list[float] = field(default_factory=list)
    mark: list[float] = field(default_factory=list)
    last: list[float] = field(default_factory=list)
    open_interest: list[float] = field(default_factory=list)  # long notional at the valuation price, quote
    liquidated_notional: list[float] = field(default_factory=list)  # so far, quote (`clearing.apps.tally`)
    oracle_age_s: list[float] = field(default_factory=list)  # the visible oracle price's age (since it was observed), s
    tick_decimals: int = 0  # the decimals of its tick size: how its prices are written


@dataclass
class Series:
    """State sampled every step: time (s since the epoch of the run), the run's measures and each market's."""

    step_s: int
    t: list[float] = field(default_factory=list)
    insurance_fund: list[float] = field(default_factory=list)
    fund_equity: list[float] = field(default_factory=list)
    backlog: list[int] = field(default_factory=list)
    backlog_peak: list[int] = field(default_factory=list)  # the most accounts queued since the previous sample
    adl_notional: list[float] = field(default_factory=list)
    liquidations: list[int] = field(default_factory=list)
    bad_debt: list[float] = field(default_factory=list)
    markets: list[MarketSeries] = field(default_factory=list)  # in the order they were listed
    fund_low: int = 0  # the fund's lowest balance (minor units; `ClearingState.insurance_fund_min`), and when
    fund_low_ns: int = 0


class Sampler(Observer):
    """Samples every market and the fund every `step_s` of simulated time, and finds when the fund was lowest.

    A sample at time t is the state after every event up to t (taken before the first event
    after t is applied). The fund's minimum is the state's own (`insurance_fund_min`, the
    summary's), with the time of the event that reached it, and the liquidation backlog's
    peak between two samples is kept (a burst queued and served within a step shows). Each
    market's liquidated notional is counted from the events as the summary's is (`MarketTally`).
    """

    def __init__(self, step_s: int) -> None:
        self.out = Series(step_s)
        self.step_ns = step_s * NS_PER_S
        self.next_ns = 0
        self.last_ns = 0  # the previous event's time
        self.backlog_peak = 0  # since the previous sample
        self.tally = MarketTally()

    def event(self, seq: int, kind: str, event: ev.Event, state: ClearingState) -> None:
        """Note a new fund minimum reached by the previous event; sample every step passed before this one."""
        out = self.out
        if state.insurance_fund_min != out.fund_low:
            out.fund_low, out.fund_low_ns = state.insurance_fund_min, self.last_ns
        ts = event.ts_ns
        while ts > self.next_ns and state.markets:
            _sample(out, state, self.tally, self.next_ns)
            out.backlog_peak.append(max(self.backlog_peak, state.backlog))
            self.backlog_peak = state.backlog  # queued at the sample: in the next step too
            self.next_ns += self.step_ns
        self.backlog_peak = max(self.backlog_peak, state.backlog)
        self.last_ns = ts
        self.tally.event(seq, kind, event)

    def end(self, folded: Folded) -> None:
        """Take the last event's effect on the fund, and a final sample at the end."""
        state, out = folded.state, self.out
        if state.insurance_fund_min != out.fund_low:
            out.fund_low, out.fund_low_ns = state.insurance_fund_min, self.last_ns
        if state.markets:
            _sample(out, state, self.tally, state.now_ns)
            out.backlog_peak.append(max(self.backlog_peak, state.backlog))


@dataclass
class Report:
    """What a report shows: the replayed log, its samples and its cascades."""

    replay: ReplayResult
    samples: Series
    cascades: Cascades


def build(path: Path | str, step_s: int = 60) -> Report:
    """Fold the log at `path` once: replay checks, samples every `step_s` and cascades.

    Raises:
        clearing.errors.EventLogError: the file is not a readable event log.
        clearing.errors.VerificationError: the chain is broken, or the replay diverges (exit code 1).
    """
    sampler, cascades = Sampler(step_s), CascadeAnalysis()
    replay = fold(path, observers=(sampler, cascades))
    return Report(replay, sampler.out, cascades.result())


def _sample(out: Series, s: ClearingState, tally: MarketTally, now_ns: int) -> None:
    scale = 10.0 ** s.markets[0].quote_decimals  # the quote currency's, every market's
    out.t.append(now_ns / NS_PER_S)
    out.insurance_fund.append(s.insurance_fund / scale)
    out.fund_equity.append(fund_equity(s) / scale)
    out.backlog.append(s.backlog)
    out.adl_notional.append(s.adl_notional / scale)
    out.liquidations.append(s.liquidations)
    out.bad_debt.append(s.bad_debt / scale)
    while len(out.markets) < len(s.markets):  # a market listed after the first sample: nothing before it
        series, before = MarketSeries(s.markets[len(out.markets)].symbol), len(out.t) - 1
        series.tick_decimals = max(0, -int(Decimal(s.markets[len(out.markets)].tick_size).as_tuple().exponent))
        for values in (series.index, series.oracle, series.mark, series.last, series.open_interest, series.oracle_age_s):
            values.extend([np.nan] * before)
        series.liquidated_notional.extend([0.0] * before)
        out.markets.append(series)
    for m, series in enumerate(out.markets):
        tick = float(Decimal(s.markets[m].tick_size))
        series.index.append(int(s.index_ticks[m]) * tick or np.nan)
        series.oracle.append(int(s.oracle_ticks[m]) * tick or np.nan)
        series.mark.append(int(s.mark_ticks[m]) * tick or np.nan)
        series.last.append(int(s.last_trade_ticks[m]) * tick or np.nan)
        held = s.position[:, m]
        series.open_interest.append(trade_notional(s, m, int(held[held > 0].sum()), valuation_price(s, m)) / scale)
        series.liquidated_notional.append(tally.counts(m).liquidated_notional / scale)
        seen = int(s.oracle_ticks[m]) > 0  # an oracle price delivered: its age now
        series.oracle_age_s.append((now_ns - int(s.oracle_source_ns[m])) / NS_PER_S if seen else np.nan)


def market_rows(markets: dict[str, dict[str, Any]], cascades: Cascades) -> dict[str, dict[str, Any]]:
    """Return each market's summary (`RunSummary.markets`) with its price attribution's shares, by symbol."""
    moves = cascades.by_symbol()
    shares = ("liquidation_fall_share", "liquidation_rise_share", "peak_to_trough_pct", "peak_to_trough_liquidation_share")
    return {
        symbol: {**fields, **{key: moves[symbol][key] if symbol in moves else None for key in shares}}
        for symbol, fields in markets.items()
    }


def fund_path(samples: Series, scale: float) -> dict[str, Any]:
    """Return the insurance fund's start and end as sampled, and its minimum exact, with when (s) it was reached."""
    fund = np.array(samples.insurance_fund or [0.0])
    low = samples.fund_low
    return {
        "start": round(float(fund[0]), 6),
        "min": round(low / scale, 6),
        "min_at_s": samples.fund_low_ns / NS_PER_S,
        "end": round(float(fund[-1]), 6),
    }
