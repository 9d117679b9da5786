"""The commands on runs and their logs: run, replay, verify, events, report, cascades, funding.

Registered into the main parser by `add_log_commands(subparsers)`. Problems are raised as
ClearingError for `clearing.cli.app.main` to report as one line with its exit code.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path
from typing import Any

import msgspec
import structlog

from clearing import events as ev
from clearing.cli.common import (
    add_progress_argument,
    count,
    guard_output,
    parse_time,
    print_summary,
    progress_bar,
    reading,
    seed,
    sim_seconds,
    write_atomically,
)
from clearing.errors import ConfigError
from clearing.log.reader import EventLogReader, utc_text
from clearing.log.schema import SNAPSHOT_EVERY
from clearing.log.verify import verify_log

log = structlog.get_logger()


def add_log_commands(sub: Any) -> None:
    """Register run, replay, verify, events, report, cascades and funding."""
    run = sub.add_parser("run", help="run a scenario into a new event log")
    run.add_argument("scenario", help="scenario TOML file")
    run.add_argument("--seed", type=seed, default=0, help="run seed (default 0)")
    run.add_argument("--out", help="log path (default replays/<scenario>-<seed>.sqlite)")
    run.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a scenario value (repeatable)")
    run.add_argument("--overwrite", action="store_true", help="replace an existing log at the output path")
    run.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    run.add_argument("--check-invariants", action="store_true",
                     help="check exact conservation after every batch of 10,000 events; stop at the first violation")
    run.add_argument("--snapshot-every", type=count, default=SNAPSHOT_EVERY, metavar="EVENTS",
                     help=f"keep a state snapshot at the first checkpoint EVENTS events after the last, for "
                          f"`replay --until` to start from (default {SNAPSHOT_EVERY:,}; 0: none)")
    add_progress_argument(run)
    run.set_defaults(func=cmd_run)

    replay = sub.add_parser("replay", help="rebuild the state from a log and check its checkpoints")
    replay.add_argument("log")
    replay.add_argument("--until", metavar="TIME", help="stop after this time (seconds from start or ISO-8601 UTC); "
                        "starts from the log's last state snapshot before it")
    replay.add_argument("--from-start", action="store_true",
                        help="with --until: fold every event from the first, not from a snapshot")
    replay.add_argument("--json", action="store_true")
    add_progress_argument(replay)
    replay.set_defaults(func=cmd_replay)

    verify = sub.add_parser("verify", help="check a log's hash chain, schema and header")
    verify.add_argument("log")
    verify.add_argument("--json", action="store_true")
    add_progress_argument(verify)
    verify.set_defaults(func=cmd_verify)

    events = sub.add_parser("events", help="export events as JSON lines or CSV")
    events.add_argument("log")
    events.add_argument("--kind", action="append", metavar="KIND", help="only these kinds (repeatable or comma-separated)")
    events.add_argument("--since", metavar="TIME")
    events.add_argument("--until", metavar="TIME")
    events.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    add_progress_argument(events)
    events.set_defaults(func=cmd_events)

    report = sub.add_parser("report", help="write a self-contained, interactive HTML report of a log")
    report.add_argument("log")
    report.add_argument("--out", help="the HTML file to write (default: the log's path with .html)")
    report.add_argument("--overwrite", action="store_true", help="replace an existing file at --out (never an event log)")
    report.add_argument("--step-s", type=int, default=60, help="sampling step of the time series, s (default 60)")
    report.add_argument("--json", action="store_true", help="print the headline numbers as one JSON object")
    add_progress_argument(report)
    report.set_defaults(func=cmd_report)

    cascades = sub.add_parser("cascades", help="liquidation cascades from the log's cause links")
    cascades.add_argument("log")
    cascades.add_argument("--json", action="store_true", help="print the totals and every liquidation as JSON")
    cascades.add_argument("--dot", metavar="FILE", help="write the liquidations' causal graph as Graphviz DOT")
    cascades.add_argument("--overwrite", action="store_true", help="replace an existing file at --dot (never an event log)")
    cascades.add_argument(
        "--dot-limit", type=int, default=2000, metavar="N",
        help="at most N nodes in the DOT file, whole cascades, the largest first (default 2000)",
    )  # fmt: skip
    add_progress_argument(cascades)
    cascades.set_defaults(func=cmd_cascades)

    funding = sub.add_parser("funding", help="the run's funding beside the venue's real settlements")
    funding.add_argument("log")
    funding.add_argument("--symbol", help="the real symbol (default: the market's without -PERP, e.g. BTCUSDT)")
    funding.add_argument("--market", help="the run's market by symbol (default: the first that paid funding)")
    funding.add_argument("--file", default=None, help="the settlements CSV in the data directory "
                         "(default: funding_rates_usdm_crashdays.csv)")  # fmt: skip
    funding.add_argument("--json", action="store_true", help="print the rows and the summary as JSON")
    add_progress_argument(funding)
    funding.set_defaults(func=cmd_funding)


def cmd_funding(args: argparse.Namespace) -> int:
    """Set the run's funding rates beside the real settlements of its symbol."""
    from clearing.apps.funding_check import compare_funding
    from clearing.data.funding_rates import FUNDING_FILE

    with reading(args.progress, "funding"):
        result = compare_funding(args.log, args.symbol, args.file or FUNDING_FILE, args.data_dir, args.market)
    summary = result.summary()
    if args.json:
        print(json.dumps({"summary": summary, "settlements": result.rows}))
        return 0

    def pct(ppb: int | None) -> str:
        return "-" if ppb is None else f"{ppb / 1e7:+.4f} %"

    print(f"{'settlement (UTC)':<22}{'real':>12}{'simulated':>12}{'difference':>12}")
    for row in result.rows:
        print(f"{row['time_utc']:<22}{pct(row['real_ppb']):>12}{pct(row['simulated_ppb']):>12}{pct(row['difference_ppb']):>12}")
    print(f"{summary['symbol']}: {summary['compared']} of {summary['real_settlements']} real settlements compared; "
          f"mean |difference| {pct(summary['mean_abs_difference_ppb'])}, largest {pct(summary['max_abs_difference_ppb'])}; "
          f"same sign {summary['same_sign']} of {summary['compared']}")  # fmt: skip
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """Run a scenario into a new log and print its summary."""
    from clearing.apps.run import run_scenario
    from clearing.scenario import load_scenario

    scenario = load_scenario(args.scenario, args.set or ())
    out = Path(args.out) if args.out else Path("replays") / f"{scenario.name}-{args.seed}.sqlite"
    log.info("run_started", scenario=scenario.name, scenario_hash=scenario.hash(), seed=args.seed, out=str(out))
    start = time.perf_counter()
    try:
        with progress_bar(args.progress, scenario.name, sim_seconds) as progress:
            summary = run_scenario(
                scenario, args.seed, out, data_dir=args.data_dir, progress=progress, overwrite=args.overwrite,
                check_invariants=args.check_invariants, snapshot_every=args.snapshot_every,
            )  # an existing log is replaced only with --overwrite; anything else never
    except KeyboardInterrupt:
        print(f"clearing: interrupted; {out} is kept with status 'incomplete'", file=sys.stderr)
        return 130
    log.info("run_finished", run_id=summary.run_id, events=summary.events, head_hash=summary.head_hash,
             liquidations=summary.liquidations, bad_debt=str(summary.bad_debt), out=str(out),
             wall_s=round(time.perf_counter() - start, 3))  # fmt: skip
    print_summary(summary, args.json, {"log": str(out)})
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    """Rebuild the state from a log and print the summary."""
    from clearing.apps.replay import fold

    until = None
    if args.until is not None:
        with EventLogReader(args.log) as reader:
            until = parse_time(args.until, reader.header.epoch)
    with reading(args.progress, "replay"):
        result = fold(args.log, until, from_snapshot=not args.from_start)
    checks = {"checkpoints_verified": result.checkpoints, "checkpoints_skipped": result.checkpoints_skipped}
    if until is not None:  # where it started: 1, or the checkpoint of the state snapshot it started from
        checks["replayed_from_seq"] = result.start_seq
    print_summary(result.summary, args.json, checks)
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    """Check a log's hash chain, schema and header."""
    with reading(args.progress, "verify"):
        report = verify_log(args.log)
    if args.json:
        print(json.dumps(report.__dict__))
    elif report.status == "incomplete":
        print(f"{report.path}: incomplete: the first {report.events} events of run {report.run_id} are intact, but the run "
              f"did not finish (interrupted, killed or still being written); `clearing resume {report.path}` runs it to "
              f"its end; head {report.head_hash}")  # fmt: skip
    else:
        resumed = f", resumed at event {', '.join(map(str, report.resumed_at))}" if report.resumed_at else ""
        kept = f", {report.snapshots} state snapshots" if report.snapshots else ""
        kept += f" ({report.snapshots_skipped} of another version skipped)" if report.snapshots_skipped else ""
        print(f"{report.path}: intact; run {report.run_id}, status {report.status}, {report.events} events{resumed}{kept}, "
              f"head {report.head_hash}")  # fmt: skip
    return 0


