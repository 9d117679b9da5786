"""The `clearing fork` and `clearing diff` subcommands (docs/forks.md).

Registered into the main parser by `add_fork_commands(subparsers)`. Problems are raised as
ClearingError for `clearing.cli.app.main` to report as one line with its exit code.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from clearing.errors import ConfigError
from clearing.log.reader import EventLogReader, utc_text
from clearing.units import NS_PER_S


def cmd_fork(args: argparse.Namespace) -> int:
    """Re-run LOG's scenario and seed, check it against LOG up to --at, apply --set from --at on."""
    from clearing.apps.fork import fork_log
    from clearing.apps.summary import render_text
    from clearing.cli.common import parse_time, progress_bar, sim_seconds

    if Path(args.out).exists() and Path(args.log).exists() and os.path.samefile(args.out, args.log):
        raise ConfigError(f"--out {args.out}: that is {args.log}, which the fork reads; choose another path")
    with EventLogReader(args.log) as reader:
        epoch = reader.header.epoch
        at_ns = parse_time(args.at, epoch)
        name = reader.header.scenario_name
    with progress_bar(args.progress, f"fork of {name}", sim_seconds) as progress:
        result = fork_log(args.log, at_ns, args.set or (), args.out, getattr(args, "data_dir", None), progress, args.overwrite)
    h, s = result.parent, result.summary
    extra: dict[str, Any] = {
        "log": str(args.out),
        "parent": str(args.log),
        "parent_run_id": h.run_id,
        "at_s": result.at_ns / NS_PER_S,
        "at_utc": utc_text(epoch, result.at_ns),
        "changes": result.changes,
        "verified_events": result.verified_events,
        "identical_to_parent": result.identical,
        "same_head_hash": s.head_hash == h.head_hash,
    }
    if args.json:
        sys.stdout.write(json.dumps({**s.as_dict(), **extra}) + "\n")
        return 0
    lines = [render_text(s)]
    for key, value in extra.items():
        shown = (" ".join(f"{k}={v}" for k, v in value.items()) or "none") if isinstance(value, dict) else value
        lines.append(f"{key}: {shown}")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    """Print where two logs first differ and every summary metric of both, with B - A."""
    from clearing.apps.diff import diff_logs
    from clearing.apps.summary import MARKET_MONEY_FIELDS, MONEY_FIELDS, quote_name, separated
    from clearing.cli.common import reading

    for path in (args.a, args.b):
        if not Path(path).exists():
            raise ConfigError(f"{path}: no such file")
    with reading(args.progress, "diff"):
        diff = diff_logs(args.a, args.b)
    a, b, divergence, changes, metrics, markets = diff.a, diff.b, diff.divergence, diff.changes, diff.metrics, diff.markets
    epoch = a.header.epoch
    first: dict[str, Any] | None = None
    if divergence is not None:
        first = {
            "seq": divergence.seq, "ts_ns": divergence.ts_ns, "time_s": divergence.ts_ns / NS_PER_S,
            "time_utc": utc_text(epoch, divergence.ts_ns),
            "a": None if divergence.a is None else {"kind": divergence.a[0], "payload": divergence.a[1]},
            "b": None if divergence.b is None else {"kind": divergence.b[0], "payload": divergence.b[1]},
        }  # fmt: skip
    if args.json:
        out = {
            "identical": divergence is None, "first_divergence": first, "seeds": [a.header.seed, b.header.seed],
            "scenario_changes": {k: list(v) for k, v in changes.items()}, "metrics": metrics, "markets": markets,
        }  # fmt: skip
        sys.stdout.write(json.dumps(out) + "\n")
        return 0
    lines = [f"A: {args.a} (run {a.header.run_id}, {a.events} events)", f"B: {args.b} (run {b.header.run_id}, {b.events} events)"]
    for key, (va, vb) in changes.items():
        lines.append(f"scenario {key}: {json.dumps(va)} -> {json.dumps(vb)}")
    if a.header.seed != b.header.seed:
        lines.append(f"seed: {a.header.seed} -> {b.header.seed}")
    if first is None:
        lines.append("identical: every event is the same (time, kind, version, causes, payload)")
    else:
        lines.append(f"first divergence: seq {first['seq']} at {first['time_s']:g} s ({first['time_utc']})")
        for side in ("a", "b"):
            row = first[side]
            lines.append(
                f"  {side.upper()}: " + ("(no such event)" if row is None else f"{row['kind']} {_short(row['payload'])}")
            )
    width = max(len(k) for k in [*metrics, *(f"market {s}" for s in markets), *(f"  {k}" for m in markets.values() for k in m)])
    lines.append(f"{'metric':<{width}}  {'A':>26}  {'B':>26}  B-A")
    rows: list[tuple[str, dict[str, Any] | None]] = [
        (key, m) for key, m in metrics.items() if key not in ("data_sources", "scenario")
    ]
    for symbol, fields in markets.items():  # each market by its symbol: its own rows
        rows += [(f"market {symbol}", None), *((f"  {key}", m) for key, m in fields.items() if key != "market")]
    unit = quote_name(markets)
    market_money = {f"  {k}" for k in MARKET_MONEY_FIELDS if k != "funding_paid"}
    for key, m in rows:
        if m is None:
            lines.append(key)
            continue
        delta = m["delta"]
        if delta is None:
            delta = "same" if m["a"] == m["b"] else "differs"
        cells = [_cell(m["a"]), _cell(m["b"]), _cell(delta)]
        if key in MONEY_FIELDS or key in market_money:  # money: separators and the currency
            cells = [separated(c, unit) if c not in ("same", "differs") else c for c in cells]
        lines.append(f"{key:<{width}}  {cells[0]:>26}  {cells[1]:>26}  {cells[2]}")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


