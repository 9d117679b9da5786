"""The commands that hand a log to other tools: `clearing export` (Parquet) and `clearing serve` (Datasette).

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
    """Register export and serve."""
    export = sub.add_parser("export", help="write a log's views as Parquet files (pandas, polars, DuckDB)")
    export.add_argument("log")
    export.add_argument("--to", required=True, metavar="DIR", help="the directory to write (one .parquet file per view)")
    export.add_argument("--overwrite", action="store_true", help="replace an earlier export in DIR")
    export.add_argument("--json", action="store_true", help="print what was written as one JSON object")
    add_progress_argument(export)
    export.set_defaults(func=cmd_export)

    serve = sub.add_parser("serve", help="open a log read-only in Datasette (units, descriptions, the studies' queries)")
    serve.add_argument("log")
    serve.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1: this machine only)")
    serve.add_argument("--port", type=int, default=8001, help="port (default 8001)")
    serve.add_argument("--metadata", metavar="FILE",
                       help="write Datasette's metadata for the log to FILE (JSON) and exit, to run Datasette yourself")
    serve.set_defaults(func=cmd_serve)


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


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve a log in Datasette, or write its metadata."""
    from clearing.apps.serve import metadata, serve
    from clearing.cli.common import guard_output, write_atomically
    from clearing.errors import ConfigError

    if args.metadata:
        out = Path(args.metadata)
        guard_output(out, "--metadata", True, [args.log])
        meta = metadata(args.log)
        write_atomically(out, lambda partial: partial.write_text(json.dumps(meta, indent=1) + "\n"), "--metadata")
        print(f"{out}: Datasette metadata for {args.log} ({len(meta['databases'])} database, "
              f"{sum(len(d['queries']) for d in meta['databases'].values())} canned queries)")  # fmt: skip
        return 0
    if not 0 < args.port < 65536:
        raise ConfigError(f"--port {args.port}: expected 1..65535")
    print(f"serving {args.log} read-only at http://{args.host}:{args.port}/ (Ctrl-C stops)", flush=True)
    return serve(args.log, args.host, args.port)
