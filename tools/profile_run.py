"""Where a run's time goes, per SimPy process: a scenario run under cProfile, its time split by process.

    python tools/profile_run.py SCENARIO [--set KEY=VALUE ...] [--seed N] [--no-log] [--top K] [--json]

The run writes its log to a temporary file (`--no-log`: keeps only the hash chain, as
`clearing sweep --no-logs` does) and is profiled with cProfile, which slows it about twofold
evenly enough for shares. Each SimPy process is a generator function of `clearing.sim` (a
function whose body yields); cProfile charges each resumption of one, and what it calls
until it yields again, to that function, so its cumulative time is the process's. Processes
that run inside another (a `yield from`, a `_delayed` start) are listed on their own and
also inside the outer one: the shares may add up to more than the whole. Beside them the
table shows the parts every process shares: the log (`EventLog` appends and commits), the
reducers (`apply`), the state digests of checkpoints and snapshots, and SimPy's scheduler
(the time spent in SimPy's own code).

The fast build is profiled when it is first on the path (`PYTHONPATH=build/fast python -P
tools/profile_run.py ...`); a compiled module's functions are not seen by cProfile, only its
Python callers and callees, so profile the pure build for the split.
"""

from __future__ import annotations

import argparse
import ast
import cProfile
import json
import pstats
import sys
import tempfile
import time
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = {  # (file suffix, function name) -> the part of the run it stands for
    ("clearing/log/writer.py", "append"): "log: hash chain and row",
    ("clearing/log/writer.py", "_commit"): "log: SQLite commit",
    ("clearing/core/state/apply.py", "apply"): "reducers (apply)",
    ("clearing/core/state/state.py", "digest"): "state digests (checkpoints)",
    ("clearing/core/state/snapshot.py", "dump"): "state snapshots",
}


@cache
def _generators(path: str) -> frozenset[tuple[int, str]]:
    # The (first line, name) of every generator function defined in the file at `path`.
    try:
        tree = ast.parse(Path(path).read_text())
    except (OSError, SyntaxError):
        return frozenset()
    return frozenset((n.lineno, n.name) for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and _yields(n))


def _yields(node: ast.AST) -> bool:
    # Whether `node` yields itself (a yield in a function or lambda defined inside it is that one's).
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.Yield, ast.YieldFrom)):
            return True
        if not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)) and _yields(child):
            return True
    return False


def split(stats: pstats.Stats) -> tuple[float, list[tuple[str, float]], list[tuple[str, float]]]:
    """Return the profile's total seconds, the processes' (name, seconds) and the shared parts' (name, seconds)."""
    raw = stats.stats  # type: ignore[attr-defined]  # {(file, line, name): (cc, nc, tt, ct, callers)}
    total = max(ct for (_f, _l, _n), (_cc, _nc, _tt, ct, _c) in raw.items())
    processes: dict[str, float] = {}
    shared: dict[str, float] = {}
    for (file, line, name), (_cc, _nc, _tt, ct, _callers) in raw.items():
        path = file.replace("\\", "/")
        if "/clearing/sim/" in path and (line, name) in _generators(file):
            processes[f"{Path(path).stem}.{name}"] = processes.get(f"{Path(path).stem}.{name}", 0.0) + ct
        for (suffix, function), part in SHARED.items():
            if path.endswith(suffix) and name == function:
                shared[part] = shared.get(part, 0.0) + ct
    shared["SimPy's own code (scheduler, events, resumptions)"] = sum(
        tt for (file, _l, _n), (_cc, _nc, tt, _ct, _c) in raw.items() if "/simpy/" in file.replace("\\", "/"))
    return total, sorted(processes.items(), key=lambda x: -x[1]), sorted(shared.items(), key=lambda x: -x[1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("scenario", type=Path)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-log", action="store_true", help="keep only the hash chain (no file)")
    parser.add_argument("--top", type=int, default=15, help="processes shown (default 15)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--save", type=Path, help="also write the profile here (for pstats, snakeviz)")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from clearing.apps.run import run_scenario, run_unlogged
    from clearing.errors import ConfigError
    from clearing.scenario import load_scenario

    try:
        scenario = load_scenario(args.scenario, args.set)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    profiler = cProfile.Profile()
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        profiler.enable()
        if args.no_log:
            summary = run_unlogged(scenario, args.seed)
        else:
            summary = run_scenario(scenario, args.seed, Path(tmp) / "profiled.sqlite")
        profiler.disable()
        wall = time.perf_counter() - start
    if args.save:
        profiler.dump_stats(args.save)
    total, processes, shared = split(pstats.Stats(profiler))
    result = {"scenario": str(args.scenario), "settings": args.set, "log": not args.no_log, "events": summary.events,
              "sim_seconds": summary.sim_seconds, "profiled_wall_s": round(wall, 2),
              "processes": {name: round(s / total, 6) for name, s in processes[: args.top]},
              "shared": {name: round(s / total, 6) for name, s in shared}}  # fmt: skip
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"{args.scenario} {' '.join(args.set)}: {summary.events:,} events, {summary.sim_seconds:,.0f} simulated s, "
          f"{wall:.1f} s under the profiler")  # fmt: skip
    print(f"{'process (cumulative, share of the run)':<60} share")
    for name, seconds in processes[: args.top]:
        print(f"{name:<60} {seconds / total:6.1%}")
    print(f"{'shared parts':<60}")
    for name, seconds in shared:
        print(f"{name:<60} {seconds / total:6.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
