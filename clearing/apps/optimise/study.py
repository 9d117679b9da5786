"""A venue-parameter study: Optuna proposes scenario settings, the sweep machinery runs them, the log decides.

Each trial is one point of the search space (`space`): every scenario (crash day) is run
with the point's values as `--set` overrides, once per seed (the sweep's replication seeds),
on the local pool or a Dask cluster (`clearing.apps.sweep.run_sweep`, the runs recorded in
DIR/results.sqlite by their run id, so a point run before is not run again). The trial's
objective is the mean of its metric over those runs, each constraint's metric its worst run.
The study is multi-objective: the objective and every constrained metric, so its Pareto front
shows what each unit of margin buys in bad debt; Optuna's TPE sampler (multi-objective,
with the constraints: a trial is feasible when every run holds every bound) proposes the
points, in batches of `batch` trials run in parallel.

Reproducible and resumable: DIR/study.db is Optuna's SQLite storage; the sampler is
re-seeded before each batch from the base seed and the number of finished trials, so the
same arguments propose the same points whether a study ran at once or was stopped and
resumed (a trial stopped mid-batch is marked failed and proposed again). DIR/optimise.json
holds what was asked; a directory that holds a different study is refused.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from clearing.apps.optimise.metrics import Constraint, Objective, metric_values, parse_constraint, run_study_task
from clearing.apps.optimise.space import Dimension, suggest
from clearing.apps.sweep import Task, plan, refuse_another, replication_seed, run_sweep
from clearing.apps.sweep.results import open_results
from clearing.errors import ConfigError

MANIFEST = "optimise.json"
STORAGE = "study.db"
STUDY = "clearing"


class Study(NamedTuple):
    """What a study was asked: the scenarios, the space, what to optimise and bound, its runs."""

    scenarios: tuple[str, ...]
    space: tuple[Dimension, ...]
    objective: Objective
    constraints: tuple[Constraint, ...]
    seeds: int
    base_seed: int
    overrides: tuple[str, ...]
    batch: int
    data_dir: str | None

    def manifest(self) -> dict[str, Any]:
        """Return what identifies the study (its trials count is not part of it: a study may be extended)."""
        return {
            "scenarios": list(self.scenarios), "space": [d.describe() for d in self.space],
            "objective": self.objective.describe(), "constraints": [c.describe() for c in self.constraints],
            "seeds": self.seeds, "baseseed": self.base_seed, "set": list(self.overrides), "batch": self.batch,
        }  # fmt: skip


class Trial(NamedTuple):
    """A finished trial: its point, its values, whether it holds every bound, and its runs' failures."""

    number: int
    params: dict[str, str]
    objective: float | None
    worst: dict[str, float]  # constrained metric -> its worst run
    feasible: bool
    state: str  # "complete" or "failed"
    error: str
    front: bool = False  # on the Pareto front of the feasible trials (Optuna's `best_trials`)


def _optuna() -> Any:
    try:
        import optuna
    except ImportError:
        raise ConfigError("optimise needs Optuna: pip install 'clearing[optimise]'") from None
    optuna.logging.set_verbosity(logging.WARNING)
    return optuna


def open_study(study: Study, out: Path) -> Any:
    """Create or reopen the Optuna study in `out`; refuse a directory that holds another study.

    Raises:
        ConfigError: `out` holds a study asked differently, or cannot be written.
    """
    optuna = _optuna()
    manifest = study.manifest()
    path = out / MANIFEST
    refuse_another(out, MANIFEST, manifest, sorted(manifest), "study")
    try:
        out.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        partial.write_text(json.dumps(manifest, indent=2) + "\n")
        partial.replace(path)
    except OSError as e:
        raise ConfigError(f"--out {out}: cannot write the study there ({e.strerror or e})") from None
    directions = ["maximize" if study.objective.maximise else "minimize"]
    directions += ["minimize" if c.upper else "maximize" for c in study.constraints]
    return optuna.create_study(storage=f"sqlite:///{out / STORAGE}", study_name=STUDY, directions=directions,
                               load_if_exists=True)  # fmt: skip


def _sampler(study: Study, finished: int) -> Any:
    # TPE re-seeded from the base seed and the finished trials: the same history proposes the same points. It reads
    # each trial's constraints (`Trial.set_constraint`): a trial is feasible when every violation is <= 0.
    return _optuna().samplers.TPESampler(seed=replication_seed(study.base_seed, 1_000_000 + finished) % 2**32)


def run_study(
    study: Study, out: Path, trials: int, workers: int = 1, scheduler: str | None = None,
    progress: Callable[[int, int], None] | None = None, started: Callable[[], None] | None = None,
) -> list[Trial]:  # fmt: skip
    """Run trials until `trials` have finished (complete or failed) in `out`; return every finished trial.

    `started()` is called once the scenarios, the space and `out` have been checked, before any run.

    Raises:
        ConfigError: a bad scenario, override or space value before anything runs; an unusable `out`.
    """
    if trials < 1:
        raise ConfigError(f"--trials {trials}: expected at least 1")
    for scenario in study.scenarios:  # every scenario must load before the study starts
        plan(scenario, [], 1, study.base_seed, study.overrides, out, False, study.data_dir)
    optuna = _optuna()
    o = open_study(study, out)
    for t in o.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        o.tell(t.number, state=optuna.trial.TrialState.FAIL)  # stopped mid-batch: not counted, its point proposed again
    if started:
        started()
    while True:
        done = len(_done(o.get_trials(deepcopy=False)))
        if progress:
            progress(done, trials)
        if done >= trials:
            break
        o.sampler = _sampler(study, done)
        batch = [o.ask() for _ in range(min(study.batch, trials - done))]
        _run_batch(study, o, batch, out, workers, scheduler)
    return finished_trials(out)


