"""What a study measures of a run: the summary's numeric fields, and `margin`, the traders' requirement once they are in.

`margin` is the maintenance requirement (quote) of the traders' positions at the end of the
population's entry window (`population.entry_window_s`, at most the run's end), computed by
the engine (`clearing.core.risk.account_risk`) on a run of the same scenario and seed cut
there: what the venue's rules make its traders post for the positions they chose. Every other
metric is a field of the run summary (`clearing.apps.summary.RunSummary`): counts as they are,
money (decimal strings) as quote.
"""

from __future__ import annotations

import dataclasses
import json
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from clearing.apps.lifecycle import RunLifecycle
from clearing.apps.summary import RunSummary
from clearing.apps.sweep import Task, run_task
from clearing.core.risk import account_risk
from clearing.core.state import Role
from clearing.errors import ConfigError
from clearing.log.writer import ChainSink
from clearing.scenario import Scenario
from clearing.units import format_minor

_NOT_METRICS = {"run_id", "scenario", "seed", "status", "data_sources", "state_digest", "head_hash", "quote_decimals"}
# The summary's scalar fields a study may optimise or bound; "margin" is computed (`opening_margin`).
METRICS = ("margin", *(f.name for f in dataclasses.fields(RunSummary)
                       if f.name not in _NOT_METRICS and f.type in ("int", "float", "str")))  # fmt: skip
LOWER_IS_BETTER = ("margin", "bad_debt", "adl_events", "adl_notional", "socialised_loss", "socialisations",
                   "insurance_paid", "liquidations", "liquidated_notional", "margin_breaches", "max_queue_wait_s")  # fmt: skip


class Objective(NamedTuple):
    """The metric a study optimises (its mean over the runs of a trial) and which way."""

    metric: str
    maximise: bool

    def describe(self) -> str:
        """Return the objective as written on the command line."""
        return f"{self.metric}:{'max' if self.maximise else 'min'}"


class Constraint(NamedTuple):
    """A bound a trial must hold in every run: metric <= bound (`upper`) or >= bound."""

    metric: str
    bound: float
    upper: bool

    def describe(self) -> str:
        """Return the constraint as written on the command line."""
        return f"{self.metric}{'<=' if self.upper else '>='}{self.bound:g}"

    def worst(self, values: list[float]) -> float:
        """Return the worst value over a trial's runs: the largest for an upper bound, the smallest for a lower one."""
        return max(values) if self.upper else min(values)

    def violation(self, worst: float) -> float:
        """Return how far `worst` is beyond the bound (<= 0: held), Optuna's constraint convention."""
        return worst - self.bound if self.upper else self.bound - worst


def parse_objective(text: str) -> Objective:
    """Return the objective of `--objective METRIC[:min|max]`.

    Without a direction: min for the metrics in `LOWER_IS_BETTER` (margin, bad debt, ADL, ...), else max.

    Raises:
        ConfigError: an unknown metric or direction.
    """
    metric, _, way = text.partition(":")
    _known(metric.strip(), f"--objective {text}")
    if way not in ("", "min", "max"):
        raise ConfigError(f"--objective {text}: the direction is min or max")
    return Objective(metric.strip(), way == "max" if way else metric.strip() not in LOWER_IS_BETTER)


def parse_constraint(text: str) -> Constraint:
    """Return the constraint of `--constraint METRIC<=BOUND` or `METRIC>=BOUND` (money in quote).

    Raises:
        ConfigError: no <= or >=, an unknown metric, a bound that is not a finite number.
    """
    for op, upper in (("<=", True), (">=", False)):
        metric, sep, bound = text.partition(op)
        if sep:
            _known(metric.strip(), f"--constraint {text}")
            try:
                value = float(Decimal(bound.strip()))
            except ArithmeticError:
                raise ConfigError(f"--constraint {text}: {bound.strip()!r} is not a number") from None
            if not np.isfinite(value):
                raise ConfigError(f"--constraint {text}: the bound must be finite")
            return Constraint(metric.strip(), value, upper)
    raise ConfigError(f"--constraint {text}: expected METRIC<=BOUND or METRIC>=BOUND, e.g. bad_debt<=100000")


def _known(metric: str, where: str) -> None:
    if metric not in METRICS:
        raise ConfigError(f"{where}: unknown metric {metric!r}; expected one of {', '.join(METRICS)}")


def metric_values(summary: dict[str, Any]) -> dict[str, float]:
    """Return the metrics of a run's summary dict (with its computed `margin`) as floats."""
    return {m: float(Decimal(str(summary[m]))) for m in METRICS if m in summary}


def opening_margin(scenario: Scenario, seed: int, data_dir: str | Path | None) -> int:
    """Return the traders' maintenance requirement (quote minor units) at the end of the entry window."""
    cut = min(scenario.population.entry_window_s + 1.0, scenario.duration_s)
    lifecycle = RunLifecycle(scenario.model_copy(update={"duration_s": cut}), seed, data_dir)
    state = lifecycle.execute(ChainSink(lifecycle.genesis()))
    rows = np.flatnonzero((state.role == Role.TRADER) & state.position.any(axis=1))
    return int(account_risk(state, rows)[1].sum()) if rows.size else 0


def run_study_task(task: Task) -> dict[str, Any]:
    """Run one task of a study (in a worker): the sweep's run, then its opening margin; return the result row."""
    row = run_task(task)
    if row["status"] != "complete":
        return row
    try:
        scenario = Scenario.model_validate_json(task.scenario_json)
        margin = opening_margin(scenario, task.seed, task.data_dir)
    except (ConfigError, ValueError, OSError) as e:
        return {**row, "status": "failed", "error": f"margin: {type(e).__name__}: {e}"}
    decimals = int(json.loads(row["summary"])["quote_decimals"])
    return {**row, "margin": format_minor(margin, decimals)}
