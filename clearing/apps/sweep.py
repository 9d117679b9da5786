"""Parameter sweeps: one scenario re-cleared over a grid of overrides times replications.

A sweep expands `--grid key=v1,v2,...` options into their cartesian product and runs every
grid point once per replication, on a local process pool or a Dask cluster. Each run is
identified by its config hash, the run id of its log (`clearing.log.verify.run_id_for`:
scenario, seed, input files), so a sweep resumes by skipping the runs already in
`DIR/results.sqlite`. Replication r of every grid point gets the same seed, derived from
the base seed and r (common random numbers: the points of a replication differ by their
parameters only, and the replications by their seeds).

Files in DIR: `sweep.json` (what was asked), `results.sqlite` (table `runs`, a row per run:
parameters, replication, seed, config hash, status, metrics, log path), `results.csv` (the
same rows), `logs/` (one event log per run unless `--no-logs`) and the plots `*.png`.
"""

from __future__ import annotations

import csv
import itertools
import json
import math
import os
import time
from collections.abc import Callable, Generator, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import sqlite_utils

from clearing.errors import ConfigError
from clearing.scenario import Scenario, load_scenario

RESULTS = "results.sqlite"
MANIFEST = "sweep.json"
# The metrics plotted against each swept parameter, with their axis labels.
PLOTTED = {
    "bad_debt": "bad debt (quote)",
    "liquidations": "liquidations",
    "insurance_fund_min": "insurance fund minimum (quote)",
    "adl_notional": "ADL notional (quote)",
}
# Summary fields stored per run: exact decimal strings become REAL columns for queries and
# plots (the exact values stay in the run's log and in the `summary` JSON column).
METRICS = (
    "events", "margin_breaches", "liquidations", "liquidated_notional", "bad_debt", "insurance_fund_min",
    "insurance_fund_end", "insurance_paid", "adl_events", "adl_notional", "socialised_loss", "max_liquidation_backlog",
    "max_queue_wait_s", "oracle_lag_at_liquidation_mean_s", "oracle_lag_at_liquidation_max_s",
)  # fmt: skip


@dataclass(frozen=True)
class Task:
    """One run of a sweep: everything a worker needs (plain data, picklable)."""

    run_id: str
    params: tuple[tuple[str, str], ...]  # (dotted key, value as given), in grid order
    replication: int
    seed: int
    scenario_json: str
    log_path: str  # "" for no log
    data_dir: str | None


def parse_grid(options: Sequence[str]) -> list[tuple[str, list[str]]]:
    """Return [(dotted key, [values...]), ...] from `--grid key=v1,v2` options.

    Raises:
        ConfigError: an option without `=`, an empty value, or a key given twice.
    """
    grid: list[tuple[str, list[str]]] = []
    for option in options:
        key, sep, values = option.partition("=")
        key = key.strip()
        items = [v.strip() for v in values.split(",")]
        if not sep or not key or not all(items):
            raise ConfigError(f"--grid {option!r}: expected dotted.key=v1,v2,... with no empty value")
        if any(key == k for k, _ in grid):
            raise ConfigError(f"--grid {key}: given twice; list all its values in one --grid")
        if len(set(items)) != len(items):
            raise ConfigError(f"--grid {option!r}: a value is repeated")
        grid.append((key, items))
    return grid


# Swept keys that cannot change a run under some settings: (key, setting, values it acts under).
_INERT = (
    ("oracle.heartbeat_s", "policy", ("push",)),
    ("oracle.deviation", "policy", ("push",)),
    ("oracle.inclusion_delay_ms", "policy", ("push",)),
    ("oracle.pull_interval_ms", "policy", ("pull",)),
    ("oracle.max_age_s", "policy", ("pull",)),
)


def inert_keys(scenario: Scenario, keys: Iterable[str]) -> list[str]:
    """Return a note for each swept key that has no effect on `scenario` (its oracle policy ignores it)."""
    notes = []
    for key, setting, acts_under in _INERT:
        value = getattr(scenario.oracle, setting)
        if key in keys and value not in acts_under:
            notes.append(f"{key} has no effect under oracle.{setting} = {value!r} (only {', '.join(acts_under)} reads it)")
    return notes


def replication_seed(base_seed: int, replication: int) -> int:
    """Return the seed of replication `replication`: SeedSequence([base, r]) folded to [0, 2**63)."""
    words = np.random.SeedSequence([base_seed, replication]).generate_state(2, np.uint32)
    return (int(words[0]) << 31 | int(words[1]) >> 1) & (2**63 - 1)