def _done(trials: list[Any]) -> list[Any]:
    # The trials that count: complete, or failed with a reason (a bad point, a failed run); not those stopped.
    optuna = _optuna()
    complete, failed = optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.FAIL
    return [t for t in trials if t.state == complete or (t.state == failed and "error" in t.user_attrs)]


def _run_batch(study: Study, o: Any, batch: list[Any], out: Path, workers: int, scheduler: str | None) -> None:
    # Draw each trial's point, run every scenario x seed of every trial at once, then tell each trial its values.
    optuna = _optuna()
    tasks: dict[int, list[Task]] = {}
    for trial in batch:
        params = {d.key: suggest(trial, d) for d in study.space}
        trial.set_user_attr("params", params)
        grid = [(key, [value]) for key, value in params.items()]
        try:
            tasks[trial.number] = [t for s in study.scenarios
                                   for t in plan(s, grid, study.seeds, study.base_seed, study.overrides, out, False,
                                                 study.data_dir)]  # fmt: skip
        except ConfigError as e:  # a point the scenario refuses (plan names it as a grid value)
            trial.set_user_attr("error", str(e).replace("with --grid ", "with --space value "))
            o.tell(trial, state=optuna.trial.TrialState.FAIL)
    every = [t for ts in tasks.values() for t in ts]
    try:
        if every:
            run_sweep(every, out, None, workers, scheduler, run=run_study_task)
    except KeyboardInterrupt:
        for trial in batch:
            if trial.number in tasks:
                trial.set_user_attr("interrupted", True)
                o.tell(trial, state=optuna.trial.TrialState.FAIL)
        raise
    rows = _rows(out, {t.run_id for t in every})
    for trial in batch:
        if trial.number not in tasks:
            continue
        runs = [rows.get(t.run_id) for t in tasks[trial.number]]
        failed = [r for r in runs if r is None or r["status"] != "complete"]
        if failed:
            trial.set_user_attr("error", f"{len(failed)} run(s) failed: {failed[0]['error'] if failed[0] else 'no result'}")
            o.tell(trial, state=optuna.trial.TrialState.FAIL)
            continue
        values = [metric_values({**json.loads(r["summary"]), "margin": r["margin"]}) for r in runs if r]
        objective = sum(v[study.objective.metric] for v in values) / len(values)
        worst = [c.worst([v[c.metric] for v in values]) for c in study.constraints]
        violations = [c.violation(w) for c, w in zip(study.constraints, worst, strict=True)]
        trial.set_user_attr("violations", violations)
        for c, v in zip(study.constraints, violations, strict=True):
            trial.set_constraint(c.describe(), v)
        trial.set_user_attr("runs", [r["run_id"] for r in runs if r])
        o.tell(trial, [objective, *worst])


def _rows(out: Path, run_ids: set[str]) -> dict[str, dict[str, Any]]:
    db = open_results(out)
    try:
        if "runs" not in db.table_names():
            return {}
        return {r["run_id"]: r for r in db.query("SELECT * FROM runs") if r["run_id"] in run_ids}
    finally:
        db.close()


def finished_trials(out: Path) -> list[Trial]:
    """Return the trials of the study in `out` that count (complete, or failed with a reason), in order.

    Raises:
        ConfigError: `out` holds no study.
    """
    optuna = _optuna()
    manifest = out / MANIFEST
    if not manifest.is_file() or not (out / STORAGE).is_file():
        raise ConfigError(f"{out}: not a study directory (no {MANIFEST} or {STORAGE})")
    constrained = [parse_constraint(c).metric for c in json.loads(manifest.read_text())["constraints"]]
    o = optuna.load_study(storage=f"sqlite:///{out / STORAGE}", study_name=STUDY)
    front = {t.number for t in o.best_trials}
    out_trials = []
    for t in _done(o.get_trials(deepcopy=False)):
        complete = t.state == optuna.trial.TrialState.COMPLETE
        values = list(t.values) if complete and t.values else []
        worst = dict(zip(constrained, values[1:], strict=True)) if values else {}
        feasible = complete and all(v <= 0 for v in t.user_attrs.get("violations", []))
        out_trials.append(Trial(t.number, dict(t.user_attrs.get("params", {})), values[0] if values else None, worst,
                                feasible, "complete" if complete else "failed", t.user_attrs.get("error", ""),
                                t.number in front))  # fmt: skip
    return out_trials


def pareto_front(trials: Sequence[Trial], objective_max: bool) -> list[Trial]:
    """Return the trials on the Pareto front, best objective first."""
    return sorted((t for t in trials if t.front), key=lambda t: (-1 if objective_max else 1) * (t.objective or 0.0))
