"""Venue risk-parameter optimisation (`clearing optimise`): the least margin that keeps bad debt under a target.

Optuna (TPE, multi-objective, constrained) proposes values of scenario keys (`space`); each
point is re-cleared over the given crash days and seeds by the sweep machinery (local pool or
Dask; `study`); the objective is a run metric's mean (`metrics`: `margin`, the traders'
requirement once in, or any summary field), each constraint's metric its worst run. Results
are resumable (Optuna's SQLite storage and the sweep's results table in one directory) and
plotted with their Pareto front (`plots`).
"""

from clearing.apps.optimise.metrics import METRICS, Constraint, Objective, parse_constraint, parse_objective
from clearing.apps.optimise.plots import plot
from clearing.apps.optimise.space import Dimension, parse_space
from clearing.apps.optimise.study import MANIFEST, Study, Trial, finished_trials, pareto_front, run_study

__all__ = [
    "MANIFEST",
    "METRICS",
    "Constraint",
    "Dimension",
    "Objective",
    "Study",
    "Trial",
    "finished_trials",
    "pareto_front",
    "parse_constraint",
    "parse_objective",
    "parse_space",
    "plot",
    "run_study",
]