def plan(
    scenario_path: str | Path,
    grid: list[tuple[str, list[str]]],
    seeds: int,
    base_seed: int,
    overrides: Sequence[str],
    out: Path,
    logs: bool,
    data_dir: str | None,
) -> list[Task]:
    """Return every run of the sweep, grid point by grid point, replications inside.

    Every grid point's scenario is loaded and validated here, before anything runs.

    Raises:
        ConfigError: a bad scenario, override or grid value (naming it).
    """
    from clearing.data.inputs import input_hashes, resolve_inputs
    from clearing.log.verify import run_id_for

    if seeds < 1:
        raise ConfigError(f"--seeds {seeds}: expected at least 1")
    out = out.absolute()  # workers elsewhere (a Dask cluster) write where this process means
    data_dir = str(Path(data_dir).absolute()) if data_dir else data_dir
    tasks = []
    seen: dict[str, str] = {}  # scenario hash -> the grid point that gave it
    keys = [key for key, _ in grid]
    for values in itertools.product(*(values for _, values in grid)):
        point = [f"{k}={v}" for k, v in zip(keys, values, strict=True)]
        try:
            scenario = load_scenario(scenario_path, [*overrides, *point])
        except ConfigError as e:  # name the grid value as the user gave it
            message = str(e)
            for text in point:
                message = message.replace(f"--set {text}", f"--grid {text}")
            raise ConfigError(message) from None
        inputs = resolve_inputs(scenario, data_dir)
        inputs_json = json.dumps(input_hashes(inputs), sort_keys=True)
        scenario_json, scenario_hash = scenario.canonical_json(), scenario.hash()
        point_text = " ".join(point) or "(no grid)"
        if scenario_hash in seen:
            raise ConfigError(f"--grid points {seen[scenario_hash]} and {point_text} are the same scenario; drop one")
        seen[scenario_hash] = point_text
        for r in range(seeds):
            seed = replication_seed(base_seed, r)
            run_id = run_id_for(scenario_hash, seed, inputs_json)
            log_path = str(out / "logs" / f"{run_id}.sqlite") if logs else ""
            tasks.append(Task(run_id, tuple(zip(keys, values, strict=True)), r, seed, scenario_json, log_path, data_dir))
    return tasks


def run_task(task: Task) -> dict[str, Any]:
    """Run one task (in a worker) and return its result row: parameters, seed, metrics, status.

    The log is written atomically (nothing is left of a run that failed) and replaces a log
    of the same run id a resumed sweep finds there (never a file that is not an event log).
    """
    from clearing.apps.run import run_scenario, run_unlogged

    start = time.perf_counter()
    row = _row(task)
    try:
        scenario = Scenario.model_validate_json(task.scenario_json)
        if task.log_path:
            summary = run_scenario(scenario, task.seed, Path(task.log_path), data_dir=task.data_dir, overwrite=True, atomic=True)
        else:
            summary = run_unlogged(scenario, task.seed, task.data_dir)
    except Exception as e:  # the sweep goes on; the row says what failed
        return _failed_row(task, f"{type(e).__name__}: {e}", time.perf_counter() - start)
    values = summary.as_dict()
    metrics = {name: values[name] if isinstance(values[name], int | float) else float(values[name]) for name in METRICS}
    return {
        **row, "status": "complete", "error": "", **metrics, "head_hash": summary.head_hash, "log": task.log_path,
        "wall_s": round(time.perf_counter() - start, 3), "summary": json.dumps(values),
    }  # fmt: skip


def _row(task: Task) -> dict[str, Any]:
    # The columns every result row has: the config hash, the parameters, replication and seed.
    return {
        "run_id": task.run_id, "replication": task.replication, "seed": task.seed, "params": json.dumps(dict(task.params)),
        **dict(task.params),
    }  # fmt: skip


def _failed_row(task: Task, error: str, wall_s: float) -> dict[str, Any]:
    return {**_row(task), "status": "failed", "error": error, "wall_s": round(wall_s, 3)}


# Executors ------------------------------------------------------------------------------


def _local(tasks: list[Task], workers: int) -> Generator[dict[str, Any], None, None]:
    # At most two tasks a worker in flight: the parent holds a bounded number of futures,
    # and each worker process is replaced after a few runs (memory stays flat).
    with ProcessPoolExecutor(max_workers=workers, max_tasks_per_child=25) as pool:
        yield from _bounded(tasks, lambda t: pool.submit(run_task, t), 2 * workers)


