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
same rows), `logs/` (one event log per run unless `--no-logs`) and the plots `*.png` (per swept key,
its metrics against it and their differences from the baseline paired by seed, `*_paired.png`).

Modules: `plan` (the grid, its seeds and tasks), `execution` (a task through the one run
lifecycle, on a local pool or a Dask cluster), `results` (the results store), `plots`.
"""

from clearing.apps.sweep.execution import bounded, connect, default_workers, refuse_another, run_sweep, run_task
from clearing.apps.sweep.plan import Task, inert_keys, parse_grid, plan, replication_seed
from clearing.apps.sweep.plots import paired_differences, plot
from clearing.apps.sweep.results import MANIFEST, METRICS, PLOTTED, RESULTS, complete_rows, summarise, swept_value

__all__ = [
    "MANIFEST",
    "METRICS",
    "PLOTTED",
    "RESULTS",
    "Task",
    "bounded",
    "complete_rows",
    "connect",
    "default_workers",
    "inert_keys",
    "paired_differences",
    "parse_grid",
    "plan",
    "plot",
    "refuse_another",
    "replication_seed",
    "run_sweep",
    "run_task",
    "summarise",
    "swept_value",
]
