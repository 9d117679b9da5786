"""The `clearing validate` command: run the crash days and set them beside what was reported.

Registered into the main parser by `add_validate_commands(subparsers)`. Problems with the
input are raised as ClearingError for `clearing.cli.app.main` to report in one line (exit 2);
`--check` exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from clearing.errors import ConfigError


def cmd_validate(args: argparse.Namespace) -> int:
    """Run the days (those not yet done in --out), print the table, write it (and --doc); --check: exit 1 on a miss."""
    from clearing.apps import validate
    from clearing.apps.sweep.execution import default_workers
    from clearing.apps.validate.table import verdicts
    from clearing.cli.common import progress_bar

    days = validate.load_reported()
    if args.days:
        known = [d.name for d in days]
        unknown = [name for name in args.days if name not in known]
        if unknown:
            raise ConfigError(f"--days {', '.join(unknown)}: not a crash day; known: {', '.join(known)}")
        days = [d for d in days if d.name in args.days]
    if args.workers is not None and args.workers < 1:
        raise ConfigError(f"--workers {args.workers}: expected at least 1")
    scenarios = Path(args.scenarios)
    if not scenarios.is_dir():
        raise ConfigError(f"--scenarios {scenarios}: no such folder (the crash days' scenario files)")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: exists and is not a directory")
    doc = Path(args.doc) if args.doc else None
    if doc is not None:
        from clearing.apps.validate.table import markers

        if not doc.is_file():
            raise ConfigError(f"--doc {doc}: no such file")
        begin, end = markers(args.block or ("sensitivity" if args.vary else ""))
        text = doc.read_text(encoding="utf-8")
        if begin not in text or end not in text:
            raise ConfigError(f"--doc {doc}: no block between {begin!r} and {end!r} to write the table into")
    workers = args.workers or default_workers()
    if args.vary:
        return _sensitivity(args, days, scenarios, out, doc, workers)
    if not args.json:
        print(f"validate: {len(days)} day(s) on {args.scheduler or f'{workers} local worker(s)'} -> {out}")
    try:
        with progress_bar(args.progress, "validate", lambda done, total: f"{done}/{total} days") as progress:
            counts = validate.validate(days, scenarios, out, args.seed, tuple(args.set or ()), args.data_dir, workers,
                                       args.scheduler, progress)  # fmt: skip
    except KeyboardInterrupt:
        print(f"clearing: interrupted; the days done are kept in {out}; run again to resume", file=sys.stderr)
        return 130
    if counts["failed"] and not counts["complete"] + counts["skipped"]:
        raise ConfigError(f"every day failed; their errors are in {out / 'results.sqlite'} (status 'failed')")
    plan = validate.plan(days, scenarios, out, args.seed, tuple(args.set or ()), args.data_dir)
    pairs = validate.results(days, out, {t.run_id for t in plan})
    table = validate.markdown(pairs)
    (out / "validation.md").write_text(table, encoding="utf-8")
    if doc is not None:
        validate.update_doc(doc, table, args.block)
    if args.json:
        print(json.dumps({"runs": counts, "table": str(out / "validation.md"), "doc": str(doc) if doc else None,
                          "days": [{"day": day.name, "reported": day.model_dump(mode="json"), "simulated": asdict(m),
                                    "peak_within_target": ok_peak, "share_within_target": ok_share}
                                   for (day, m), (ok_peak, ok_share) in zip(pairs, verdicts(pairs), strict=True)]}))  # fmt: skip
    else:
        print(table, end="")
        if doc is not None:
            print(f"doc: {doc}")
    if counts["failed"]:
        raise ConfigError(f"{counts['failed']} day(s) failed; their errors are in {out / 'results.sqlite'} (status 'failed')")
    missed = [d.name for (d, _m), (peak, share) in zip(pairs, verdicts(pairs), strict=True) if not (peak and share)]
    if args.check and missed:
        print(f"clearing: targets missed on {', '.join(missed)}", file=sys.stderr)
        return 1
    return 0


def _sensitivity(args: argparse.Namespace, days: list[Any], scenarios: Path, out: Path, doc: Path | None,
                 workers: int) -> int:  # fmt: skip
    # `--vary`: each day at its base and with each assumption at its low and high value, ranked (a tornado).
    from clearing.apps import validate
    from clearing.apps.sweep.execution import refuse_another, run_sweep
    from clearing.apps.validate import sensitivity
    from clearing.cli.common import progress_bar

    vary = sensitivity.parse_vary(args.vary)
    overrides = tuple(args.set or ())
    manifest = {"days": [d.name for d in days], "seed": args.seed, "set": list(overrides), "vary": vary}
    refuse_another(out, validate.MANIFEST, manifest, ("days", "seed", "set", "vary"), "sensitivity study")
    tasks = sensitivity.plan_sensitivity(days, scenarios, out, args.seed, overrides, vary, args.data_dir)
    validate.check_tapes(tasks)
    out.mkdir(parents=True, exist_ok=True)
    (out / validate.MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    if not args.json:
        print(f"validate: {len(tasks)} runs ({len(days)} day(s) x (1 + 2 x {len(vary)})) on "
              f"{args.scheduler or f'{workers} local worker(s)'} -> {out}")  # fmt: skip
    try:
        with progress_bar(args.progress, "sensitivity", lambda done, total: f"{done}/{total} runs") as progress:
            counts = run_sweep(tasks, out, None, workers, args.scheduler, progress, run=validate.run_day)
    except KeyboardInterrupt:
        print(f"clearing: interrupted; the runs done are kept in {out}; run again to resume", file=sys.stderr)
        return 130
    ranked = sensitivity.swings(days, out, vary)
    table = sensitivity.tornado_table(ranked)
    (out / "sensitivity.md").write_text(table, encoding="utf-8")
    plot = sensitivity.tornado_plot(ranked, out)
    if doc is not None:
        validate.update_doc(doc, table, args.block or "sensitivity")
    if args.json:
        print(json.dumps({"runs": counts, "table": str(out / "sensitivity.md"), "plot": str(plot),
                          "doc": str(doc) if doc else None, "ranked": ranked}))  # fmt: skip
    else:
        print(table, end="")
        print(f"plot: {plot}")
        if doc is not None:
            print(f"doc: {doc}")
    if counts["failed"]:
        raise ConfigError(f"{counts['failed']} run(s) failed; their errors are in {out / 'results.sqlite'} (status 'failed')")
    return 0


def add_validate_commands(subparsers: Any) -> None:
    """Add `validate` to the main parser."""
    from clearing.cli.common import add_progress_argument, seed

    p = subparsers.add_parser(
        "validate", help="run the five crash days and compare them with what was reported",
        description="Run each crash day's scenario (in parallel, resumable), measure it from its log and set it "
        "beside the reported liquidation peak, liquidated share of open interest, fund draw, ADL and funding, "
        "with every real figure's source.",
    )  # fmt: skip
    p.add_argument("--days", nargs="+", metavar="DAY", help="the days to run (default all five), e.g. 2021-05-19")
    p.add_argument("--scenarios", default="scenarios", help="the folder of the crash days' scenario files (default ./scenarios)")
    p.add_argument("--out", default="replays/validation", help="where the logs and results go (default replays/validation)")
    p.add_argument("--seed", type=seed, default=0, help="run seed (default 0)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a value in every day's scenario (repeatable)")
    p.add_argument("--workers", type=int, help="local worker processes (default: the CPUs available)")
    p.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="run on this Dask scheduler instead (needs clearing[dask])")
    p.add_argument("--doc", metavar="FILE", help="also write the table into FILE's generated block (docs/validation.md)")
    p.add_argument("--block", default="", metavar="NAME",
                   help="with --doc: the named generated block to write (default: the validation's, or 'sensitivity')")
    p.add_argument("--check", action="store_true", help="exit 1 when a day misses a target")
    p.add_argument("--vary", action="append", metavar="KEY=LOW,HIGH",
                   help="a sensitivity study instead: each day with KEY at LOW and at HIGH, one key at a time (repeatable)")
    p.add_argument("--json", action="store_true",
                   help="print the counts and each day's simulated and reported figures with the verdicts as one JSON object")
    add_progress_argument(p)
    p.set_defaults(func=cmd_validate)