def cmd_events(args: argparse.Namespace) -> int:
    """Export events as JSON lines or CSV."""
    from clearing.apps.fold import fold_log

    with EventLogReader(args.log) as reader:
        # The whole chain first, on the snapshot that is then exported: a log that fails verification exports nothing.
        with reading(args.progress, "check"):
            fold_log(reader, apply_events=False)
        epoch = reader.header.epoch
        kinds = [_event_kind(k.strip()) for item in (args.kind or []) for k in item.split(",") if k.strip()]
        bounds: dict[str, Any] = {"kinds": kinds or None}
        if args.since is not None:
            bounds["since_ns"] = parse_time(args.since, epoch)
        if args.until is not None:
            bounds["until_ns"] = parse_time(args.until, epoch)
        out = sys.stdout
        if args.format == "jsonl":
            for seq, _ts, kind, version, _causes, payload, _hash in reader.rows(**bounds):
                out.write(f'{{"seq":{seq},{ev.encode_object(reader.decode(payload, kind, version))[1:].decode()}\n')
            return 0
        writer = csv.writer(out, lineterminator="\n")
        if len(kinds) == 1:
            fields = [f.name for f in msgspec.structs.fields(ev.KINDS[kinds[0]]) if f.name not in ("ts_ns", "causes")]
            writer.writerow(["seq", "ts_ns", "time_utc", "causes", *fields])
            for seq, ts, kind, version, causes, payload, _hash in reader.rows(**bounds):
                data = ev.to_builtins(reader.decode(payload, kind, version))  # upcast: old logs read as the current version
                writer.writerow([seq, ts, utc_text(epoch, ts, "microseconds"), causes, *(_csv_value(data[f]) for f in fields)])
        else:
            writer.writerow(["seq", "ts_ns", "time_utc", "kind", "version", "causes", "payload"])
            for seq, ts, kind, version, causes, payload, _hash in reader.rows(**bounds):
                text = ev.encode_object(reader.decode(payload, kind, version)).decode()  # an object: fields by name
                writer.writerow([seq, ts, utc_text(epoch, ts, "microseconds"), kind, version, causes, text])
    return 0