def connect(scheduler: str) -> Any:
    """Return a Dask client of `scheduler`.

    Raises:
        ConfigError: Dask is not installed, or the scheduler cannot be reached.
    """
    try:
        from distributed import Client
    except ImportError:
        raise ConfigError("--scheduler needs Dask: pip install 'clearing[dask]'") from None
    try:
        return Client(scheduler, timeout="5s")
    except (OSError, TimeoutError) as e:
        raise ConfigError(f"--scheduler {scheduler}: cannot connect ({e})") from None


def _dask(tasks: list[Task], client: Any) -> Generator[dict[str, Any], None, None]:
    workers = max(1, sum(client.nthreads().values()))
    yield from _bounded(tasks, lambda t: client.submit(run_task, t, key=f"clearing-run-{t.run_id}", pure=False), 2 * workers)


def _bounded(tasks: list[Task], submit: Callable[[Task], Any], window: int) -> Generator[dict[str, Any], None, None]:
    # Yields each result as it arrives. A worker that dies (killed, out of memory) fails
    # its task, not the sweep.
    pending = iter(tasks)
    running: dict[Any, Task] = {}
    try:
        for task in itertools.islice(pending, window):
            running[submit(task)] = task
        while running:
            for future in _wait_any(set(running)):
                task = running.pop(future)
                try:
                    row = future.result()
                except Exception as e:
                    row = _failed_row(task, f"the worker failed: {type(e).__name__}: {e}", 0.0)
                yield row
                nxt = next(pending, None)
                if nxt is not None:
                    running[submit(nxt)] = nxt
    finally:
        for future in running:
            future.cancel()


def _wait_any(futures: set[Any]) -> set[Any]:
    sample = next(iter(futures))
    if isinstance(sample, Future):
        done, _ = wait(futures, return_when=FIRST_COMPLETED)
        return done
    from distributed import wait as dask_wait

    result = dask_wait(list(futures), return_when="FIRST_COMPLETED")
    return set(result.done)


# The sweep ------------------------------------------------------------------------------


def open_results(out: Path) -> sqlite_utils.Database:
    """Open (creating) DIR/results.sqlite."""
    return sqlite_utils.Database(out / RESULTS)


def complete_rows(out: Path) -> list[dict[str, Any]]:
    """Return the rows of the complete runs in DIR/results.sqlite (none when it has no table yet)."""
    db = open_results(out)
    try:
        if "runs" not in db.table_names():
            return []
        return list(db.query("SELECT * FROM runs WHERE status = 'complete' ORDER BY params, replication"))
    finally:
        db.close()


def done_ids(db: sqlite_utils.Database) -> set[str]:
    """Return the config hashes of the runs already complete."""
    if "runs" not in db.table_names():
        return set()
    return {row["run_id"] for row in db.query("SELECT run_id FROM runs WHERE status = 'complete'")}


