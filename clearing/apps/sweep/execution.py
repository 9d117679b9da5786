"""Running a sweep's tasks: each through the one run lifecycle, on a local process pool or a Dask cluster.

A task is a plain `Task`, sent to a worker as JSON bytes with its runner by name
(`remote_run`: nothing pickled but that function's name); its run writes its log atomically (`logs/<run id>.sqlite`,
renamed into place only when complete, replacing a log a resumed sweep left there) or keeps
only the hash chain, and returns its result row. A run that raises fails its row, not the
sweep; so does a worker that dies. Results are recorded as they arrive.
"""

from __future__ import annotations

import dataclasses
import importlib
import itertools
import json
import os
import time
from collections.abc import Callable, Generator, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import closing
from pathlib import Path
from typing import Any

import msgspec
import structlog

from clearing.apps.run import run_scenario, run_unlogged
from clearing.apps.sweep.plan import Task
from clearing.apps.sweep.results import MANIFEST, METRICS, done_ids, open_results, swept_value, write_csv
from clearing.errors import ConfigError
from clearing.scenario import Scenario

log = structlog.get_logger()


def run_task(task: Task) -> dict[str, Any]:
    """Run one task (in a worker) and return its result row: parameters, seed, metrics, status.

    The log is written atomically (nothing is left of a run that failed) and replaces a log
    of the same run id a resumed sweep finds there (never a file that is not an event log).
    """
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
        **{key: swept_value(value) for key, value in task.params},
    }  # fmt: skip


def _failed_row(task: Task, error: str, wall_s: float) -> dict[str, Any]:
    return {**_row(task), "status": "failed", "error": error, "wall_s": round(wall_s, 3)}


# Executors ------------------------------------------------------------------------------


Runner = Callable[[Task], dict[str, Any]]


def encode_task(task: Task) -> bytes:
    """Return a task as JSON bytes: what crosses to a worker (no pickled object)."""
    return msgspec.json.encode(dataclasses.asdict(task))


def decode_task(data: bytes) -> Task:
    """Return the task `encode_task` encoded (its fields checked by type)."""
    return msgspec.json.decode(data, type=Task)


def remote_run(runner: str, data: bytes) -> bytes:
    """Run one encoded task in a worker with the runner named `module:function` (in `clearing` only); return its row as
    JSON bytes.

    The pool and the cluster move only these: a function name, a string and bytes each way. Floats
    survive JSON exactly (shortest round-trip form), so a row is the one the runner returned.

    Raises:
        ValueError: a runner outside `clearing.apps`.
    """
    module, _, name = runner.partition(":")
    if not module.startswith("clearing.apps.") or not name.isidentifier():
        raise ValueError(f"runner {runner!r}: expected clearing.apps.<module>:<function>")
    run = getattr(importlib.import_module(module), name)
    return msgspec.json.encode(run(decode_task(data)))


def _runner_name(run: Runner) -> str:
    return f"{run.__module__}:{run.__qualname__}"


def _submit(submit: Callable[..., Any], run: Runner) -> Callable[[Task], Any]:
    # A task goes as JSON bytes, with its runner by name; the worker's row comes back as JSON bytes (`_row_of`).
    name = _runner_name(run)
    return lambda task: submit(remote_run, name, encode_task(task))


def _local(tasks: list[Task], workers: int, run: Runner) -> Generator[dict[str, Any], None, None]:
    # At most two tasks a worker in flight: the parent holds a bounded number of futures,
    # and each worker process is replaced after a few runs (memory stays flat).
    with ProcessPoolExecutor(max_workers=workers, max_tasks_per_child=25) as pool:
        yield from bounded(tasks, _submit(pool.submit, run), 2 * workers)


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


def _dask(tasks: list[Task], client: Any, run: Runner) -> Generator[dict[str, Any], None, None]:
    workers = max(1, sum(client.nthreads().values()))
    name = _runner_name(run)
    submit = lambda t: client.submit(remote_run, name, encode_task(t), key=f"clearing-run-{t.run_id}", pure=False)  # noqa: E731
    yield from bounded(tasks, submit, 2 * workers)


