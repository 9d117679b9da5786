"""The commands that hand a log to other tools: `clearing export` (Parquet).

Registered into the main parser by `add_export_commands(subparsers)`. Problems are raised as
ClearingError for `clearing.cli.app.main` to report as one line with its exit code.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from clearing.cli.common import add_progress_argument, progress_bar


def add_export_commands(sub: Any) -> None:
    """Register export."""
    export = sub.add_parser("export", help="write a log's views as Parquet files (pandas, polars, DuckDB)")
    export.add_argument("log")
    export.add_argument("--to", required=True, metavar="DIR", help="the directory to write (one .parquet file per view)")
    export.add_argument("--overwrite", action="store_true", help="replace an earlier export in DIR")
    export.add_argument("--json", action="store_true", help="print what was written as one JSON object")
    add_progress_argument(export)
    export.set_defaults(func=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    """Export every view of a log as Parquet."""
    from clearing.apps.export import export

    out = Path(args.to)
    with progress_bar(args.progress, "export", lambda done, total: f"{done:,} / {total:,} events") as update:
        manifest = export(args.log, out, args.overwrite, update)
    if args.json:
        print(json.dumps({"to": str(out), **manifest}))
    else:
        rows = sum(manifest["views"].values())
        print(f"{out}: {len(manifest['views'])} views, {rows:,} rows (Parquet; run {manifest['run_id']})")
    return 0