def run_sweep(
    tasks: list[Task],
    out: Path,
    manifest: dict[str, Any],
    workers: int = 1,
    scheduler: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, int]:
    """Run the tasks not yet done in `out`, recording each result as it arrives.

    Returns counts: total, skipped (already done), complete, failed.
    """
    client = connect(scheduler) if scheduler else None  # before anything is written
    try:
        try:
            out.mkdir(parents=True, exist_ok=True)
            if any(t.log_path for t in tasks):
                (out / "logs").mkdir(exist_ok=True)
            (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        except OSError as e:
            raise ConfigError(f"--out {out}: cannot write the sweep there ({e.strerror or e})") from None
        db = open_results(out)
        try:
            done = done_ids(db)
            todo = [t for t in tasks if t.run_id not in done]
            counts = {"total": len(tasks), "skipped": len(tasks) - len(todo), "complete": 0, "failed": 0}
            if progress:
                progress(counts["skipped"], len(tasks))
            with closing(_dask(todo, client) if client is not None else _local(todo, workers)) as results:
                for row in results:
                    db.table("runs").upsert(row, pk="run_id", alter=True)
                    counts[row["status"]] += 1
                    if progress:
                        progress(counts["skipped"] + counts["complete"] + counts["failed"], len(tasks))
        finally:
            write_csv(db, out / "results.csv")
            db.close()
    finally:
        if client is not None:
            client.close()
    return counts


def write_csv(db: sqlite_utils.Database, path: Path) -> None:
    """Write the `runs` table (without the summary JSON) to `path`, atomically."""
    if "runs" not in db.table_names():
        return
    columns = [c.name for c in db["runs"].columns if c.name != "summary"]
    partial = path.with_name(path.name + ".partial")
    with partial.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        quoted = ", ".join(f'"{c}"' for c in columns)
        for row in db.execute(f"SELECT {quoted} FROM runs ORDER BY params, replication").fetchall():
            writer.writerow(row)
    partial.replace(path)


# Plots ----------------------------------------------------------------------------------


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _order(text: str) -> tuple[bool, float, str]:
    # Numbers in numeric order, then other values in text order.
    number = _number(text)
    return (number is None, number or 0.0, text)


def plot(out: Path) -> list[Path]:
    """Draw each plotted metric against each swept parameter into DIR; return the PNG paths.

    For each parameter: one line per combination of the other parameters (the mean over
    seeds), with the band from the lowest to the highest seed and the seeds as dots.

    Raises:
        ConfigError: DIR has no sweep results.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    manifest_path, results = out / MANIFEST, out / RESULTS
    if not manifest_path.is_file() or not results.is_file():
        raise ConfigError(f"{out}: not a sweep directory (no {MANIFEST} or {RESULTS})")
    try:
        manifest = json.loads(manifest_path.read_text())
        keys = [key for key, _values in manifest["grid"]]
    except (ValueError, KeyError, TypeError) as e:
        raise ConfigError(f"{manifest_path}: unreadable sweep manifest ({e})") from None
    rows = complete_rows(out)
    if not rows:
        raise ConfigError(f"{results}: no complete run to plot")
    written = []
    for key in keys:
        others = [k for k in keys if k != key]
        series: dict[tuple[str, ...], dict[str, list[dict[str, Any]]]] = {}
        for r in rows:
            params = json.loads(r["params"])
            if key not in params:
                continue
            series.setdefault(tuple(params.get(k, "") for k in others), {}).setdefault(params[key], []).append(r)
        if not series:
            continue
        xs_all = sorted({x for s in series.values() for x in s}, key=_order)
        numeric = all(_number(x) is not None for x in xs_all)
        fig, axes = plt.subplots(2, 2, figsize=(11, 7.5), constrained_layout=True)
        for ax, (metric, label) in zip(axes.flat, PLOTTED.items(), strict=True):
            for combo, points in sorted(series.items(), key=lambda item: [_order(v) for v in item[0]]):
                xs = [x for x in xs_all if x in points]
                pos = [_number(x) if numeric else xs_all.index(x) for x in xs]
                values = [[float(r[metric]) for r in points[x]] for x in xs]
                name = ", ".join(f"{k}={v}" for k, v in zip(others, combo, strict=True)) or "mean over seeds"
                line = ax.plot(pos, [float(np.mean(v)) for v in values], marker="o", label=name)[0]
                ax.fill_between(pos, [min(v) for v in values], [max(v) for v in values], color=line.get_color(), alpha=0.15)
                for p, v in zip(pos, values, strict=True):
                    ax.scatter([p] * len(v), v, s=8, color=line.get_color(), alpha=0.5)
            if numeric and min(_number(x) or 0 for x in xs_all) > 0 and len(xs_all) > 2:
                lo, hi = _number(xs_all[0]) or 1, _number(xs_all[-1]) or 1
                if hi / lo >= 100:
                    ax.set_xscale("log")
            if not numeric:
                ax.set_xticks(range(len(xs_all)), xs_all)
            ax.set_xlabel(key)
            ax.set_ylabel(label)
            ax.grid(alpha=0.3)
        seeds = max(len(v) for s in series.values() for v in s.values())
        fig.suptitle(f"{Path(manifest.get('scenario', '')).name}: metrics against {key} "
                     f"(line: mean; band: min-max over {seeds} seed(s))", fontsize=10)  # fmt: skip
        handles, labels = axes.flat[0].get_legend_handles_labels()
        if len(labels) > 1 or others:
            axes.flat[0].legend(handles, labels, fontsize=7)
        path = out / f"{key.replace('.', '_')}.png"
        partial = path.with_name(path.name + ".partial.png")
        fig.savefig(partial, dpi=110)
        plt.close(fig)
        partial.replace(path)
        written.append(path)
    return written


def summarise(out: Path, keys: Iterable[str]) -> list[dict[str, Any]]:
    """Return, per grid point, the mean of the plotted metrics over its complete runs."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in complete_rows(out):
        groups.setdefault(r["params"], []).append(r)
    table = []
    for params, runs in groups.items():
        p = json.loads(params)
        table.append({**{k: p.get(k, "") for k in keys}, "runs": len(runs),
                      **{m: float(np.mean([r[m] for r in runs])) for m in PLOTTED}})  # fmt: skip
    return sorted(table, key=lambda row: [_order(str(row[k])) for k in keys])


def default_workers() -> int:
    """Return the CPUs this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