def bounded(tasks: list[Task], submit: Callable[[Task], Any], window: int) -> Generator[dict[str, Any], None, None]:
    """Yield each task's result row as it arrives, with at most `window` tasks submitted at a time.

    `submit(task)` returns a future (concurrent.futures or Dask). A worker that dies (killed,
    out of memory) fails its task's row, not the sweep.
    """
    pending = iter(tasks)
    running: dict[Any, Task] = {}
    try:
        for task in itertools.islice(pending, window):
            running[submit(task)] = task
        while running:
            for future in _wait_any(set(running)):
                task = running.pop(future)
                try:
                    row = _row_of(future.result())
                except Exception as e:
                    row = _failed_row(task, f"the worker failed: {type(e).__name__}: {e}", 0.0)
                yield row
                nxt = next(pending, None)
                if nxt is not None:
                    running[submit(nxt)] = nxt
    finally:
        for future in running:
            future.cancel()


def _row_of(result: bytes | dict[str, Any]) -> dict[str, Any]:
    # A worker's row: JSON bytes from `remote_run` (a dict from a future made some other way, as in tests).
    return result if isinstance(result, dict) else msgspec.json.decode(result)


def _wait_any(futures: set[Any]) -> set[Any]:
    sample = next(iter(futures))
    if isinstance(sample, Future):
        done, _ = wait(futures, return_when=FIRST_COMPLETED)
        return done
    from distributed import wait as dask_wait

    result = dask_wait(list(futures), return_when="FIRST_COMPLETED")
    return set(result.done)


# The sweep ------------------------------------------------------------------------------


def run_sweep(
    tasks: list[Task],
    out: Path,
    manifest: dict[str, Any] | None,
    workers: int = 1,
    scheduler: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    run: Runner = run_task,
) -> dict[str, int]:
    """Run the tasks not yet done in `out`, recording each result as it arrives.

    `manifest` is written to DIR/sweep.json (None: not written); `run` runs one task in a
    worker and returns its row (a top-level function, picklable). Returns counts: total,
    skipped (already done), complete, failed.
    """
    if manifest is not None:
        check_manifest(out, manifest)
    client = connect(scheduler) if scheduler else None  # before anything is written
    try:
        try:
            out.mkdir(parents=True, exist_ok=True)
            if any(t.log_path for t in tasks):
                (out / "logs").mkdir(exist_ok=True)
            if manifest is not None:
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
            with closing(_dask(todo, client, run) if client is not None else _local(todo, workers, run)) as results:
                for row in results:
                    db.table("runs").upsert(row, pk="run_id", alter=True)
                    log.info("sweep_run", sweep=str(out), run_id=row["run_id"], status=row["status"], seed=row["seed"],
                             params=row["params"], replication=row["replication"], wall_s=row.get("wall_s"),
                             error=row.get("error") or None, bad_debt=row.get("bad_debt"),
                             liquidations=row.get("liquidations"))  # fmt: skip
                    counts[row["status"]] += 1
                    if progress:
                        progress(counts["skipped"] + counts["complete"] + counts["failed"], len(tasks))
        finally:
            write_csv(db, out / "results.csv")
            db.close()
    finally:
        if client is not None:
            client.close()
    log.info("sweep_finished", sweep=str(out), **counts)
    return counts


# What identifies a sweep: another value in an existing DIR would mix two sweeps' results (more seeds only extend one).
_IDENTITY = ("scenario", "grid", "set", "baseseed", "logs")


def check_manifest(out: Path, manifest: dict[str, Any]) -> None:
    """Refuse an `out` that holds another sweep (`refuse_another`: scenario, grid, --set, base seed, logs)."""
    refuse_another(out, MANIFEST, manifest, _IDENTITY, "sweep")


def refuse_another(out: Path, file: str, manifest: dict[str, Any], identity: Iterable[str], what: str) -> None:
    """Refuse a directory whose manifest `file` differs from `manifest` in any `identity` key, or that holds other
    things and no manifest: two studies (sweeps, optimisations) never mix their results in one directory.

    Raises:
        ConfigError: naming the keys that differ, or saying the directory holds no `what`.
    """
    path = out / file
    if path.is_file():
        try:
            before = json.loads(path.read_text())
        except ValueError:
            raise ConfigError(f"{path}: unreadable; use a new --out") from None
        changed = [k for k in identity if json.dumps(before.get(k)) != json.dumps(manifest.get(k))]
        if changed:
            raise ConfigError(f"--out {out}: holds a {what} with other {', '.join(changed)}; use a new --out")
    elif out.is_dir() and any(out.iterdir()):
        raise ConfigError(f"--out {out}: exists and holds no {what}; use a new or empty directory")


def default_workers() -> int:
    """Return the CPUs this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
