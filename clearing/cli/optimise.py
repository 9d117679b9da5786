"""The `clearing optimise` command: search a scenario's parameters for the least margin under a bad-debt bound.

Registered into the main parser by `add_optimise_commands(subparsers)`. Problems with the
input are raised as ClearingError for `clearing.cli.app.main` to report in one line (exit 2).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from clearing.errors import ConfigError


def cmd_optimise(args: argparse.Namespace) -> int:
    """Run (or resume, or extend) the study in --out and print its trials, Pareto front and best point."""
    from clearing.apps import optimise as opt
    from clearing.apps.sweep import default_workers
    from clearing.cli.common import progress_bar

    if args.workers is not None and args.workers < 1:
        raise ConfigError(f"--workers {args.workers}: expected at least 1")
    if args.seeds < 1:
        raise ConfigError(f"--seeds {args.seeds}: expected at least 1")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: exists and is not a directory")
    workers = args.workers or default_workers()
    objective = opt.parse_objective(args.objective)
    constraints = [opt.parse_constraint(c) for c in args.constraint or ()]
    batch = args.batch or max(1, workers if not args.scheduler else 4)
    if batch < 1:
        raise ConfigError(f"--batch {batch}: expected at least 1")
    data_dir = str(Path(args.data_dir).absolute()) if args.data_dir else None
    study = opt.Study(tuple(str(Path(s)) for s in args.scenario), tuple(opt.parse_space(args.space or ())), objective,
                      tuple(constraints), args.seeds, args.seed, tuple(args.set or ()), batch, data_dir)  # fmt: skip
    runs = len(study.scenarios) * study.seeds
    where = args.scheduler or f"{workers} local worker(s)"
    def started() -> None:
        print(f"optimise: {args.trials} trials x {runs} runs ({len(study.scenarios)} scenario(s) x {study.seeds} seeds), "
              f"{batch} trials at a time on {where} -> {out}", file=sys.stderr)  # fmt: skip

    try:
        with progress_bar(args.progress, "optimise", lambda done, total: f"{done}/{total} trials") as progress:
            trials = opt.run_study(study, out, args.trials, workers, args.scheduler, progress, started)
    except KeyboardInterrupt:
        print(f"clearing: interrupted; the finished trials are kept in {out}; run again to resume", file=sys.stderr)
        return 130
    front = opt.pareto_front(trials, objective.maximise)
    picture = opt.plot(out, trials, objective, constraints)
    result = _result(study, trials, front, out, picture)
    print(json.dumps(result) if args.json else _text(result, study))
    return 0


def _result(study: Any, trials: list[Any], front: list[Any], out: Path, picture: Path | None) -> dict[str, Any]:
    keys = [d.key for d in study.space]
    best = front[0] if front else None
    return {
        "objective": study.objective.describe(), "constraints": [c.describe() for c in study.constraints],
        "trials": [{"number": t.number, "params": t.params, "objective": t.objective, "worst": t.worst,
                    "feasible": t.feasible, "state": t.state, "error": t.error} for t in trials],
        "pareto_front": [t.number for t in front],
        "best": None if best is None else {"number": best.number, "params": best.params, "objective": best.objective,
                                           "worst": best.worst},
        "keys": keys, "out": str(out), "plot": str(picture) if picture else None,
    }  # fmt: skip


def _text(result: dict[str, Any], study: Any) -> str:
    keys, constrained = result["keys"], [c.metric for c in study.constraints]
    header = ["trial", *keys, study.objective.metric, *(f"worst {m}" for m in constrained), "bounds"]
    rows = [header]
    front = set(result["pareto_front"])
    for t in result["trials"]:
        if t["state"] != "complete":
            rows.append([str(t["number"]), *(t["params"].get(k, "") for k in keys), "-", *(["-"] * len(constrained)),
                         "failed (below)"])  # fmt: skip
            continue
        mark = "held" + (", front" if t["number"] in front else "") if t["feasible"] else "broken"
        rows.append([str(t["number"]), *(t["params"][k] for k in keys), f"{t['objective']:.6g}",
                     *(f"{t['worst'][m]:.6g}" for m in constrained), mark])  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(v.rjust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines += [f"trial {t['number']} failed: {t['error']}" for t in result["trials"] if t["state"] != "complete"]
    best = result["best"]
    if best is None:
        lines.append("best: no trial holds every bound" + (f" ({', '.join(result['constraints'])})" if constrained else ""))
    else:
        settings = " ".join(f"{k}={v}" for k, v in best["params"].items())
        lines.append(f"best: trial {best['number']}: {settings}: {study.objective.metric} {best['objective']:.6g}"
                     + "".join(f", worst {m} {best['worst'][m]:.6g}" for m in constrained))  # fmt: skip
    lines.append(f"results: {Path(result['out']) / 'study.db'}, {Path(result['out']) / 'results.sqlite'}")
    if result["plot"]:
        lines.append(f"plot: {result['plot']}")
    return "\n".join(lines)


def add_optimise_commands(subparsers: Any) -> None:
    """Add `optimise` to the main parser."""
    from clearing.cli.common import add_progress_argument, seed

    p = subparsers.add_parser(
        "optimise", help="search a scenario's parameters for the least margin that keeps bad debt under a bound",
        description="Search the --space of scenario settings with Optuna (multi-objective TPE) for the best "
        "--objective (default: the least margin) subject to --constraint bounds held in every run, re-clearing "
        "each proposed point over every SCENARIO and --seeds seeds on local workers or a Dask cluster. "
        "Resumable: run again with the same arguments (or more --trials) to go on.",
    )  # fmt: skip
    p.add_argument("scenario", nargs="+", help="scenario TOML file(s): each trial re-clears every one (e.g. crash days)")
    p.add_argument("--space", action="append", metavar="KEY=LO:HI[:log|:STEP]",
                   help="a searched setting: a range (integers when both bounds are), on a log scale or a grid of "
                   "STEP; or KEY=A,B,C (repeatable)")  # fmt: skip
    p.add_argument("--objective", default="margin", metavar="METRIC[:min|max]",
                   help="what to optimise, its mean over the runs (default margin: the traders' requirement once in)")
    p.add_argument("--constraint", action="append", metavar="METRIC<=BOUND",
                   help="a bound every run must hold, e.g. bad_debt<=100000 (quote) (repeatable)")
    p.add_argument("--trials", type=int, default=20, help="trials the study should have finished (default 20)")
    p.add_argument("--batch", type=int, help="trials run at a time (default: the workers; part of the study's identity)")
    p.add_argument("--seeds", type=int, default=1, help="seeds per scenario per trial (default 1)")
    p.add_argument("--seed", type=seed, default=0, help="base seed of the runs and of the sampler (default 0)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a scenario value in every run (repeatable)")
    p.add_argument("--workers", type=int, help="local worker processes (default: the CPUs available)")
    p.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="run on this Dask scheduler instead (needs clearing[dask])")
    p.add_argument("--out", required=True, help="the study directory (study.db, results.sqlite, optimise.json, pareto.png)")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    add_progress_argument(p)
    p.set_defaults(func=cmd_optimise)
