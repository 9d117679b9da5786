"""The HTML report of a run: one self-contained file of plots and a summary table.

`build` walks the log once with the one verified fold (`clearing.apps.fold`), carrying three
observers: the replay's checks (so the report shows the state the live run had, and a
tampered or diverging log is refused with exit code 1), the `Sampler` of the state every
`step_s` of simulated time, and the cascade analysis. `render` draws the plots with
matplotlib (Agg, no display) into PNGs embedded as base64, so the file opens anywhere.
"""

from __future__ import annotations

import base64
import html
import io
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


@dataclass
class Series:
    """State sampled every step: time (s since the epoch of the run), the run's measures and each market's."""

    step_s: int
    t: list[float] = field(default_factory=list)
    insurance_fund: list[float] = field(default_factory=list)
    fund_equity: list[float] = field(default_factory=list)
    backlog: list[int] = field(default_factory=list)
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
    summary's), with the time of the event that reached it. Each market's liquidated
    notional is counted from the events as the summary's is (`MarketTally`).
    """

    def __init__(self, step_s: int) -> None:
        self.out = Series(step_s)
        self.step_ns = step_s * NS_PER_S
        self.next_ns = 0
        self.last_ns = 0  # the previous event's time
        self.tally = MarketTally()

    def event(self, seq: int, kind: str, event: ev.Event, state: ClearingState) -> None:
        """Note a new fund minimum reached by the previous event; sample every step passed before this one."""
        out = self.out
        if state.insurance_fund_min != out.fund_low:
            out.fund_low, out.fund_low_ns = state.insurance_fund_min, self.last_ns
        ts = event.ts_ns
        while ts > self.next_ns and state.markets:
            _sample(out, state, self.tally, self.next_ns)
            self.next_ns += self.step_ns
        self.last_ns = ts
        self.tally.event(seq, kind, event)

    def end(self, folded: Folded) -> None:
        """Take the last event's effect on the fund, and a final sample at the end."""
        state, out = folded.state, self.out
        if state.insurance_fund_min != out.fund_low:
            out.fund_low, out.fund_low_ns = state.insurance_fund_min, self.last_ns
        if state.markets:
            _sample(out, state, self.tally, state.now_ns)


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
        for values in (series.index, series.oracle, series.mark, series.last, series.open_interest):
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