def _event_kind(name: str) -> str:
    # An event kind, or a view's name for one (`trades` is `trade_executed`).
    from clearing.log.schema import VIEW_ALIASES

    kind = VIEW_ALIASES.get(name, name)
    if kind not in ev.KINDS:
        raise ConfigError(f"--kind {name}: no such event kind; expected one of {', '.join(sorted(ev.KINDS))} "
                          f"or a view name ({', '.join(sorted(VIEW_ALIASES))})")  # fmt: skip
    return kind


def _csv_value(value: Any) -> Any:
    # Booleans and lists as in the JSON payload (true/false, [..]), not Python's repr.
    return json.dumps(value, separators=(",", ":")) if isinstance(value, bool | list | dict) else value


# Each market's numbers `clearing report` prints (all of them are in the HTML file).
_MARKET_HEADLINE = (
    "market", "liquidations", "liquidated_notional", "adl_events", "adl_notional", "open_interest_notional", "mark",
    "liquidation_fall_share",
)  # fmt: skip


def cmd_report(args: argparse.Namespace) -> int:
    """Write the HTML report of a log and print its headline numbers."""
    from clearing.apps.report import build
    from clearing.apps.report_page import render
    from clearing.apps.summary import MONEY_FIELDS, quote_name, separated

    if args.step_s < 1:
        raise ConfigError(f"--step-s {args.step_s}: expected a whole number of seconds >= 1")
    out = Path(args.out) if args.out else Path(args.log).with_suffix(".html")
    if not out.parent.is_dir():  # before the fold: a bad --out costs nothing
        raise ConfigError(f"--out {out}: no such directory {out.parent}")
    guard_output(out, "--out", args.overwrite, [args.log])
    with reading(args.progress, "report"):
        report = build(args.log, args.step_s)
    summary = report.replay.summary.as_dict()
    shown = write_atomically(out, lambda partial: render(report, partial), "--out")
    headline = {
        key: summary[key]
        for key in ("liquidations", "liquidated_notional", "bad_debt", "adl_events", "adl_notional", "insurance_paid")
    }
    fund, cascades = shown["insurance_fund_path"], shown["cascades"]
    markets = {symbol: {key: m[key] for key in _MARKET_HEADLINE} for symbol, m in shown["markets"].items()}
    if args.json:
        print(json.dumps({**headline, "insurance_fund_path": fund, "cascades": cascades, "markets": markets,
                          "modes": shown["modes"], "strategies": shown["strategies"], "report": str(out)}))  # fmt: skip
        return 0
    unit = quote_name(markets)

    def money(value: Any) -> str:  # a decimal string or a float of quote: separators and the currency
        return separated(value if isinstance(value, str) else f"{value:.6f}", unit)

    for key, value in headline.items():
        print(f"{key:<22}{money(value) if key in MONEY_FIELDS else value}")
    for symbol, m in markets.items() if len(markets) > 1 else ():
        print(f"{symbol:<22}{m['liquidations']} liquidations, notional {money(m['liquidated_notional'])}; ADL "
              f"{m['adl_events']}, notional {money(m['adl_notional'])}; open interest {money(m['open_interest_notional'])} "
              f"at mark {m['mark']}; liquidation fall share {m['liquidation_fall_share']}")  # fmt: skip
    print(f"{'insurance_fund_path':<22}{money(fund['start'])} -> min {money(fund['min'])} at "
          f"{fund['min_at_s'] / 3600:.2f} h -> {money(fund['end'])}")  # fmt: skip
    print(f"{'cascade_depth':<22}{cascades['cascade_depth']} ({cascades['generations']} generation(s), "
          f"amplification {cascades['amplification']})")  # fmt: skip
    print(f"report: {out}")
    return 0


