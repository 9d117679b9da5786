"""The `clearing data` subcommands: find a data file, fetch Binance's public dumps.

Registered into the main parser by `add_data_commands(subparsers)`. Each command prints one
result line and returns 0; problems are raised as ClearingError for `clearing.cli.app.main` to report.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path
from typing import Any

from clearing.data.binance import BINANCE_KINDS, BINANCE_URL, fetch_binance
from clearing.data.directory import default_data_dir, file_sha256, resolve_data_file


def cmd_data_where(args: argparse.Namespace) -> int:
    """Print `<sha256>  <path>` (sha256sum's layout) of the data file NAME."""
    path = resolve_data_file(args.name, getattr(args, "data_dir", None))
    if args.json:
        sys.stdout.write(json.dumps({"name": args.name, "path": str(path), "sha256": file_sha256(path),
                                     "bytes": path.stat().st_size}) + "\n")  # fmt: skip
        return 0
    sys.stdout.write(f"{file_sha256(path)}  {path}\n")
    return 0


def cmd_data_fetch_binance(args: argparse.Namespace) -> int:
    """Download one Binance daily dump into --dest and print where it went."""
    dest = Path(args.dest) if args.dest else default_data_dir(getattr(args, "data_dir", None))
    path = fetch_binance(args.symbol, args.date, args.kind, dest, args.base_url, args.interval, args.overwrite)
    if args.json:
        sys.stdout.write(json.dumps({"path": str(path), "bytes": path.stat().st_size, "sha256": file_sha256(path)}) + "\n")
        return 0
    sys.stdout.write(f"{path}: {path.stat().st_size} bytes, zip checksum verified, sha256 {file_sha256(path)}\n")
    return 0


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, was {text!r}") from None


def add_data_commands(subparsers: Any) -> None:
    """Register `data where` and `data fetch binance` on the main parser's subparsers.

    `subparsers` is what `parser.add_subparsers(...)` returned; nested parsers inherit its
    parser class. Both commands also accept --data-dir after the subcommand; it overrides a
    top-level --data-dir only when given (default SUPPRESS), and commands read it with
    getattr(args, "data_dir", None).
    """
    data = subparsers.add_parser("data", help="find and fetch market-data files")
    commands = data.add_subparsers(dest="data_command", required=True, metavar="COMMAND")

    where = commands.add_parser("where", help="print the path and sha256 of a data file")
    where.add_argument("name", metavar="NAME", help="file name, looked up in --data-dir, $CLEARING_DATA_DIR, ./data")
    where.add_argument("--data-dir", metavar="DIR", default=argparse.SUPPRESS, help="look here first")
    where.add_argument("--json", action="store_true", help="print name, path, sha256 and size as one JSON object")
    where.set_defaults(func=cmd_data_where)

    fetch = commands.add_parser("fetch", help="download public exchange data (needs internet)")
    sources = fetch.add_subparsers(dest="source", required=True, metavar="SOURCE")
    binance = sources.add_parser("binance", help="Binance USD-M futures daily dumps, checksum verified")
    binance.add_argument("--symbol", required=True, help="e.g. BTCUSDT")
    binance.add_argument("--date", required=True, type=_day, metavar="YYYY-MM-DD", help="the UTC day")
    binance.add_argument("--kind", choices=BINANCE_KINDS, default="klines", help="default klines")
    binance.add_argument("--interval", default="1m", help="kline interval (default 1m; klines only)")
    binance.add_argument("--dest", metavar="DIR", help="default: --data-dir, else $CLEARING_DATA_DIR, else ./data")
    binance.add_argument("--data-dir", metavar="DIR", default=argparse.SUPPRESS, help="the data directory")
    binance.add_argument("--base-url", default=BINANCE_URL, metavar="URL", help=f"default {BINANCE_URL}")
    binance.add_argument("--overwrite", action="store_true", help="replace an existing CSV")
    binance.add_argument("--json", action="store_true", help="print path, size and sha256 as one JSON object")
    binance.set_defaults(func=cmd_data_fetch_binance)