def _png(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode()


def render(report: Report, out: Path | str) -> dict[str, Any]:
    """Write `report` as one HTML file to `out`; return what it shows (cascade totals, the fund's path, markets, modes, types).

    A panel of prices and one of open interest per market, titled with its symbol; with
    several markets also the liquidated notional per step by market.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    samples, state, cascades = report.samples, report.replay.state, report.cascades
    summary = report.replay.summary.as_dict()
    step_s = samples.step_s
    since = f"hours since {report.replay.header.epoch_utc}"
    hours = np.array(samples.t) / 3600
    scale = 10.0 ** (state.markets[0].quote_decimals if state.markets else 0)
    figures: list[tuple[str, str]] = []

    several = len(samples.markets) > 1

    def heading(name: str, symbol: str) -> str:  # a single market's report keeps the plain headings
        return f"{name}: {symbol}" if several else name

    for series in samples.markets:
        fig, ax = plt.subplots(figsize=(10, 3.6))
        for name, values in (("index", series.index), ("oracle", series.oracle), ("mark", series.mark), ("last", series.last)):
            ax.plot(hours, values, label=name, linewidth=0.9)
        ax.set(xlabel=since, ylabel="price", title=f"Exogenous index, oracle, mark and last trade ({series.symbol})")
        ax.legend(loc="best", fontsize=8)
        figures.append((heading("Prices", series.symbol), _png(fig)))
        plt.close(fig)

    fig, ax = plt.subplots(figsize=(10, 3.2))
    _liquidation_bars(ax, cascades, step_s, len(samples.t), scale)
    ax.set_xlabel(since)
    figures.append(("Liquidations", _png(fig)))
    plt.close(fig)
    if several:
        fig, ax = plt.subplots(figsize=(10, 3.2))
        _market_bars(ax, samples)
        ax.set_xlabel(since)
        figures.append(("Liquidations by market", _png(fig)))
        plt.close(fig)

    panels: list[tuple[str, str, tuple[tuple[str, list[Any]], ...], str]] = [
        ("Insurance fund", "Insurance fund", (("balance", samples.insurance_fund), ("with its positions", samples.fund_equity)),
         "quote"),
        *((heading("Open interest", m.symbol), f"Open interest ({m.symbol})",
           (("long notional at the mark", m.open_interest),), "quote") for m in samples.markets),
        ("Liquidation backlog", "Liquidation backlog", (("accounts queued", samples.backlog),), "accounts"),
        ("Auto-deleveraging and bad debt", "Auto-deleveraging and bad debt",
         (("ADL notional", samples.adl_notional), ("bad debt", samples.bad_debt)), "quote"),
    ]  # fmt: skip
    for name, title, lines, unit in panels:
        fig, ax = plt.subplots(figsize=(10, 2.6))
        for label, values in lines:
            ax.plot(hours, values, label=label, linewidth=1.0)
        ax.set(xlabel=since, ylabel=unit, title=title)
        ax.legend(loc="best", fontsize=8)
        figures.append((name, _png(fig)))
        plt.close(fig)

    totals = cascades.totals()
    fund_path = _fund_path(samples, scale)
    markets = market_rows(summary["markets"], cascades)
    Path(out).write_text(_html(summary, totals, fund_path, markets, figures), encoding="utf-8")
    groups = {"modes": summary["modes"], "strategies": summary["strategies"]}
    return {"cascades": totals, "insurance_fund_path": fund_path, "markets": markets, **groups}


def market_rows(markets: dict[str, dict[str, Any]], cascades: Cascades) -> dict[str, dict[str, Any]]:
    """Return each market's summary (`RunSummary.markets`) with its price attribution's shares, by symbol."""
    moves = cascades.by_symbol()
    shares = ("liquidation_fall_share", "liquidation_rise_share", "peak_to_trough_pct", "peak_to_trough_liquidation_share")
    return {
        symbol: {**fields, **{key: moves[symbol][key] if symbol in moves else None for key in shares}}
        for symbol, fields in markets.items()
    }


def _market_bars(ax: Any, samples: Series) -> None:
    # Liquidated notional per step (between two samples), stacked by market.
    hours = np.array(samples.t[:-1]) / 3600
    widths = np.diff(np.array(samples.t)) / 3600
    bottom = np.zeros(len(hours))
    for m in samples.markets:
        per_step = np.diff(np.array(m.liquidated_notional))
        ax.bar(hours, per_step, width=widths, bottom=bottom, label=m.symbol, align="edge")
        bottom += per_step
    ax.set(ylabel="quote per step", title=f"Liquidated notional per {samples.step_s} s, by market")
    ax.legend(loc="best", fontsize=8)


def _liquidation_bars(ax: Any, cascades: Cascades, step_s: int, n: int, scale: float) -> None:
    # Liquidated notional per step, stacked by generation.
    gens = max(cascades.generations, 1)
    table = np.zeros((gens, max(n, 1)))
    for x in cascades.liquidations:
        table[x.generation, min(int(x.ts_ns // (step_s * NS_PER_S)), table.shape[1] - 1)] += x.notional / scale
    hours = np.arange(table.shape[1]) * step_s / 3600
    bottom = np.zeros(table.shape[1])
    for g in range(gens):
        ax.bar(hours, table[g], width=step_s / 3600, bottom=bottom, label=f"generation {g}", align="edge")
        bottom += table[g]
    ax.set(xlabel="hours", ylabel="quote per step", title=f"Liquidated notional per {step_s} s, by cascade generation")
    ax.legend(loc="best", fontsize=8)


def _fund_path(samples: Series, scale: float) -> dict[str, Any]:
    # Start and end as sampled; the minimum exact, at the event that reached it.
    fund = np.array(samples.insurance_fund or [0.0])
    low = samples.fund_low
    return {
        "start": round(float(fund[0]), 6),
        "min": round(low / scale, 6),
        "min_at_s": samples.fund_low_ns / NS_PER_S,
        "end": round(float(fund[-1]), 6),
    }


def _html(
    summary: dict[str, Any],
    totals: dict[str, Any],
    fund: dict[str, Any],
    markets: dict[str, dict[str, Any]],
    figures: list[tuple[str, str]],
) -> str:
    def cell(value: Any) -> str:
        return "-" if value is None else html.escape(str(value))

    def table(rows: dict[str, Any]) -> str:
        body = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{cell(v)}</td></tr>" for k, v in rows.items())
        return f"<table>{body}</table>"

    def columns_table(heading: str, corner: str, columns: dict[str, dict[str, Any]]) -> str:
        # A column per market, margin mode or portfolio type, a row per field.
        if not columns:
            return ""
        head = f"<tr><th>{corner}</th>" + "".join(f"<th>{html.escape(s)}</th>" for s in columns) + "</tr>"
        fields = [k for k in next(iter(columns.values())) if k != "market"]
        body = "".join(
            f"<tr><th>{html.escape(k)}</th>" + "".join(f"<td>{cell(c[k])}</td>" for c in columns.values()) + "</tr>"
            for k in fields
        )
        return f"<h2>{heading}</h2><table>{head}{body}</table>"

    images = "".join(
        f'<h2>{html.escape(title)}</h2><img alt="{html.escape(title)}" src="data:image/png;base64,{data}">'
        for title, data in figures
    )
    title = html.escape(f"clearing report: {summary.get('scenario', '')} (seed {summary.get('seed', '')})")
    style = (
        "body{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto;color:#222}"
        "table{border-collapse:collapse;font-size:13px}th,td{border:1px solid #ccc;padding:3px 8px;text-align:left}"
        "th{background:#f4f4f4;font-weight:600}img{max-width:100%}"
    )
    flat = {k: v for k, v in summary.items() if k not in ("markets", "modes", "strategies")}
    groups = columns_table("By margin mode", "mode", summary.get("modes") or {})
    groups += columns_table("By portfolio type", "type", summary.get("strategies") or {})
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title><style>{style}</style></head><body>"
        f"<h1>{title}</h1><h2>Summary</h2>{table(flat)}{columns_table('Markets', 'market', markets)}{groups}"
        f"<h2>Cascades</h2>{table(totals)}"
        f"<h2>Insurance fund path</h2>{table(fund)}{images}</body></html>"
    )
