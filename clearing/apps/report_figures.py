"""The report's interactive panels, drawn with Plotly.

Plotly, not static images: the panels zoom and pan, every point tells its value on hover,
all the time panels are subplots of one figure on one shared UTC time axis (zooming one
zooms them all, so a liquidation burst lines up with the price move and the oracle lag
beside it), and plotly.js is embedded in the page, so the file still opens anywhere without
a network. plotly is imported inside the functions: importing `clearing` stays cheap.

A panel whose series are all zero (or never set) is left out and named in
`TimePanels.zero`; identical series (the mark that is the oracle price) are drawn once,
named together ("oracle = mark"). Money is in the quote currency, prices as prices.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from clearing.apps.report import Report
from clearing.core.state import MarginMode
from clearing.units import NS_PER_S

MAX_MARKET_PANELS = 4  # markets drawn price by price; the others are named (an option chain has dozens)
COLOURS = {"index": "#444444", "oracle": "#1f77b4", "mark": "#ff7f0e", "last": "#2ca02c"}
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f")
MONEY_HOVER = ",.2f"
TICKS = ",~f"  # thousands separators, no exponent or 1e6 offset, no trailing zeros


@dataclass
class Steps:
    """Liquidations binned by step (from the cascade analysis): per generation, market and margin mode."""

    starts: list[str]  # each step's start, UTC
    count: np.ndarray
    by_generation: np.ndarray  # (generations, steps) notional, quote
    by_market: dict[str, np.ndarray]
    by_mode: dict[str, np.ndarray]


@dataclass
class Panel:
    """One row of the time figure: its title, the unit of its y axis, its traces."""

    title: str
    unit: str
    traces: list[Any]
    height: int = 230
    tickformat: str = TICKS
    line: tuple[float, str] | None = None  # a horizontal reference line: value, label


@dataclass
class TimePanels:
    """The time figure, the titles of its panels, and what was left out because it was zero throughout."""

    figure: Any  # None: nothing to draw
    titles: list[str]
    zero: list[str]
    markets_left_out: list[str]


def utc(epoch: datetime, seconds: float) -> str:
    """Return the UTC time `seconds` after `epoch` as Plotly reads a date ("2020-03-12 10:03:00")."""
    at = epoch + timedelta(seconds=seconds)
    return at.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] if at.microsecond else at.strftime("%Y-%m-%d %H:%M:%S")


def quote_name(symbol: str) -> str:
    """Return the quote currency a linear symbol names (BTCUSDT-PERP: USDT), else "quote"."""
    head = symbol.split("-")[0]
    return next((q for q in ("USDT", "USDC", "BUSD", "FDUSD", "USD", "EUR") if head.endswith(q) and head != q), "quote")


def steps(report: Report) -> Steps:
    """Bin the completed liquidations by `step_s` of simulated time, from the start of the run."""
    state, step_ns = report.replay.state, report.samples.step_s * NS_PER_S
    scale = 10.0 ** (state.markets[0].quote_decimals if state.markets else 0)
    n = max(1, math.ceil(state.now_ns / step_ns))
    gens = max(report.cascades.generations, 1)
    count, by_generation = np.zeros(n), np.zeros((gens, n))
    by_market: dict[str, np.ndarray] = defaultdict(lambda: np.zeros(n))
    by_mode: dict[str, np.ndarray] = defaultdict(lambda: np.zeros(n))
    for x in report.cascades.liquidations:
        k = min(int(x.ts_ns // step_ns), n - 1)
        count[k] += 1
        by_generation[x.generation, k] += x.notional / scale
        for m, notional in x.closed or ((x.market, x.notional),):
            by_market[state.markets[m].symbol][k] += notional / scale
        by_mode[MarginMode(int(state.margin_mode[x.account])).label][k] += x.notional / scale
    epoch = report.replay.header.epoch
    starts = [utc(epoch, k * report.samples.step_s) for k in range(n)]
    order = {m.symbol: i for i, m in enumerate(state.markets)}
    markets = dict(sorted(by_market.items(), key=lambda kv: order.get(kv[0], len(order))))
    modes = dict(sorted(by_mode.items(), key=lambda kv: MarginMode.of(kv[0])))
    return Steps(starts, count, by_generation, markets, modes)


def peak_minute(report: Report) -> tuple[datetime, float, int] | None:
    """Return the UTC minute with the most liquidated notional, its notional (quote) and its liquidations; None without any."""
    state = report.replay.state
    if not report.cascades.liquidations:
        return None
    scale = 10.0 ** state.markets[0].quote_decimals
    epoch = report.replay.header.epoch
    epoch_ns = int(epoch.timestamp()) * NS_PER_S + epoch.microsecond * 1000
    notional: dict[int, int] = defaultdict(int)
    count: dict[int, int] = defaultdict(int)
    for x in report.cascades.liquidations:
        minute = (epoch_ns + x.ts_ns) // (60 * NS_PER_S)
        notional[minute] += x.notional
        count[minute] += 1
    top = min(notional, key=lambda m: (-notional[m], m))  # the earliest of equals
    at = datetime.fromtimestamp(top * 60, tz=epoch.tzinfo)
    return at, notional[top] / scale, count[top]


def shown_markets(report: Report) -> list[int]:
    """Return the markets drawn one by one: all of up to `MAX_MARKET_PANELS`, else those that liquidated most
    (then those with the most open interest), in the order listed."""
    markets = report.samples.markets
    if len(markets) <= MAX_MARKET_PANELS:
        return list(range(len(markets)))

    def rank(m: int) -> tuple[float, float, int]:
        return -(markets[m].liquidated_notional or [0.0])[-1], -float(np.nanmax([0.0, *markets[m].open_interest])), m

    ranked = sorted(range(len(markets)), key=rank)
    return sorted(ranked[:MAX_MARKET_PANELS])


def flat(values: Any) -> bool:
    """Return whether a series is zero or unset (NaN) throughout."""
    return not np.any(np.nan_to_num(np.asarray(values, dtype=float)))


def distinct(named: list[tuple[str, Any]]) -> list[tuple[str, np.ndarray]]:
    """Merge identical series under one name ("oracle = mark"); drop the ones never set."""
    out: list[tuple[str, np.ndarray]] = []
    for name, values in named:
        array = np.asarray(values, dtype=float)
        if np.all(np.isnan(array)):
            continue
        same = next((i for i, (_n, a) in enumerate(out) if np.array_equal(a, array, equal_nan=True)), None)
        if same is None:
            out.append((name, array))
        else:
            out[same] = (f"{out[same][0]} = {name}", out[same][1])
    return out


def _line(go: Any, x: list[str], y: Any, name: str, hover: str, colour: str | None = None, **kw: Any) -> Any:
    return go.Scatter(
        x=x,
        y=y,
        name=name,
        mode="lines",
        line={"width": 1.5, "color": colour, **kw.pop("line", {})},
        hovertemplate=f"{hover}<extra></extra>",
        **kw,
    )


def _bar(go: Any, x: list[str], y: Any, name: str, hover: str, width_ms: float, colour: str | None = None) -> Any:
    return go.Bar(
        x=x,
        y=y,
        name=name,
        width=width_ms,
        offset=0,
        marker={"color": colour, "line": {"width": 0}},
        hovertemplate=f"{hover}<extra></extra>",
    )


def time_panels(report: Report) -> TimePanels:
    """Build the time figure: one row per panel, on one shared UTC time axis; panels zero throughout left out."""
    import plotly.graph_objects as go  # type: ignore[import-untyped]

    samples, state = report.samples, report.replay.state
    epoch = report.replay.header.epoch
    quote = quote_name(state.markets[0].symbol) if state.markets else "quote"
    x = [utc(epoch, t) for t in samples.t]
    money = f"%{{y:{MONEY_HOVER}}} {quote}"
    panels: list[Panel] = []
    zero: list[str] = []
    drawn = shown_markets(report)
    several = len(samples.markets) > 1

    for m in drawn:
        series = samples.markets[m]
        price_hover = f",.{series.tick_decimals}f"
        # Drawn the noisiest first (the last trade, thin), the index last, on top; listed index first.
        named = [("last trade", series.last), ("mark", series.mark), ("oracle", series.oracle), ("index", series.index)]
        prices = [
            _line(go, x, y, name, f"{name}: %{{y:{price_hover}}}", COLOURS.get(name.split()[0]), legendrank=1000 - rank,
                  line={"width": 1} if name == "last trade" else {})
            for rank, (name, y) in enumerate(distinct(named))
        ]  # fmt: skip
        panels.append(Panel(f"Prices: {series.symbol} (index, oracle, mark, last trade)", quote, prices, height=300))
        index = np.asarray(series.index, dtype=float)
        basis = []
        # The noisiest first, thin, so the oracle's lag and the mark's basis stay visible over it.
        for name, y in distinct([("last trade", series.last), ("oracle", series.oracle), ("mark", series.mark)]):
            diff = y - index
            label = f"{name} − index"
            if flat(diff):
                zero.append(f"{label} ({series.symbol})")
                continue
            bps = np.divide(diff * 1e4, index, out=np.full_like(diff, np.nan), where=index > 0)
            hover = f"{label}: %{{y:+,.1f}} bps (%{{customdata:+{price_hover[1:]}}} {quote})"
            thin = {"width": 1} if name == "last trade" else {}
            basis.append(_line(go, x, bps, label, hover, COLOURS.get(name.split()[0]), customdata=diff, line=thin))
        if basis:
            panels.append(Panel(f"Basis to the index: {series.symbol}", "bps of the index", basis))

    latency_s = _oracle_latency_s(report)
    ages = [
        _line(go, x, samples.markets[m].oracle_age_s, samples.markets[m].symbol,
              f"{samples.markets[m].symbol}: %{{y:,.2f}} s", PALETTE[i % len(PALETTE)])
        for i, m in enumerate(drawn) if not flat(samples.markets[m].oracle_age_s)
    ]  # fmt: skip
    if ages:
        line = (latency_s, f"configured latency {latency_s:g} s") if latency_s else None
        title = "Oracle age: how old the delivered oracle price is (since its observation), at each sample"
        panels.append(Panel(title, "seconds", ages, line=line))
    else:
        zero.append("oracle age")

    binned = steps(report)
    step = _step_text(samples.step_s)
    width_ms = samples.step_s * 1000
    if binned.count.any():
        gens = binned.by_generation
        bars = [
            _bar(go, binned.starts, gens[g], f"generation {g}", f"generation {g}: {money}", width_ms, PALETTE[g % len(PALETTE)])
            for g in range(gens.shape[0])
        ]
        panels.append(Panel(f"Liquidated notional per {step}, by cascade generation", quote, bars))
        counts = _bar(go, binned.starts, binned.count, "liquidations", "%{y:,d} liquidations", width_ms, "#555555")
        panels.append(Panel(f"Liquidations per {step}", "liquidations", [counts], height=170, tickformat=",d"))
        if several and len(binned.by_market) > 1:
            bars = [_bar(go, binned.starts, y, s, f"{s}: {money}", width_ms, PALETTE[i % len(PALETTE)])
                    for i, (s, y) in enumerate(binned.by_market.items())]  # fmt: skip
            panels.append(Panel(f"Liquidated notional per {step}, by market", quote, bars))
        if report.replay.summary.modes:
            bars = [_bar(go, binned.starts, y, mode, f"{mode}: {money}", width_ms, PALETTE[(i + 3) % len(PALETTE)])
                    for i, (mode, y) in enumerate(binned.by_mode.items())]  # fmt: skip
            panels.append(Panel(f"Liquidated notional per {step}, by margin mode", quote, bars))
    else:
        zero.append("liquidations")

    fund = distinct([("balance", samples.insurance_fund), ("equity with its positions", samples.fund_equity)])
    if flat(samples.insurance_fund) and flat(samples.fund_equity):
        zero.append("insurance fund")
    else:
        lines = [_line(go, x, y, name, f"{name}: {money}", PALETTE[i]) for i, (name, y) in enumerate(fund)]
        panels.append(Panel("Insurance fund", quote, lines))
    interest = [
        _line(go, x, samples.markets[m].open_interest, samples.markets[m].symbol, f"{samples.markets[m].symbol}: {money}",
              PALETTE[i % len(PALETTE)])
        for i, m in enumerate(drawn) if not flat(samples.markets[m].open_interest)
    ]  # fmt: skip
    if interest:
        panels.append(Panel("Open interest: long notional at the mark", quote, interest))
    else:
        zero.append("open interest")
    if flat(samples.backlog_peak):
        zero.append("liquidation backlog")
    else:
        queued = _line(go, x, samples.backlog_peak, "most queued", "%{y:,d} accounts at most", "#d62728", line={"shape": "vh"})
        panels.append(
            Panel(f"Liquidation backlog: the most accounts queued in each {step}", "accounts", [queued], tickformat=",d")
        )
    losses = []
    for name, total, colour in (("ADL notional", samples.adl_notional, "#9467bd"), ("bad debt", samples.bad_debt, "#d62728")):
        if flat(total):
            zero.append(name)
        else:
            losses.append(_line(go, x, total, f"{name}, so far", f"{name}: {money}", colour))
    if losses:
        panels.append(Panel("Auto-deleveraging and bad debt, so far", quote, losses))
    figure = _assemble(go, panels, [x[0], x[-1]]) if panels else None
    left_out = [samples.markets[m].symbol for m in range(len(samples.markets)) if m not in drawn]
    return TimePanels(figure, [p.title for p in panels], zero, left_out)


def _assemble(go: Any, panels: list[Panel], span: list[str]) -> Any:
    # One figure, a row per panel, every row on the same time axis (shared_xaxes: zoom one, zoom all), from the
    # start of the run to its end (double-click comes back to it); each row with its own legend beside it.
    from plotly.subplots import make_subplots  # type: ignore[import-untyped]

    gap = 72
    height = sum(p.height for p in panels) + gap * (len(panels) - 1) + 90
    fig = make_subplots(
        rows=len(panels), cols=1, shared_xaxes=True, vertical_spacing=gap / height if len(panels) > 1 else 0,
        subplot_titles=[p.title for p in panels], row_heights=[p.height for p in panels],
    )  # fmt: skip
    for row, panel in enumerate(panels, start=1):
        legend = "legend" if row == 1 else f"legend{row}"
        for trace in panel.traces:
            fig.add_trace(trace.update(legend=legend), row=row, col=1)
        fig.update_yaxes(title_text=panel.unit, tickformat=panel.tickformat, row=row, col=1)
        if panel.line:
            fig.add_hline(y=panel.line[0], line={"dash": "dash", "color": "#888", "width": 1}, annotation_text=panel.line[1],
                          annotation_position="top left", row=row, col=1)  # fmt: skip
        top = fig.get_subplot(row, 1).yaxis.domain[1]
        fig.update_layout({legend: {"x": 1.02, "y": top, "yanchor": "top", "xanchor": "left", "font": {"size": 11}}})
    fig.update_xaxes(type="date", range=span, showticklabels=True, hoverformat="%Y-%m-%d %H:%M:%S UTC", showspikes=True,
                     spikemode="across", spikethickness=1, spikecolor="#999")  # fmt: skip
    fig.update_xaxes(title_text="time (UTC)", row=len(panels), col=1)
    fig.update_layout(
        height=height, barmode="stack", bargap=0, hovermode="x unified", template="plotly_white",
        margin={"l": 80, "r": 200, "t": 40, "b": 50}, font={"size": 12},
    )  # fmt: skip
    return fig


def cascade_figure(report: Report) -> Any | None:
    """Return bars of the liquidations and their notional per cascade generation; None without liquidations."""
    import plotly.graph_objects as go  # type: ignore[import-untyped]
    from plotly.subplots import make_subplots  # type: ignore[import-untyped]

    cascades, state = report.cascades, report.replay.state
    if not cascades.liquidations:
        return None
    quote = quote_name(state.markets[0].symbol)
    scale = 10.0 ** state.markets[0].quote_decimals
    gens = max(cascades.generations, 1)
    names = [f"generation {g}" for g in range(gens)]
    counts = np.bincount([x.generation for x in cascades.liquidations], minlength=gens)
    notional = np.asarray(cascades.totals()["notional_by_generation"], dtype=float) / scale
    titles = ["Liquidations per generation", f"Liquidated notional per generation ({quote})"]
    fig = make_subplots(rows=1, cols=2, subplot_titles=titles)
    fig.add_trace(go.Bar(x=names, y=counts, name="liquidations", marker={"color": "#1f77b4"},
                         hovertemplate="%{x}: %{y:,d} liquidations<extra></extra>"), row=1, col=1)  # fmt: skip
    fig.add_trace(go.Bar(x=names, y=notional, name="notional", marker={"color": "#ff7f0e"},
                         hovertemplate=f"%{{x}}: %{{y:{MONEY_HOVER}}} {quote}<extra></extra>"), row=1, col=2)  # fmt: skip
    fig.update_yaxes(tickformat=",d", title_text="liquidations", row=1, col=1)
    fig.update_yaxes(tickformat=TICKS, title_text=quote, row=1, col=2)
    fig.update_layout(height=320, showlegend=False, template="plotly_white", margin={"l": 80, "r": 40, "t": 40, "b": 40})
    return fig


def _oracle_latency_s(report: Report) -> float:
    # The scenario's fixed oracle latency (0: none, or not a fixed one).
    import json

    oracle = json.loads(report.replay.header.scenario_json).get("oracle", {})
    return float(oracle.get("latency_ms", 0)) / 1000 if oracle.get("latency_model", "fixed") == "fixed" else 0.0


def _step_text(step_s: int) -> str:
    if step_s % 3600 == 0:
        return "hour" if step_s == 3600 else f"{step_s // 3600} h"
    if step_s % 60 == 0:
        return "minute" if step_s == 60 else f"{step_s // 60} min"
    return f"{step_s} s"
