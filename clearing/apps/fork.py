"""Forks of runs: re-execute a logged run with changes from a time on (comparing two logs: `clearing.apps.diff`).

A fork restores the state at a time by running the parent's scenario again with the
parent's seed and input files: the simulation is a pure function of them, so the new run
passes through exactly the parent's states, agents' and random generators' included,
without any of that being stored in the log. Every row written before the fork time is
checked against the parent's row of the same seq as it is appended (`PrefixCheck`); the
first difference stops the run (`VerificationError`, exit code 1) and no log is left.
The changes are a `[fork]` section of the scenario (`clearing.scenario.ForkConfig`), which
the world applies at `at_s` (decision 0011). With no changes the forked scenario is the
parent's own, and every row of the new log, hash chain included, is checked.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from pydantic import ValidationError

from clearing import events as ev
from clearing.apps.fold import fold_log
from clearing.apps.lifecycle import OutputFile, RunLifecycle, snapshot_every_of
from clearing.apps.summary import RunSummary
from clearing.errors import ConfigError, VerificationError
from clearing.log.reader import EventLogReader, RunHeader
from clearing.log.writer import EventLog, causes_text
from clearing.scenario import Scenario, fork_refusal, parse_override
from clearing.units import NS_PER_S


def forked_scenario(header: RunHeader, at_ns: int, overrides: list[str] | tuple[str, ...] = ()) -> Scenario:
    """Return the parent's scenario with the `--set` overrides scheduled at `at_ns`.

    Without overrides it is the parent's scenario unchanged (same hash, same run id).

    Raises:
        ConfigError: the parent's scenario does not load, the time is outside the run, a
            key cannot change mid-run, or the changed scenario does not validate.
    """
    where = f"{header.scenario_name} (run {header.run_id})"
    try:
        data = json.loads(header.scenario_json)
        parent = Scenario.model_validate(data)
    except (ValueError, ValidationError) as e:
        raise ConfigError(f"{where}: the parent's scenario does not load in this version of clearing ({e})") from None
    if not 0 < at_ns < parent.duration_ns:
        raise ConfigError(f"--at {at_ns / NS_PER_S:g} s is not inside the run (0 to {parent.duration_s:g} s, both excluded)")
    if not overrides:
        return parent
    if parent.fork is not None:
        raise ConfigError(f"{where} is itself a fork (at {parent.fork.at_s:g} s); fork its parent with both changes instead")
    changes: dict[str, Any] = {}
    for text in overrides:
        path, value = parse_override(text)
        key = ".".join(path)
        why = fork_refusal(key)
        if why:
            raise ConfigError(f"--set {text}: {why}")
        changes[key] = value
    data["fork"] = {"at_s": at_ns / NS_PER_S, "parent_run_id": header.run_id, "set": changes}
    try:
        return Scenario.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        message = first["msg"].removeprefix("Value error, ").removeprefix("fork.set: ")
        raise ConfigError(f"--set {' '.join(overrides)}: {loc + ': ' if loc not in ('', 'fork.set') else ''}{message}") from None


class PrefixCheck:
    """A sink that appends to a log and checks each row before `until_ns` against the parent's.

    Rows compare by seq, time, kind, version, causes and payload; with no `until_ns` (a fork
    without changes: the same run id) also by chain hash. A row missing from either side is a
    divergence. `parent_head` is the parent header's event count and head hash, which a fork
    that is to be the parent's run again (`same_run`: no changes, a complete parent) must end on.
    """

    def __init__(
        self,
        log: EventLog,
        parent: EventLogReader,
        until_ns: int | None,
        where: str,
        parent_ends: bool = False,
        parent_head: tuple[int | None, str | None] = (None, None),
        same_run: bool = False,
    ) -> None:
        self.parent_ends = parent_ends  # the parent stops early (incomplete): no row after its last is compared
        self.until_ns = until_ns
        self.same_chain = until_ns is None
        self.where = where
        self.parent_head = parent_head
        self.same_run = same_run
        rows = parent.rows(until_ns=None if until_ns is None else until_ns - 1)
        self.rows = cast(Generator[Any, None, None], rows)  # a generator: `close` ends its cursor
        self.checked = 0
        self.done = False
        self.before = "" if until_ns is None else " before --at"
        self.log = log
        # The parent's row as this version writes it: an older layout's payload (a JSON object) re-encoded, and no hash
        # to compare (its chain is of another version); a compact one's hash as it stores it.
        self.recoded = None if parent.compact else parent.decode
        self.stored = parent.row_hash_bytes

    @property
    def head_hash(self) -> bytes:
        """Return the hash of the last row appended."""
        return self.log.head_hash

    def append(self, kind: str, version: int, ts_ns: int, causes: tuple[int, ...], payload: bytes) -> int:
        """Append the row, then compare it with the parent's (while before `until_ns`)."""
        seq = self.log.append(kind, version, ts_ns, causes, payload)
        if self.done:
            return seq
        if self.until_ns is not None and ts_ns >= self.until_ns:
            self.finish()
            return seq
        theirs = next(self.rows, None)
        if theirs is None and self.parent_ends:
            self.done = True  # an incomplete parent: its rows are all checked, the fork goes on
            return seq
        if theirs is None:
            raise VerificationError(f"{self.where} at seq {seq}{self.before}: the parent has no such event ({kind})", seq)
        mine = (seq, ts_ns, kind, version, causes_text(causes), payload.decode())
        if self.recoded is not None:
            theirs = (*theirs[:5], _recoded(self.recoded, theirs), None)
        if tuple(theirs[:6]) != mine or (self.same_chain and theirs[6] not in (None, self.log.head_hash[: self.stored])):
            field = next((n for n, a, b in zip(_FIELDS, theirs, mine, strict=False) if a != b), "hash")
            raise VerificationError(
                f"{self.where} at seq {seq}{self.before}: {field} differs (parent {theirs[2]}, fork {kind})", seq
            )
        self.checked += 1
        return seq

    def checkpointed(self, ts_ns: int, digest: str, snapshot: Callable[[int], tuple[int, bytes]]) -> None:
        """Let the log keep a snapshot, as it would without the check."""
        self.log.checkpointed(ts_ns, digest, snapshot)

    def close(self) -> None:
        """Stop reading the parent's rows (before its reader closes)."""
        self.rows.close()

    def finish(self) -> None:
        """Require that the parent has nothing left before `until_ns` (called at the first row after it)."""
        self.done = True
        theirs = next(self.rows, None)
        if theirs is not None:
            raise VerificationError(
                f"{self.where} at seq {theirs[0]}{self.before}: the fork has no such event ({theirs[2]})", theirs[0]
            )

    def complete(self) -> None:
        """At the end of the run, before its log is marked complete: nothing of the parent's prefix is left over,
        and a fork that is to be its parent's run again ends on the parent's head."""
        if not self.same_run and (self.until_ns is None or self.done):
            return
        self.finish()
        if self.parent_head != (self.log.count, self.log.head_hash.hex()):
            raise VerificationError(f"{self.where}: its head differs from the header's", self.log.count)


