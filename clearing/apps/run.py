"""Run a scenario into an event log: header, world, final status. The Python API of `run`."""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from clearing import __version__
from clearing.apps.summary import RunSummary, summarize
from clearing.core.state import ClearingState
from clearing.data.inputs import data_sources, input_hashes, resolve_inputs
from clearing.log.schema import genesis_hash
from clearing.log.verify import run_id_for
from clearing.log.writer import ChainSink, EventLog, MemorySink, RunHeaderData
from clearing.scenario import Scenario
from clearing.sim.world import build_world

Sink = TypeVar("Sink", bound=ChainSink)


@contextmanager
def _signals_held() -> Iterator[None]:
    # A second Ctrl-C while the log is being closed must not leave it half-written.
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def header_for(scenario: Scenario, seed: int, inputs: dict[str, Path] | None = None) -> RunHeaderData:
    """Return the run header of (scenario, seed, input files): a pure function of them.

    `inputs_json` maps each input file's name to its SHA-256.
    """
    scenario_hash = scenario.hash()
    inputs_json = json.dumps(input_hashes(inputs or {}), sort_keys=True)
    return RunHeaderData(
        run_id=run_id_for(scenario_hash, seed, inputs_json),
        clearing_version=__version__,
        scenario_name=scenario.name,
        scenario_json=scenario.canonical_json(),
        scenario_hash=scenario_hash,
        seed=seed,
        epoch_utc=scenario.epoch.isoformat().replace("+00:00", "Z"),
        inputs_json=inputs_json,
    )


def run_scenario(
    scenario: Scenario,
    seed: int,
    out: Path,
    batch_size: int = 10_000,
    data_dir: str | Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> RunSummary:
    """Run `scenario` with `seed`, writing the log to `out` (which must not exist).

    Input files are found through `data_dir`, then CLEARING_DATA_DIR, then ./data, before
    anything is written. `progress(now_ns, end_ns)` is called as the run goes.

    The log's status is `complete` on success, `failed` (with the error) when the run
    raised, and stays `incomplete` when it was interrupted (KeyboardInterrupt, SIGTERM).
    """
    inputs = resolve_inputs(scenario, data_dir)
    header = header_for(scenario, seed, inputs)
    log = EventLog(out, header, batch_size=batch_size)
    try:
        world = build_world(scenario, seed, log, inputs)
        state = world.run(progress)
    except (KeyboardInterrupt, SystemExit):
        with _signals_held():
            log.finish("incomplete")
        raise
    except BaseException as e:
        with _signals_held():
            log.finish("failed", error=f"{type(e).__name__}: {e}")
        raise
    digest = state.digest()
    with _signals_held():
        log.finish("complete", state_digest=digest)
    return completed(state, header, scenario, inputs, log.count, log.head_hash)


def completed(
    state: ClearingState, header: RunHeaderData, scenario: Scenario, inputs: dict[str, Path], events: int, head: bytes
) -> RunSummary:
    """Return the summary of a run that completed: its final state, header, scenario and input files."""
    return summarize(
        state, run_id=header.run_id, scenario=scenario.name, seed=header.seed, status="complete", events=events,
        head_hash=head.hex(), data_sources="; ".join(data_sources(scenario, inputs)),
    )  # fmt: skip


def run_in_memory(scenario: Scenario, seed: int, data_dir: str | Path | None = None) -> tuple[RunSummary, MemorySink]:
    """Run without a file (tests, quick studies); rows and hash chain are as on disk."""
    return _run_to(MemorySink, scenario, seed, data_dir)


def run_unlogged(scenario: Scenario, seed: int, data_dir: str | Path | None = None) -> RunSummary:
    """Run keeping only the hash chain (sweeps without logs): the summary is the logged run's."""
    return _run_to(ChainSink, scenario, seed, data_dir)[0]


def _run_to(sink_type: type[Sink], scenario: Scenario, seed: int, data_dir: str | Path | None) -> tuple[RunSummary, Sink]:
    inputs = resolve_inputs(scenario, data_dir)
    header = header_for(scenario, seed, inputs)
    sink = sink_type(genesis_hash(header.run_id, header.scenario_hash, seed))
    state = build_world(scenario, seed, sink, inputs).run()
    return completed(state, header, scenario, inputs, sink.count, sink.head_hash), sink
