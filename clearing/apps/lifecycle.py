"""One run's lifecycle, for every way of running: `run`, `fork`, each run of a `sweep`, the Python API.

`RunLifecycle(scenario, seed, data_dir)` finds and hashes the scenario's input files and
builds the run header before anything is written (a missing file writes nothing). Then one
of three sinks takes the rows:

- `to_file(OutputFile(...))`: an SQLite event log. The log is `complete` (with the state
  digest) when the world ran to its end, `failed` (with the error) when the run raised, and
  stays `incomplete` when it was interrupted (KeyboardInterrupt, SIGTERM through the command
  line, SystemExit). SIGINT and SIGTERM are held while the log is closed, so a second
  Ctrl-C cannot leave it half-written;
- `in_memory()`: the same rows and hash chain in a list (tests, in-process studies);
- `unlogged()`: only the hash chain (sweeps without logs): the same summary as a logged run.

`OutputFile` is the partial-file policy: an existing file is never replaced unless
`overwrite` is set and it is an event log (anything else is refused with one line, before
the run starts). Written in place, the log of a failed or interrupted run stays at its path
with its status (what `clearing run` keeps, to be verified or replayed); written `atomic`,
it goes to `PATH.partial` and is renamed to PATH only when complete, and removed on any
failure, so a half-written log never sits under a name that looks finished (fork, sweep).
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from clearing import __version__
from clearing.apps import INTERRUPT_NOTED
from clearing.apps.summary import RunSummary, summarize
from clearing.apps.tally import MarketTally, TalliedSink, tally_log, tally_rows
from clearing.core.state import ClearingState
from clearing.data.inputs import data_sources, input_hashes, resolve_inputs
from clearing.errors import ConfigError, DataError, OutputExistsError
from clearing.log.reader import EventLogReader
from clearing.log.schema import SNAPSHOT_EVERY, genesis_hash
from clearing.log.verify import run_id_for
from clearing.log.writer import ChainSink, EventLog, MemorySink, RunHeaderData, remove_log
from clearing.scenario import Scenario
from clearing.scenario.limits import check_limits
from clearing.scenario.params import compile_params
from clearing.sim.world import build_world

if TYPE_CHECKING:
    from clearing.sim.bus import Sink

Progress = Callable[[int, int], None]


def snapshot_every_of(parent: EventLogReader) -> int:
    """Return the snapshot policy of a run made again from `parent` (a fork, a resume): the parent's, or the default."""
    every = parent.snapshot_every()
    return every if every is not None else SNAPSHOT_EVERY


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


class _Stop:
    """An interrupt asked for (SIGINT or SIGTERM) while a log is written: noted, acted on between two events."""

    def __init__(self) -> None:
        self.requested = INTERRUPT_NOTED.is_set()

    def __call__(self, signum: int, frame: object) -> None:
        self.requested = True

    def asked(self) -> bool:
        """Return whether an interrupt was asked for."""
        return self.requested


@contextmanager
def _interrupts_deferred() -> Iterator[_Stop]:
    # While a log is written, SIGINT and SIGTERM only set a flag: the run stops between two SimPy steps (the log an
    # exact prefix of the whole run's), the batch is flushed and the log closed; no signal ever lands inside a
    # process, a batch write or the closing. A signal after the log is complete is dropped (the run is done).
    stop = _Stop()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