def _short(payload: str, width: int = 110) -> str:
    return payload if len(payload) <= width else payload[: width - 1] + "…"


def _cell(value: Any) -> str:
    text = f"{value:.6g}" if isinstance(value, float) else str(value)
    return text if len(text) <= 24 else text[:16] + "…"


def cmd_resume(args: argparse.Namespace) -> int:
    """Resume an interrupted run; print its summary and how many of its rows were kept (checked, not rewritten)."""
    from clearing.apps.resume import resume_log
    from clearing.cli.common import print_summary, progress_bar, sim_seconds

    with EventLogReader(args.log) as reader:
        name = reader.header.scenario_name
    try:
        with progress_bar(args.progress, f"resume of {name}", sim_seconds) as progress:
            result = resume_log(args.log, getattr(args, "data_dir", None), progress)
    except KeyboardInterrupt:
        print(f"clearing: interrupted; {args.log} is kept as it was", file=sys.stderr)
        return 130
    print_summary(result.summary, args.json, {"log": str(args.log), "resumed_after_events": result.kept_events})
    return 0


def add_fork_commands(subparsers: Any) -> None:
    """Register `fork` and `diff` on the main parser's subparsers.

    `fork` also accepts --data-dir after the subcommand (default SUPPRESS, read with
    getattr(args, "data_dir", None)), as the `data` commands do.
    """
    from clearing.cli.common import add_progress_argument

    fork = subparsers.add_parser("fork", help="re-run a log to a time, change parameters there, continue into a new log")
    fork.add_argument("log", help="the parent event log")
    fork.add_argument("--at", required=True, metavar="TIME", help="seconds from the start or ISO-8601 UTC, inside the run")
    fork.add_argument(
        "--set", action="append", metavar="KEY=VALUE", help="change an oracle or liquidation parameter at --at (repeatable)"
    )
    fork.add_argument("--out", required=True, help="the new log")
    fork.add_argument("--overwrite", action="store_true", help="replace an existing log at --out")
    fork.add_argument("--data-dir", metavar="DIR", default=argparse.SUPPRESS, help="where the parent's data files are")
    fork.add_argument("--json", action="store_true", help="print the summary and the fork's checks as one JSON object")
    add_progress_argument(fork)
    fork.set_defaults(func=cmd_fork)

    resume = subparsers.add_parser("resume", help="run an interrupted log to its end, checking the rows it kept")
    resume.add_argument("log", help="an event log with status 'incomplete' (stopped by SIGINT, SIGTERM or SIGKILL)")
    resume.add_argument("--data-dir", metavar="DIR", default=argparse.SUPPRESS, help="where the run's data files are")
    resume.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    add_progress_argument(resume)
    resume.set_defaults(func=cmd_resume)

    diff = subparsers.add_parser("diff", help="the first divergence of two logs and every summary metric of both")
    diff.add_argument("a", metavar="A", help="an event log")
    diff.add_argument("b", metavar="B", help="another event log")
    diff.add_argument("--json", action="store_true", help="print one JSON object")
    add_progress_argument(diff)
    diff.set_defaults(func=cmd_diff)