def _recoded(decode: Callable[[Any, str, int], ev.Event], row: Any) -> str | None:
    # An older layout's row's payload in this version's canonical bytes (None: it does not decode, so it differs).
    try:
        return ev.encode(decode(row[5], row[2], row[3])).decode()
    except (ValueError, TypeError):
        return None


_FIELDS = ("seq", "ts_ns", "kind", "version", "causes", "payload")


@dataclass
class ForkResult:
    """What `fork_log` wrote and checked."""

    summary: RunSummary
    parent: RunHeader
    at_ns: int
    changes: dict[str, Any]
    verified_events: int
    identical: bool  # no changes and a complete parent: every row, hash chain included, is the parent's


def fork_log(
    parent_path: Path | str,
    at_ns: int,
    overrides: list[str] | tuple[str, ...],
    out: Path | str,
    data_dir: str | Path | None = None,
    progress: Callable[[int, int], None] | None = None,
    overwrite: bool = False,
) -> ForkResult:
    """Fork the run logged at `parent_path` at `at_ns` with `overrides` into a new log `out`.

    The run goes through the one run lifecycle (`clearing.apps.lifecycle`) with an atomic
    output: it is written to `out.partial` and renamed to `out` when it completed and its
    prefix matched the parent's; on any failure nothing is left.

    Raises:
        ConfigError: bad time, key or value; different input data.
        OutputExistsError: `out` exists and `overwrite` is false.
        VerificationError: the re-executed run differs from the parent before `at_ns`
            (with no overrides: anywhere).
    """
    with EventLogReader(parent_path) as reader:
        fold_log(reader, apply_events=False)  # the whole parent verified first (its chain to the header's end)
        h = reader.header
        scenario = forked_scenario(h, at_ns, overrides)
        if scenario.fork is not None:
            at_ns = scenario.seconds_ns(scenario.fork.at_s)
        last = reader.conn.execute("SELECT coalesce(max(ts_ns), -1) FROM events").fetchone()[0]
        if last < at_ns:
            raise ConfigError(f"{reader.path}: the log ends at {last / NS_PER_S:g} s, before --at ({h.status})")
        run = RunLifecycle(scenario, h.seed, data_dir)
        if run.header.inputs_json != h.inputs_json:
            raise ConfigError(
                f"{reader.path}: the input data differ from the parent's (parent {h.inputs_json}, found {run.header.inputs_json})"
            )
        whole = not overrides and h.status == "complete"
        checks: list[PrefixCheck] = []  # the one check, made when the lifecycle has opened the log

        def checked(log: EventLog) -> PrefixCheck:
            checks.append(PrefixCheck(
                log, reader, None if not overrides else at_ns, f"{out} diverges from {reader.path}",
                parent_ends=h.status != "complete",  # an interrupted parent: rows past its last are not compared
                parent_head=(h.events, h.head_hash), same_run=whole,
            ))  # fmt: skip
            return checks[0]

        output = OutputFile(out, overwrite=overwrite, atomic=True)
        try:
            summary = run.to_file(output, progress=progress, wrap=checked, before_complete=lambda: checks[0].complete(),
                                  snapshot_every=snapshot_every_of(reader))  # fmt: skip
        finally:
            for check in checks:
                check.close()
    changes = dict(scenario.fork.set) if scenario.fork is not None else {}
    return ForkResult(summary, h, at_ns, changes, checks[0].checked, whole)