class OutputFile:
    """Where a run's log goes, and what may be done to a file already there.

    `overwrite`: an existing event log at `path` may be replaced (never anything else).
    `atomic`: write to `path.partial`, rename to `path` when complete, remove it otherwise.
    One writer at a time: `claim` takes an exclusive lock on `path.lock` (held until `release`),
    so a second run to the same path is refused instead of both writing it.
    """

    def __init__(self, path: Path | str, *, overwrite: bool = False, atomic: bool = False) -> None:
        self.path = Path(path)
        self.overwrite = overwrite
        self.atomic = atomic
        self.writing = self.path.with_name(self.path.name + ".partial") if atomic else self.path
        self._lock: int | None = None

    def claim(self) -> None:
        """Lock the path, then make room for the log, refusing to replace anything but an event log (and that only
        with `overwrite`).

        Raises:
            OutputExistsError: another run is writing the path, or a file is there and `overwrite` is not set.
            clearing.errors.EventLogError: the file there is not an event log.
        """
        self._take_lock()
        try:
            self._make_room()
        except BaseException:
            self.release()
            raise

    def _take_lock(self) -> None:
        # flock on `path.lock`; the lock file is removed by its holder, so a lock taken on a file another run has just
        # removed is no lock: the inode locked must still be the one at the path.
        lock = self.path.with_name(self.path.name + ".lock")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise ConfigError(f"{self.path}: cannot write there ({e.strerror or e})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if os.fstat(fd).st_ino != os.stat(lock).st_ino:
                raise BlockingIOError
        except (BlockingIOError, FileNotFoundError):
            os.close(fd)
            raise OutputExistsError(f"{self.path}: another run is writing it; wait for it or choose another --out") from None
        self._lock = fd

    def release(self) -> None:
        """Give up the lock (removing the lock file first, while it is still held)."""
        if self._lock is not None:
            self.path.with_name(self.path.name + ".lock").unlink(missing_ok=True)
            os.close(self._lock)
            self._lock = None

    def _make_room(self) -> None:
        if self.path.exists():
            if not self.overwrite:
                raise OutputExistsError(f"{self.path}: a log already exists there; choose another --out or pass --overwrite")
            EventLogReader(self.path).close()  # refuses to replace anything that is not an event log
            if not self.atomic:
                remove_log(self.path)
        if self.atomic:
            remove_log(self.writing)  # what a killed run left

    def publish(self) -> None:
        """Put the complete log in place (atomic: replacing the old one only now) and release the lock."""
        try:
            if self.atomic:
                remove_log(self.path)
                self.writing.replace(self.path)
        finally:
            self.release()

    def drop(self) -> None:
        """Remove the log being written, whatever the mode (a run that failed on its input), and release the lock."""
        try:
            remove_log(self.writing)
        finally:
            self.release()

    def discard(self) -> None:
        """Drop the log of a run that did not complete (atomic only; in place it is kept with its status); release."""
        try:
            if self.atomic:
                remove_log(self.writing)
        finally:
            self.release()


class RunLifecycle:
    """One run of `scenario` with `seed`: inputs and header first, then a sink, the world, the status, the summary."""

    def __init__(self, scenario: Scenario, seed: int, data_dir: str | Path | None = None) -> None:
        check_limits(compile_params(scenario))  # money within int64, paths within memory: before anything is written
        self.scenario = scenario
        self.seed = seed
        self.inputs = resolve_inputs(scenario, data_dir)
        self.header = header_for(scenario, seed, self.inputs)
        self.final_digest = ""  # the final checkpoint's state digest, once `execute` ran

    def genesis(self) -> bytes:
        """Return the hash the run's chain starts from."""
        return genesis_hash(self.header.run_id, self.header.scenario_hash, self.seed)

    def execute(
        self, sink: Sink, progress: Progress | None = None, stopped: Callable[[], bool] | None = None, check_every: int = 0
    ) -> ClearingState:
        """Build the world on `sink` and run it to its end; return the final state.

        `stopped()`: checked between two SimPy steps; once true the run raises KeyboardInterrupt there.
        `check_every` > 0: the conservation laws are checked every that many events (InvariantViolation).
        """
        world = build_world(self.scenario, self.seed, sink, self.inputs, stopped, check_every)
        state = world.run(progress)
        self.final_digest = world.final_digest  # the final checkpoint's: the header records it (bound to the chain)
        return state

    def summary(self, state: ClearingState, events: int, head: bytes, tally: MarketTally) -> RunSummary:
        """Return the summary of the run that completed in `state` after `events` rows ending in `head`.

        `tally` holds the run's per-market counts (`clearing.apps.tally`).
        """
        return summarize(
            state, run_id=self.header.run_id, scenario=self.scenario.name, seed=self.seed, status="complete",
            events=events, head_hash=head.hex(), data_sources="; ".join(data_sources(self.scenario, self.inputs)),
            tally=tally,
        )  # fmt: skip

    def in_memory(self) -> tuple[RunSummary, MemorySink]:
        """Run into a `MemorySink`; return the summary and the sink with its rows."""
        sink = MemorySink(self.genesis())
        state = self.execute(sink)
        return self.summary(state, sink.count, sink.head_hash, tally_rows(sink.rows)), sink

    def unlogged(self) -> RunSummary:
        """Run keeping only the hash chain (the per-market counts counted as the rows go by); return the summary."""
        sink, tally = ChainSink(self.genesis()), MarketTally()
        state = self.execute(TalliedSink(sink, tally))
        return self.summary(state, sink.count, sink.head_hash, tally)

    def to_file(
        self,
        output: OutputFile,
        *,
        batch_size: int = 10_000,
        progress: Progress | None = None,
        wrap: Callable[[EventLog], Sink] | None = None,
        before_complete: Callable[[], None] | None = None,
        check_invariants: bool = False,
        snapshot_every: int = SNAPSHOT_EVERY,
    ) -> RunSummary:
        """Run into an event log at `output` and return the summary.

        `wrap(log)` may return a sink that passes the rows on to the log (a fork's prefix
        check); `before_complete()` runs after the world, before the log is marked complete,
        and may still fail the run. `check_invariants`: the conservation laws after every batch of
        `batch_size` events; the first violation fails the run, naming its seq. `snapshot_every`:
        a state snapshot at the first checkpoint this many events after the last (0: none).

        Raises:
            OutputExistsError, clearing.errors.EventLogError: the output is taken (`OutputFile.claim`).
            clearing.errors.ConfigError: the log cannot be created there.
            Whatever the run raised, after the log was closed as `failed` or `incomplete`.
        """
        with _interrupts_deferred() as stop:
            output.claim()
            try:
                log = EventLog(output.writing, self.header, batch_size=batch_size, snapshot_every=snapshot_every)
            except BaseException:
                output.release()
                raise
            try:
                state = self.execute(wrap(log) if wrap is not None else log, progress, stop.asked,
                                     batch_size if check_invariants else 0)  # fmt: skip
                if before_complete is not None:
                    before_complete()
                digest = self.final_digest
            except (KeyboardInterrupt, SystemExit):
                log.finish("incomplete")
                output.discard()
                raise
            except (ConfigError, DataError):  # bad input (a malformed data file): nothing worth keeping, no file left
                log.finish("failed")
                output.drop()
                raise
            except BaseException as e:
                log.finish("failed", error=f"{type(e).__name__}: {e}")
                output.discard()
                raise
            log.finish("complete", state_digest=digest)
            output.publish()
        return self.summary(state, log.count, log.head_hash, tally_log(output.path))
