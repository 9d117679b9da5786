"""`clearing validate`: the five crash days run and set beside what was reported, as one table.

Each day's scenario (`reported.toml` names it, in the scenarios folder) runs as one task of
the sweep machinery (`run_sweep`: local worker processes or a Dask cluster, resumable, each
log written whole), and `run_day` measures it from its log (`metrics.day_metrics`). The table
sets each figure beside the reported one and its source, and checks the two targets: the
liquidation peak within `PEAK_MINUTES` of the real one, and the liquidated share of open
interest within a factor of `SHARE_FACTOR` of the reported one (counted over the day's
`share_window`; `clearing.apps.validate.table`). `docs/validation.md`'s summary is this table (`--doc`).
"""

from __future__ import annotations

import json
import tomllib
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from clearing.apps.run import run_scenario
from clearing.apps.sweep.execution import refuse_another, run_sweep
from clearing.apps.sweep.plan import Task
from clearing.apps.sweep.results import complete_rows
from clearing.apps.validate.metrics import DayMetrics, day_metrics, minutes_apart, share_in
from clearing.apps.validate.table import markdown, update_doc
from clearing.data.directory import resolve_data_file
from clearing.errors import ConfigError
from clearing.log.verify import run_id_for
from clearing.scenario import Scenario, load_scenario

__all__ = ["MANIFEST", "Reported", "check_tapes", "load_reported", "markdown", "minutes_apart", "plan", "results", "run_day",
           "share_in", "update_doc", "validate"]  # fmt: skip

REPORTED = Path(__file__).resolve().parent / "reported.toml"
MANIFEST = "validate.json"


class Reported(BaseModel):
    """One crash day as reported: its scenario, its real peak and liquidated share, each with its basis."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    scenario: str
    peak_utc: datetime
    peak_window: tuple[datetime, datetime] | None = None  # a reported span instead of a minute: inside it is 0 apart
    peak_basis: str
    share: float = Field(gt=0)
    share_window: tuple[datetime, datetime]
    share_basis: str
    fund_draw: str
    adl: str


def load_reported(path: Path = REPORTED) -> list[Reported]:
    """Return the reported figures of the crash days, in date order."""
    days = tomllib.loads(path.read_text(encoding="utf-8"))["day"]
    return [Reported.model_validate(day) for day in days]


def plan(days: list[Reported], scenarios: Path, out: Path, seed: int, overrides: tuple[str, ...],
         data_dir: str | None) -> list[Task]:  # fmt: skip
    """Return one task per day: its scenario (with the overrides), the seed, its log under out/logs.

    Raises:
        ConfigError: a day's scenario file is missing or invalid.
    """
    tasks = []
    for day in days:
        scenario = load_scenario(scenarios / day.scenario, overrides)
        run_id = run_id_for(scenario.hash(), seed)  # the results row's key (the log records the full run id)
        tasks.append(Task(run_id, (("day", day.name),), 0, seed, scenario.model_dump_json(),
                          str(out / "logs" / f"{day.name}.sqlite"), data_dir))  # fmt: skip
    return tasks


def run_day(task: Task) -> dict[str, Any]:
    """Run one day's scenario into its log and measure it (in a worker); return its result row."""
    day = dict(task.params)["day"]
    row: dict[str, Any] = {"run_id": task.run_id, "replication": 0, "seed": task.seed, "params": json.dumps(dict(task.params)),
                           "day": day, "log": task.log_path if dict(task.params).get("keep_log") != "no" else ""}  # fmt: skip
    try:
        scenario = Scenario.model_validate_json(task.scenario_json)
        summary = run_scenario(scenario, task.seed, Path(task.log_path), data_dir=task.data_dir, overwrite=True, atomic=True)
        metrics = day_metrics(task.log_path, task.data_dir)
    except Exception as e:  # the other days go on; the row says what failed
        return {**row, "status": "failed", "error": f"{type(e).__name__}: {e}"}
    finally:
        if dict(task.params).get("keep_log") == "no":  # a sensitivity run: measured, then its log goes
            for suffix in ("", "-wal", "-shm", ".lock"):
                Path(task.log_path + suffix).unlink(missing_ok=True)
    return {**row, "status": "complete", "error": "", "head_hash": summary.head_hash,
            "metrics": json.dumps(metrics.as_dict())}  # fmt: skip


def check_tapes(tasks: list[Task]) -> None:
    """Require every day's tape in the data directory before anything runs (the mark is compared with it).

    Raises:
        DataError: a tape is missing, naming it and where it was looked for.
    """
    for task in tasks:
        scenario = Scenario.model_validate_json(task.scenario_json)
        for name in scenario.price.files:
            resolve_data_file(name, task.data_dir)


def validate(
    days: list[Reported], scenarios: Path, out: Path, seed: int = 0, overrides: tuple[str, ...] = (),
    data_dir: str | None = None, workers: int = 1, scheduler: str | None = None, progress: Any = None,
) -> dict[str, int]:  # fmt: skip
    """Run the days not yet done in `out` (resumable); return the sweep's counts.

    Raises:
        ConfigError, DataError: a scenario or a tape is missing, before anything is written.
    """
    manifest = {"days": [d.name for d in days], "seed": seed, "set": list(overrides), "validate": True}
    refuse_another(out, MANIFEST, manifest, ("days", "seed", "set"), "validation")
    tasks = plan(days, scenarios, out, seed, overrides, data_dir)
    check_tapes(tasks)
    out.mkdir(parents=True, exist_ok=True)
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return run_sweep(tasks, out, None, workers, scheduler, progress, run=run_day)


def results(days: list[Reported], out: Path, run_ids: set[str] | None = None) -> list[tuple[Reported, DayMetrics]]:
    """Return each day measured in `out` beside its reported figures (days not run are left out).

    With `run_ids` (the current plan's), a row of an earlier version of a day's scenario is left out.
    """
    measured = {json.loads(r["params"])["day"]: r for r in complete_rows(out)
                if r.get("metrics") and (run_ids is None or r["run_id"] in run_ids)}  # fmt: skip
    pairs = [(day, DayMetrics(**json.loads(measured[day.name]["metrics"]))) for day in days if day.name in measured]
    if not pairs:
        raise ConfigError(f"{out}: no day has been validated there")
    return pairs

