"""A sweep's plan: the grid of overrides, the replications' seeds and one task per run.

Every grid point's scenario is loaded and validated before anything runs; each run is
identified by its config hash, the run id of its log (`clearing.log.verify.run_id_for`:
scenario, seed, input files), so a sweep resumes by skipping the runs already done.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from clearing.data.inputs import input_hashes, resolve_inputs
from clearing.errors import ConfigError
from clearing.log.verify import run_id_for
from clearing.scenario import Scenario, load_scenario


@dataclass(frozen=True)
class Task:
    """One run of a sweep: everything a worker needs (plain data, sent as JSON: `execution.encode_task`)."""

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
