"""The report's page: one self-contained HTML file a risk committee reads from the top.

First the headline figures as big numbers (liquidated notional, bad debt, the insurance
fund's draw, ADL, the peak liquidation minute), then the scenario's key settings, the
interactive panels on one UTC time axis (`clearing.apps.report_figures`, Plotly), the
cascades, the tables by market, margin mode and portfolio type, and at the bottom the
provenance (run id, hashes). plotly.js is inlined once in the page: nothing is fetched when
it is opened. Money is in the quote currency with thousands separators, two decimals.
"""

from __future__ import annotations

import html
import json
import tomllib
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from clearing.apps.report import Report, fund_path, market_rows
from clearing.apps.report_figures import MAX_MARKET_PANELS, cascade_figure, peak_minute, quote_name, time_panels
from clearing.log.reader import utc_text
from clearing.units import NS_PER_S

CONFIG = {"displaylogo": False, "responsive": True, "modeBarButtonsToRemove": ["select2d", "lasso2d"]}
HASHES = ("state_digest", "head_hash")  # summary fields shown under provenance, not with the numbers
NOT_MONEY = frozenset({"index", "oracle", "mark", "last_trade", "open_interest", "market", "settles_in"})
STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:1320px;margin:1.5em auto;padding:0 1em;color:#222}
h1{font-size:1.5em;margin-bottom:.1em}h2{font-size:1.15em;margin-top:1.8em;border-bottom:1px solid #ddd;padding-bottom:.2em}
.lead{color:#555;margin-top:0}.note{color:#555;font-size:13px}
.headline{display:grid;grid-template-columns:repeat(auto-fit,minmax(240px,1fr));gap:12px;margin:1em 0}
.card{border:1px solid #ddd;border-radius:6px;padding:10px 14px;background:#fafafa}
.card .label{font-size:13px;color:#555}.card .big{font-size:22px;white-space:nowrap;font-weight:600;margin:2px 0}
.card .big,table{font-variant-numeric:tabular-nums}
.card .unit{font-size:14px;font-weight:400;color:#555}.card .sub{font-size:12px;color:#666}
table{border-collapse:collapse;font-size:13px}
th,td{border:1px solid #ddd;padding:3px 8px;text-align:left}td.n{text-align:right}th{background:#f4f4f4;font-weight:600}
.wide{overflow-x:auto}.provenance{font-size:12px;color:#555}.provenance td{font-family:ui-monospace,monospace}
details{margin-top:1em}summary{cursor:pointer;color:#333}
"""


def render(report: Report, out: Path | str) -> dict[str, Any]:
    """Write `report` as one HTML file to `out`; return what it shows (cascade totals, the fund's path, markets, modes, types)."""
    summary = report.replay.summary.as_dict()
    state = report.replay.state
    scale = 10.0 ** (state.markets[0].quote_decimals if state.markets else 0)
    shown = {
        "cascades": report.cascades.totals(),
        "insurance_fund_path": fund_path(report.samples, scale),
        "markets": market_rows(summary["markets"], report.cascades),
        "modes": summary["modes"],
        "strategies": summary["strategies"],
    }
    Path(out).write_text(page(report, shown), encoding="utf-8")
    return shown


def money(value: Any) -> str:
    """Return an amount with thousands separators and two decimals ("43,365,304.38")."""
    return f"{Decimal(str(value)):,.2f}"


def cell(key: str, value: Any, coin: bool = False) -> str:
    """Return a table cell: amounts as money (in a coin: every decimal), counts and prices with separators."""
    if value is None:
        return "<td>–</td>"
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return f"<td>{html.escape(str(value))}</td>"
    if isinstance(value, int):
        return f"<td class='n'>{value:,}</td>"
    if isinstance(value, float):
        text = f"{value:,.2f}" if abs(value) >= 1000 else f"{value:.6f}".rstrip("0").rstrip(".")  # never 4e-05
        return f"<td class='n'>{text}</td>"
    try:
        number = Decimal(value)
    except InvalidOperation:
        return f"<td>{html.escape(value)}</td>"
    text = f"{number:,}" if key in NOT_MONEY or coin else f"{number:,.2f}"
    return f"<td class='n'>{text}</td>"


def page(report: Report, shown: dict[str, Any]) -> str:
    """Return the whole page."""
    import plotly.offline  # type: ignore[import-untyped]

    summary = report.replay.summary.as_dict()
    header = report.replay.header
    quote = quote_name(report.replay.state.markets[0].symbol) if report.replay.state.markets else "quote"
    panels = time_panels(report)
    cascades = cascade_figure(report)
    title = f"{summary['scenario']}, seed {summary['seed']}"
    notes = []
    if panels.zero:
        notes.append(f"Zero throughout, so not drawn: {', '.join(panels.zero)}.")
    if panels.markets_left_out:
        notes.append(f"Prices, basis, oracle age and open interest are drawn for the {MAX_MARKET_PANELS} markets that "
                     f"liquidated most; not for {', '.join(panels.markets_left_out)} (see the Markets table).")  # fmt: skip
    parts = [
        f"<h1>{html.escape(title)}</h1>",
        f"<p class='lead'>{html.escape(str(json.loads(header.scenario_json).get('description', '')))}</p>",
        _headline(report, shown, quote),
        "<h2>Scenario</h2>", _table(settings(report)),
        "<h2>Over time</h2>",
        "<p class='note'>Drag to zoom (every panel follows: one time axis, UTC), double-click to zoom out; hover for values. "
        f"Sampled every {report.samples.step_s:,} s of simulated time; money in {html.escape(quote)}.</p>",
        _plot(panels.figure, "time-panels") if panels.figure is not None else "",
        *(f"<p class='note left-out'>{html.escape(n)}</p>" for n in notes),
        "<h2>Cascades</h2>", _cascade_table(shown["cascades"], shown["markets"], quote, report),
    ]  # fmt: skip
    if cascades is not None:
        parts.append(_plot(cascades, "cascade-panels"))
    coins = {s: m.get("settles_in", "quote") != "quote" for s, m in shown["markets"].items()}
    parts.append(_columns("Markets", "market", shown["markets"], coins))
    parts.append(_columns("By margin mode", "mode", shown["modes"]))
    parts.append(_columns("By portfolio type", "type", shown["strategies"]))
    flat = {k: v for k, v in summary.items() if not isinstance(v, dict) and k not in HASHES}
    rows = "".join(f"<tr><th>{html.escape(k)}</th>{cell(k, v)}</tr>" for k, v in flat.items())
    parts.append(f"<details><summary>Every summary field</summary><table>{rows}</table></details>")
    parts.append("<h2>Provenance</h2>" + _table(provenance(report), "provenance"))
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<meta name='viewport' content='width=device-width,initial-scale=1'><title>clearing report: {html.escape(title)}</title>"
        f"<style>{STYLE}</style><script type='text/javascript'>{plotly.offline.get_plotlyjs()}</script></head>"
        f"<body>{''.join(parts)}</body></html>"
    )


# After a zoom on the time axis, each panel's y axis is fitted to what is in view (Plotly keeps the
# whole run's y range otherwise: the crash hour's prices would stay squeezed); a reset restores autorange.
FIT_Y = """
(function () {
  var gd = document.getElementById('{plot_id}');
  gd.on('plotly_relayout', function (change) {
    var keys = Object.keys(change);
    if (!keys.some(function (k) { return /^xaxis[0-9]*\\.(range|autorange)/.test(k); })) return;
    var layout = gd._fullLayout, update = {}, bounds = {};
    var reset = keys.some(function (k) { return /autorange$/.test(k) && change[k]; });
    var lo = layout.xaxis.r2l(layout.xaxis.range[0]), hi = layout.xaxis.r2l(layout.xaxis.range[1]);
    gd._fullData.forEach(function (trace, i) {
      var axis = 'yaxis' + trace.yaxis.slice(1), b = bounds[axis] || (bounds[axis] = [Infinity, -Infinity]);
      (gd.calcdata[i] || []).forEach(function (p) {
        if (!(p.x >= lo && p.x <= hi)) return;
        var low = p.b !== undefined ? p.b : p.y, high = p.s !== undefined ? (p.b || 0) + p.s : p.y;
        if (isFinite(low)) b[0] = Math.min(b[0], low);
        if (isFinite(high)) b[1] = Math.max(b[1], high);
      });
    });
    Object.keys(bounds).forEach(function (axis) {
      var b = bounds[axis], pad = (b[1] - b[0]) * 0.05 || Math.abs(b[1]) * 0.05 || 1;
      if (reset || !isFinite(b[0])) update[axis + '.autorange'] = true;
      else update[axis + '.range'] = [b[0] === 0 ? 0 : b[0] - pad, b[1] + pad];  // counts and amounts from 0
    });
    Plotly.relayout(gd, update);
  });
})();
"""


def _plot(figure: Any, div_id: str) -> str:
    post = FIT_Y if div_id == "time-panels" else None
    return str(figure.to_html(full_html=False, include_plotlyjs=False, div_id=div_id, config=CONFIG, post_script=post))


def _headline(report: Report, shown: dict[str, Any], quote: str) -> str:
    summary, header = report.replay.summary.as_dict(), report.replay.header
    fund = shown["insurance_fund_path"]
    draw = max(Decimal(str(fund["start"])) - Decimal(str(fund["min"])), Decimal(0))
    low_at = f"{_when(header.epoch, fund['min_at_s'])} UTC"
    peak = peak_minute(report)
    peak_big = peak[0].strftime("%H:%M") if peak else "none"
    peak_sub = f"{peak[0]:%Y-%m-%d}: {money(peak[1])} {quote} in {peak[2]:,} liquidations" if peak else "no liquidation"
    cards = [
        ("liquidated", "Liquidated notional", money(summary["liquidated_notional"]), quote,
         f"{summary['liquidations']:,} liquidations"),
        ("bad-debt", "Bad debt", money(summary["bad_debt"]), quote, f"socialised loss {money(summary['socialised_loss'])}"),
        ("fund-draw", "Insurance-fund draw (start − minimum)", money(draw), quote,
         f"lowest {money(fund['min'])} at {low_at}; paid out {money(summary['insurance_paid'])}"),
        ("adl", "ADL notional", money(summary["adl_notional"]), quote, f"{summary['adl_events']:,} ADL events"),
        ("peak-minute", "Peak liquidation minute", peak_big, "UTC" if peak else "", peak_sub),
    ]  # fmt: skip
    body = "".join(
        f"<div class='card' id='h-{key}'><div class='label'>{html.escape(label)}</div>"
        f"<div class='big'>{html.escape(big)} <span class='unit'>{html.escape(unit)}</span></div>"
        f"<div class='sub'>{html.escape(sub)}</div></div>"
        for key, label, big, unit, sub in cards
    )
    return f"<section class='headline'>{body}</section>"


def settings(report: Report) -> list[tuple[str, str]]:
    """Return the scenario's key settings as (name, text) rows, from the scenario the log's header records."""
    header, summary = report.replay.header, report.replay.summary.as_dict()
    s = json.loads(header.scenario_json)
    presets = matching_presets(header.scenario_json)
    named = {name: name + (f" (but its own {', '.join(changed)})" if changed else "") for name, changed in presets.items()}
    venue = [text for name, text in named.items() if name.startswith("venue/")]
    others = [text for name, text in named.items() if not name.startswith("venue/")]
    oracle, market, liq, population = s.get("oracle", {}), s.get("market", {}), s.get("liquidation", {}), s.get("population", {})
    modes = list(summary["modes"]) or list(population.get("margin_modes") or {}) or [population.get("margin_mode", "isolated")]
    duration_s = float(s.get("duration_s", summary["sim_seconds"]))
    start, end = (_when(header.epoch, seconds) for seconds in (0.0, duration_s))
    quote = quote_name(market.get("symbol", ""))
    rows = [
        ("Venue preset", "; ".join(venue) or "none (the venue's settings are the scenario's own)"),
        ("Period", f"{start} to {end} UTC ({_duration(duration_s)})"),
        ("Markets", f"{len(summary['markets'])}: {', '.join(summary['markets'])}" if len(summary["markets"]) > 1
                    else ", ".join(summary["markets"])),
        ("Price source", _shortened(str(summary.get("data_sources", "")))),
        ("Oracle", _oracle_text(oracle)),
        ("Oracle latency", _latency_text(oracle)),
        ("Mark price", str(s.get("mark", {}).get("method", "")).replace("_", " ")),
        ("Margin modes", ", ".join(modes)),
        ("Margin (first market)", _margin_text(market)),
        ("Liquidation", _liquidation_text(liq)),
        ("Insurance fund at the start", f"{money(s.get('insurance_fund', {}).get('initial', 0))} {quote}"),
        ("Accounts", f"{summary['accounts']:,} ({population.get('accounts', 0):,} traders)"),
        ("Seed, run", f"seed {header.seed}, run {header.run_id}, {summary['events']:,} events, status {header.status}"),
    ]  # fmt: skip
    if others:
        rows.insert(1, ("Other presets followed", "; ".join(others)))
    return rows


def matching_presets(scenario_json: str) -> dict[str, list[str]]:
    """Return the shipped presets the scenario follows, each with the settings it changed (a log records the merged
    settings, not its `include` list).

    A setting of a preset is followed when laying it over the scenario changes nothing (the
    scenario's hash stays); a preset is listed when the scenario follows all of its settings, or
    all but at most 2 and a third of them (an include some of whose values the scenario then changed).
    """
    from clearing.scenario import PRESETS, Scenario, merge, preset_names

    def preset(name: str) -> dict[str, Any]:
        data = tomllib.loads((PRESETS / f"{name}.toml").read_text(encoding="utf-8"))
        out: dict[str, Any] = {}
        for included in data.pop("include", []):
            out = merge(out, preset(included))
        return merge(out, data)

    def leaves(table: dict[str, Any], path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
        return [leaf for key, value in table.items()
                for leaf in (leaves(value, (*path, key)) if isinstance(value, dict) else [((*path, key), value)])]  # fmt: skip

    def follows(path: tuple[str, ...], value: Any) -> bool:
        for key in reversed(path):
            value = {key: value}
        try:
            return bool(Scenario.model_validate(merge(base, value)).hash() == own)
        except ValueError:  # the setting does not fit this scenario at all
            return False

    base = json.loads(scenario_json)
    try:
        own = Scenario.model_validate(base).hash()
    except ValueError:  # a scenario of an older layout this code no longer reads: no claim
        return {}
    found = {}
    for name in preset_names():
        settings = leaves(preset(name))
        most, changed = min(2, len(settings) // 3), []
        for path, value in settings:
            if not follows(path, value):
                changed.append(".".join(path))
                if len(changed) > most:
                    break
        else:
            found[name] = changed
    return found


def provenance(report: Report) -> list[tuple[str, str]]:
    """Return what identifies the run and its log: ids, hashes, versions, the checks the replay made."""
    r, h = report.replay, report.replay.header
    return [
        ("run id", h.run_id), ("scenario", f"{h.scenario_name} (hash {h.scenario_hash})"), ("seed", str(h.seed)),
        ("events", f"{r.events:,}"), ("head hash", r.head_hash), ("state digest", r.summary.state_digest),
        ("checkpoints verified", f"{r.checkpoints:,} ({r.checkpoints_skipped:,} skipped: older state layout)"),
        ("written by", f"clearing {h.clearing_version}, schema {h.schema_version}, layout {h.layout}"),
    ]  # fmt: skip


def _table(rows: list[tuple[str, str]], css: str = "") -> str:
    body = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows)
    return f"<table class='{css}'>{body}</table>"


def _columns(heading: str, corner: str, columns: dict[str, dict[str, Any]], coins: dict[str, bool] | None = None) -> str:
    # A column per market, margin mode or portfolio type, a row per field.
    if not columns:
        return ""
    head = f"<tr><th>{corner}</th>" + "".join(f"<th>{html.escape(s)}</th>" for s in columns) + "</tr>"
    fields = [k for k in next(iter(columns.values())) if k != "market"]
    body = "".join(
        f"<tr><th>{html.escape(k)}</th>" + "".join(cell(k, c.get(k), (coins or {}).get(s, False)) for s, c in columns.items())
        + "</tr>"
        for k in fields
    )  # fmt: skip
    return f"<h2>{heading}</h2><div class='wide'><table>{head}{body}</table></div>"


def _cascade_table(totals: dict[str, Any], markets: dict[str, dict[str, Any]], quote: str, report: Report) -> str:
    scale = 10 ** (report.replay.state.markets[0].quote_decimals if report.replay.state.markets else 0)
    if not totals["liquidations"]:
        return "<p class='note'>No liquidations, so no cascades.</p>"
    epoch = report.replay.header.epoch
    start = f"{_when(epoch, totals['largest_cascade_start_s'])} UTC"
    rows = [
        ("liquidations", f"{totals['liquidations']:,} in {totals['cascades']:,} cascades "
                         f"({totals['cascades_with_depth']:,} with a liquidation caused by another)"),
        ("generations", f"{totals['generations']:,}; cascade depth {totals['cascade_depth']:,}"),
        ("amplification", f"{totals['amplification']:,.4f} (all liquidated notional over generation 0's)"),
        ("largest cascade", f"{totals['largest_cascade_liquidations']:,} liquidations, "
                            f"{money(totals['largest_cascade_notional'] / scale)} {quote}, "
                            f"depth {totals['largest_cascade_depth']}, from {start} "
                            f"for {totals['largest_cascade_duration_s']:,.1f} s"),
    ]  # fmt: skip
    shares = [(s, m["liquidation_fall_share"]) for s, m in markets.items() if m["liquidation_fall_share"] is not None]
    if shares:
        text = ", ".join(f"{s} {share:.4%}" if len(shares) > 1 else f"{share:.4%}" for s, share in shares)
        rows.append(("liquidation fall share", f"{text} of the mark's fall was driven by liquidation flow"))
    if len(report.samples.markets) > 1:
        rows.append(("cross-market", f"{totals['cross_market_liquidations']:,} liquidations closed another market, "
                                     f"{money(totals['cross_market_notional'] / scale)} {quote}"))  # fmt: skip
    return _table(rows)


def _shortened(sources: str, keep: int = 3) -> str:
    # The price source of each market ("SYM: where; SYM: where"): the first few (an option chain lists dozens).
    parts = sources.split("; ")
    more = f"; and {len(parts) - keep} more (every summary field, below)" if len(parts) > keep else ""
    return "; ".join(parts[:keep]) + more


def _margin_text(market: dict[str, Any]) -> str:
    brackets = ", by notional brackets" if market.get("maintenance_brackets") else ""
    return (f"maintenance {_pct(market.get('maintenance_margin_rate'))}{brackets}, initial "
            f"{_pct(market.get('initial_margin_rate'))}, liquidation fee {_pct(market.get('liquidation_fee_rate'))}")  # fmt: skip


def _when(epoch: Any, seconds: float) -> str:
    # A time of the run as "2020-03-12 10:04:17" (UTC).
    return utc_text(epoch, int(seconds * NS_PER_S)).replace("T", " ").removesuffix("Z")


def _pct(rate: Any) -> str:
    return "–" if rate in (None, "") else f"{(Decimal(str(rate)) * 100).normalize():f} %"


def _duration(seconds: float) -> str:
    hours, rest = divmod(round(seconds), 3600)
    parts = (f"{hours:,} h" if hours else "", f"{rest // 60} min" if rest // 60 else "", f"{rest % 60} s" if rest % 60 else "")
    return " ".join(part for part in parts if part) or "0 s"


def _oracle_text(o: dict[str, Any]) -> str:
    policy = o.get("policy", "")
    how = {
        "push": f"push on a {_pct(o.get('deviation'))} move or a {o.get('heartbeat_s', 0):g} s heartbeat",
        "cadence": f"published every {o.get('cadence_ms', 0):,} ms",
        "pull": f"pulled every {o.get('pull_interval_ms', 0):,} ms, at most {o.get('max_age_s', 0):g} s old",
    }.get(policy, str(policy))
    sources = o.get("sources") or []
    if sources:
        cut = f", outlier cut {_pct(o.get('outlier_cut'))}" if Decimal(str(o.get("outlier_cut", 0))) else ""
        aggregation = str(o.get("aggregation", "")).replace("_", " ")
        return f"{how}; {len(sources)} sources, {aggregation} of at least {o.get('min_sources', 1)}{cut}"
    return f"{how}; one source, the {o.get('source', 'index')}, observed every {o.get('observe_interval_ms', 0):,} ms"


def _liquidation_text(liq: dict[str, Any]) -> str:
    execution = {
        "book": "closed on the order book", "bankruptcy": "closed at the bankruptcy price",
        "fillable": "closed as far as the book fills", "vault": "taken over by a vault",
        "fund": "taken over by the insurance fund",
    }.get(liq.get("execution", ""), str(liq.get("execution", "")))  # fmt: skip
    after = {"bad_debt": "bad debt", "adl": "auto-deleveraging", "socialise": "socialised losses"}.get(
        liq.get("after_fund", ""), ""
    )
    return (f"{execution}; beyond the fund: {after or liq.get('after_fund', '')}; {liq.get('liquidators', 0):,} liquidators, "
            f"{liq.get('service_time_ms', 0):,} ms each")  # fmt: skip


def _latency_text(o: dict[str, Any]) -> str:
    ms, model = o.get("latency_ms", 0), o.get("latency_model", "fixed")
    extra = {
        "fixed": "",
        "uniform": f" to {o.get('latency_max_ms', 0):,} ms, uniform",
        "lognormal": f" median, lognormal σ {o.get('latency_sigma', 0):g}",
        "load": f", plus {o.get('latency_per_breach_ms', 0):g} ms per breach in the last {o.get('latency_window_s', 0):g} s",
    }.get(model, f" ({model})")
    delay = f"; inclusion delay {o.get('inclusion_delay_ms', 0):,} ms" if o.get("inclusion_delay_ms") else ""
    return f"{ms:,} ms{extra}{delay}"