def _money_of(path: str) -> Any:
    # Quote minor units as text with separators and the quote currency (`--json` keeps the integers).
    from clearing.apps.summary import quote_name, separated
    from clearing.units import format_minor

    with EventLogReader(path) as reader:
        listed = [e for _seq, e in reader.events(kinds=["market_listed"]) if isinstance(e, ev.MarketListed)]
    decimals, name = (listed[0].quote_decimals, quote_name([listed[0].symbol])) if listed else (0, "quote")
    return lambda minor: separated(format_minor(int(minor), decimals), name)


def cmd_cascades(args: argparse.Namespace) -> int:
    """Print the cascade totals and the largest cascade (--json: and every liquidation); --dot writes the graph."""
    from clearing.apps.cascades import analyse_log, to_dot

    dot = Path(args.dot) if args.dot else None
    if args.dot_limit < 1:
        raise ConfigError(f"--dot-limit {args.dot_limit}: expected a whole number of nodes >= 1")
    if dot is not None and not dot.parent.is_dir():
        raise ConfigError(f"--dot {dot}: no such directory {dot.parent}")
    if dot is not None:
        guard_output(dot, "--dot", args.overwrite, [args.log])
    with reading(args.progress, "cascades"):
        result = analyse_log(args.log)
    if dot is not None:
        write_atomically(dot, lambda partial: partial.write_text(to_dot(result, args.dot_limit), encoding="utf-8"), "--dot")
    totals, top, markets = result.totals(), result.largest_cascade(), result.by_symbol()
    if args.json:
        print(json.dumps({"totals": totals, "largest_cascade": top, "price_moves": result.price_moves(),
                          "markets": markets, "contagion": result.contagion(),
                          "generations_by_market": result.generations_by_market(),
                          "liquidations": result.as_rows()}))  # fmt: skip
        return 0
    money = _money_of(args.log)
    # One column of keys; with several markets wide enough for "liquidation_fall_share (SYMBOL)".
    width = max(30, *(len(f"liquidation_fall_share ({symbol})") + 2 for symbol in markets)) if len(markets) > 1 else 30
    for key in ("liquidations", "generations", "cascade_depth", "notional_by_generation", "amplification"):
        value = totals[key]
        print(f"{key:<{width}}{'; '.join(money(n) for n in value) if key == 'notional_by_generation' else value}")
    print(f"{'cascades':<{width}}{totals['cascades']} ({totals['cascades_with_depth']} with depth >= 1)")
    if top is not None:
        print(f"{'largest_cascade':<{width}}root liquidation {top['root_liquidation']} (account {top['root_account']}, "
              f"breach {top['root_breach']}), {top['liquidations']} liquidations, depth {top['depth']}")  # fmt: skip
        print(f"{'largest_cascade_notional':<{width}}{money(top['notional'])}")
        print(f"{'largest_cascade_time':<{width}}{top['start_s']:.1f} s to {top['end_s']:.1f} s "
              f"({top.get('start_utc', '?')} to {top.get('end_utc', '?')}), {top['duration_s']:.1f} s")  # fmt: skip
    for symbol, m in markets.items():
        at = "" if len(markets) == 1 else f" ({symbol})"
        print(f"{'mark_fall' + at:<{width}}{m['mark_fall_ticks']} ticks over {m['mark_steps']} steps; peak to trough "
              f"{m['peak_to_trough_ticks']} ticks ({m['peak_to_trough_pct']} %), "
              f"{m['peak_s']:.0f} s to {m['trough_s']:.0f} s")  # fmt: skip
        print(f"{'liquidation_fall_share' + at:<{width}}{m['liquidation_fall_share']:.6f} ({m['liquidation_fall_ticks']} "
              f"ticks on {m['liquidation_driven_fall_steps']} driven steps; "
              f"{m['peak_to_trough_liquidation_share']} of the peak to trough)")  # fmt: skip
        print(f"{'liquidation_rise_share' + at:<{width}}{m['liquidation_rise_share']:.6f} ({m['liquidation_rise_ticks']} of "
              f"{m['mark_rise_ticks']} ticks on {m['liquidation_driven_rise_steps']} driven steps)")  # fmt: skip
    if len(markets) > 1:  # which market's moves liquidated what where
        print(f"{'cross_market':<{width}}{totals['cross_market_liquidations']} liquidations closed a market other than "
              f"the one that breached them, {money(totals['cross_market_notional'])} notional")  # fmt: skip
        for source, row in result.contagion().items():
            cells = ", ".join(f"{target} {money(notional)}" for target, notional in row.items())
            print(f"{'contagion (' + source + ' moves)':<{width}}{cells}")
        for symbol, counts in result.generations_by_market().items():
            print(f"{'generations (' + symbol + ')':<{width}}{counts}")
    if dot is not None:
        print(f"{'dot':<{width}}{dot}")
    return 0
