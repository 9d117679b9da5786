"""Run a scenario: the Python API of `clearing run`, over the one run lifecycle (`clearing.apps.lifecycle`).

Every function finds the scenario's input files through `data_dir`, then
CLEARING_DATA_DIR, then ./data, before anything is written, and returns the same
`RunSummary` for the same scenario and seed, whatever the sink.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from clearing.apps.lifecycle import OutputFile, RunLifecycle, header_for
from clearing.apps.summary import RunSummary
from clearing.log.schema import SNAPSHOT_EVERY
from clearing.log.writer import MemorySink
from clearing.scenario import Scenario

__all__ = ["header_for", "run_in_memory", "run_scenario", "run_unlogged"]


def run_scenario(
    scenario: Scenario,
    seed: int,
    out: Path | str,
    batch_size: int = 10_000,
    data_dir: str | Path | None = None,
    progress: Callable[[int, int], None] | None = None,
    *,
    overwrite: bool = False,
    atomic: bool = False,
    check_invariants: bool = False,
    snapshot_every: int = SNAPSHOT_EVERY,
) -> RunSummary:
    """Run `scenario` with `seed`, writing the log to `out`.

    `progress(now_ns, end_ns)` is called as the run goes. An existing file at `out` is
    refused, unless `overwrite` and it is an event log. The log's status is `complete` on
    success, `failed` (with the error) when the run raised, and stays `incomplete` when it
    was interrupted (KeyboardInterrupt, SIGTERM); with `atomic` the log is written to
    `out.partial`, renamed to `out` when complete and removed otherwise. `check_invariants`:
    the conservation laws after every `batch_size` events (InvariantViolation at the first broken one).
    `snapshot_every`: a state snapshot at the first checkpoint this many events after the last (0:
    none), for `replay --until` to start from.
    """
    output = OutputFile(out, overwrite=overwrite, atomic=atomic)
    return RunLifecycle(scenario, seed, data_dir).to_file(output, batch_size=batch_size, progress=progress,
                                                          check_invariants=check_invariants,
                                                          snapshot_every=snapshot_every)  # fmt: skip


def run_in_memory(scenario: Scenario, seed: int, data_dir: str | Path | None = None) -> tuple[RunSummary, MemorySink]:
    """Run without a file (tests, quick studies); rows and hash chain are as on disk."""
    return RunLifecycle(scenario, seed, data_dir).in_memory()


def run_unlogged(scenario: Scenario, seed: int, data_dir: str | Path | None = None) -> RunSummary:
    """Run keeping only the hash chain (sweeps without logs): the summary is the logged run's."""
    return RunLifecycle(scenario, seed, data_dir).unlogged()
