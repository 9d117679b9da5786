"""The `clearing sweep` command: run a grid of overrides times seeds, or redraw its plots.

Registered into the main parser by `add_sweep_commands(subparsers)`. Problems with the
input are raised as ClearingError for `clearing.cli.app.main` to report in one line (exit 2).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from clearing.errors import ClearingError, ConfigError


def cmd_sweep(args: argparse.Namespace) -> int:
    """Run the sweep (or, with --plot, redraw its plots) and print the table per grid point."""
    from clearing.apps import sweep
    from clearing.cli.common import progress_bar
    from clearing.scenario import load_scenario

    if args.plot:
        if args.scenario or args.grid:
            raise ConfigError("--plot DIR redraws an existing sweep; give no scenario or --grid with it")
        plots = sweep.plot(Path(args.plot))
        if args.json:
            print(json.dumps({"plots": [str(p) for p in plots]}))
            return 0
        for path in plots:
            print(f"plot: {path}")
        return 0
    if not args.scenario or not args.out:
        raise ConfigError("sweep needs a SCENARIO and --out DIR (or --plot DIR)")
    if not args.grid:
        raise ConfigError("sweep needs at least one --grid dotted.key=v1,v2,...")
    if args.workers is not None and args.workers < 1:
        raise ConfigError(f"--workers {args.workers}: expected at least 1")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: exists and is not a directory")
    grid = sweep.parse_grid(args.grid)
    tasks = sweep.plan(args.scenario, grid, args.seeds, args.seed, args.set or (), out, not args.no_logs, args.data_dir)
    manifest = {
        "scenario": str(args.scenario), "grid": grid, "seeds": args.seeds, "baseseed": args.seed,
        "set": list(args.set or ()), "runs": len(tasks), "logs": not args.no_logs,
    }  # fmt: skip
    base = load_scenario(args.scenario, args.set or ())
    for note in sweep.inert_keys(base, [key for key, _ in grid]):
        print(f"clearing: note: {note}; its runs will differ by their seeds only", file=sys.stderr)
    workers = args.workers or sweep.default_workers()
    where = args.scheduler or f"{workers} local worker(s)"
    if not args.json:
        print(f"sweep: {len(tasks)} runs ({len(tasks) // args.seeds} grid points x {args.seeds} seeds) on {where} -> {out}")
    try:
        with progress_bar(args.progress, "sweep", lambda done, total: f"{done}/{total} runs") as progress:
            counts = sweep.run_sweep(tasks, out, manifest, workers, args.scheduler, progress)
    except KeyboardInterrupt:
        print(f"clearing: interrupted; the runs done are kept in {out / sweep.RESULTS}; run again to resume", file=sys.stderr)
        return 130
    keys = [key for key, _ in grid]
    table = sweep.summarise(out, keys)
    if args.json:
        plots = sweep.plot(out) if counts["complete"] + counts["skipped"] else []
        print(json.dumps({"runs": counts, "results": str(out / sweep.RESULTS), "csv": str(out / "results.csv"),
                          "plots": [str(p) for p in plots],
                          "grid_points": [{**{k: sweep.swept_value(str(row[k])) for k in keys},
                                           **{k: v for k, v in row.items() if k not in keys}} for row in table]}))  # fmt: skip
        if counts["failed"]:
            raise SweepRunsFailedError(
                f"{counts['failed']} run(s) failed; their errors are in {out / sweep.RESULTS} (status 'failed')"
            )
        return 0
    if table:
        header = [*keys, "runs", *sweep.PLOTTED]
        print("  ".join(f"{h:>18}" for h in header))
        for row in table:
            print("  ".join(f"{row[h]:>18.6g}" if isinstance(row[h], float) else f"{row[h]!s:>18}" for h in header))
    plots = sweep.plot(out) if counts["complete"] + counts["skipped"] else []
    print(f"runs: {counts['complete']} done, {counts['skipped']} already done, {counts['failed']} failed")
    print(f"results: {out / sweep.RESULTS}, {out / 'results.csv'}")
    for path in plots:
        print(f"plot: {path}")
    if counts["failed"]:
        raise SweepRunsFailedError(
            f"{counts['failed']} run(s) failed; their errors are in {out / sweep.RESULTS} (status 'failed')"
        )
    return 0


class SweepRunsFailedError(ClearingError):
    """Some runs of a sweep raised (recorded in results.sqlite); exit 2."""


def add_sweep_commands(subparsers: Any) -> None:
    """Add `sweep` to the main parser."""
    from clearing.cli.common import add_progress_argument, seed

    p = subparsers.add_parser(
        "sweep", help="re-clear a scenario over a grid of settings and seeds, in parallel",
        description="Run SCENARIO for every combination of the --grid values, --seeds times each, on local "
        "worker processes or a Dask cluster; resumable. Or redraw a sweep's plots with --plot DIR.",
    )  # fmt: skip
    p.add_argument("scenario", nargs="?", help="scenario TOML file")
    p.add_argument("--grid", action="append", metavar="KEY=V1,V2,...", help="a swept setting and its values (repeatable)")
    p.add_argument("--seeds", type=int, default=1, help="replications per grid point (default 1)")
    p.add_argument("--seed", type=seed, default=0, help="base seed the replications' seeds derive from (default 0)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a scenario value in every run (repeatable)")
    p.add_argument("--workers", type=int, help="local worker processes (default: the CPUs available)")
    p.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="run on this Dask scheduler instead (needs clearing[dask])")
    p.add_argument("--out", help="the sweep directory (results.sqlite, results.csv, logs/, plots)")
    p.add_argument("--no-logs", action="store_true", help="keep only the results, not each run's event log")
    p.add_argument("--plot", metavar="DIR", help="redraw the plots of the sweep in DIR and exit")
    p.add_argument("--json", action="store_true",
                   help="print the counts, files and the table per grid point (swept values as numbers) as one JSON object")
    add_progress_argument(p)
    p.set_defaults(func=cmd_sweep)
