"""The one walk of an event log: every view of a log is an observer of this fold.

`fold_log` reads a log's rows in seq order through `EventLogReader`, checks each row's
place in the hash chain (and that seqs run 1, 2, 3, ... without a gap) as it goes, decodes
the payload (upcasting an older version), requires the `kind` column to name the payload's
kind, shows the event to the observers that asked for its kind, and applies it to a
`ClearingState` with the same `apply` the live run used. After the last row of a finished
log (`complete` or `failed`) it compares the header's event count and head hash with the
chain it read, so a log cut short at its end fails too. Any break is a `VerificationError`
naming the seq (exit code 1), the same for every view: replay, report, cascades and diff.

An observer names the event kinds it wants (`kinds`; None for every kind): the fold looks
its kind up once per row, so an observer costs nothing on the kinds it did not ask for.
It sees each event *before* it is applied, with the state as it was just before it (what
a checkpoint's digest and a breach's audit were computed on in the live run), and the
folded result at the end. A walk that applies the events also counts them per market
(`Tallying`, for the summary's `markets`), as the live run does.

`fold_log(..., apply_events=False)` is the fast walk for views that read only the events
(cascades): the rows are chain-checked all the same, but nothing is applied, and a row
whose kind no observer asked for is not decoded (its `kind` column is still checked
against the hashed payload, which starts with its kind). Observers that read the state
declare `needs_state` and are refused by such a walk.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import structlog

from clearing import events as ev
from clearing.apps.summary import RunSummary, summarize
from clearing.apps.tally import TALLIED, MarketTally, tally_log
from clearing.core.state import DIGEST_VERSION, ClearingState, apply
from clearing.core.state import snapshot as snapshots
from clearing.data.inputs import data_sources_of
from clearing.errors import InvariantViolation, ReplayDivergenceError, VerificationError
from clearing.log.progress import EVERY, READ_PROGRESS
from clearing.log.reader import FOLD_COLUMNS, REPLAY_COLUMNS, EventLogReader, RunHeader, opened
from clearing.log.schema import ROW_HEADER
from clearing.log.verify import check_end, check_structure

Hook = Callable[[int, str, ev.Event, ClearingState], None]

# The canonical payload starts with its kind: a row left undecoded is still checked to be what its column says.
# How a row's canonical payload starts, by kind: a compact row's (layout 7 on) and an older row's.
_PREFIX = {kind: f'["{kind}",'.encode() for kind in ev.KINDS}
_OBJECT_PREFIX = {kind: f'{{"kind":"{kind}"'.encode() for kind in ev.KINDS}


class Observer:
    """A view of a log, told of the events of the kinds it names as `fold_log` walks it.

    Subclasses set `kinds` (a frozenset of kind names; None: every kind) and `needs_state`
    (False when the view reads only the events, so that it may ride a walk that applies
    nothing), and override the hooks they need.
    """

    kinds: ClassVar[frozenset[str] | None] = None
    needs_state: ClassVar[bool] = True

    def begin(self, path: Path, header: RunHeader) -> None:
        """Called once, before the first row, with the log's path and header."""

    def event(self, seq: int, kind: str, event: ev.Event, state: ClearingState) -> None:
        """Called for each event of the kinds asked for, before it is applied to `state`."""

    def end(self, folded: Folded) -> None:
        """Called once, after the last row was applied and the log checked against its header."""


@dataclass
class Folded:
    """What a fold read: the final state (empty when nothing was applied), how far, and the chain's head."""

    path: Path
    header: RunHeader
    state: ClearingState
    events: int  # rows read, the last one's seq
    head_hash: str  # hex of the last row's hash (the genesis hash when no row was read)
    whole: bool  # every row of the log was read (not stopped by `until_ns`)
    tally: MarketTally | None = None  # the per-market counts (of a walk that applied the events)
    start_seq: int = 1  # the first seq read (after a state snapshot's: its checkpoint's)

    @property
    def status(self) -> str:
        """Return the header's status, or "partial" when the fold stopped before the end of the log."""
        return self.header.status if self.whole else "partial"

    def summary(self) -> RunSummary:
        """Return the run summary of the folded state (of a walk that applied the events)."""
        h = self.header
        return summarize(
            self.state, run_id=h.run_id, scenario=h.scenario_name, seed=h.seed, status=self.status, events=self.events,
            head_hash=self.head_hash, data_sources=data_sources_of(h.scenario_json, h.inputs_json), tally=self.tally,
        )  # fmt: skip


class Tallying(Observer):
    """Counts the events per market into `tally` (`clearing.apps.tally`): what the summary shows per market."""

    kinds = TALLIED
    needs_state = False

    def __init__(self, tally: MarketTally | None = None) -> None:
        self.tally = tally or MarketTally()

    def event(self, seq: int, kind: str, event: ev.Event, state: ClearingState) -> None:
        """Count the event."""
        self.tally.event(seq, kind, event)


TRIES = snapshots.KEYFRAME_EVERY + 1  # snapshots `Start.find` tries, the last first


@dataclass
class Start:
    """Where a fold starts: the first seq, the chain's head before it, the state and the per-market counts then."""

    seq: int
    head: bytes
    state: ClearingState
    tally: MarketTally | None = None

    @staticmethod
    def at_genesis(header: RunHeader) -> Start:
        """Return the start of a log: seq 1, the genesis hash, the empty state."""
        return Start(1, header.genesis(), ClearingState())

    @staticmethod
    def find(reader: EventLogReader, until_ns: int) -> Start:
        """Return the start at the log's last usable snapshot at or before `until_ns` (at genesis without one).

        The snapshot's state must reproduce the digest of the chained checkpoint at its seq,
        and the walk from there checks the chain from the stored hash of the row before it:
        the rows before the snapshot are not read (`clearing verify` reads them all). A
        snapshot that does not load or is not its checkpoint's state (written by another
        version, or altered, or resting on a delta's base that is gone) is said on stderr (a
        warning) and the one before it is tried, back to `TRIES` of them (enough to reach a
        whole snapshot past a broken chain of deltas); then the walk starts at genesis.
        """
        found = [s for s in reader.snapshots() if s[1] <= until_ns][-TRIES:]
        for i, (seq, _ts, digest) in enumerate(reversed(found)):
            try:
                state = _snapshot_state(reader, seq, digest)
            except snapshots.SnapshotError as e:
                then = "trying the one before it" if i + 1 < len(found) else "replaying from the first event"
                structlog.get_logger().warning(f"the state snapshot at seq {seq} {e}; {then} (`clearing verify` checks "
                                               "every snapshot)", log=str(reader.path))  # fmt: skip
                continue
            return Start(seq, reader.snapshot_head(seq), state, tally_log(reader, before_seq=seq))
        return Start.at_genesis(reader.header)


def _snapshot_state(reader: EventLogReader, seq: int, digest: str) -> ClearingState:
    # The state of the snapshot at `seq`, if it is the state of the chained checkpoint there (SnapshotError if not).
    row = next(iter(list(reader.rows(since_seq=seq, until_seq=seq, columns=REPLAY_COLUMNS))), None)
    try:
        checkpoint = reader.decode(row[3], row[1], row[2]) if row is not None and row[1] == "checkpoint_recorded" else None
    except (ValueError, TypeError):  # msgspec's errors are ValueErrors
        checkpoint = None
    if not isinstance(checkpoint, ev.CheckpointRecorded) or checkpoint.digest != digest:
        raise snapshots.SnapshotError("is not of the checkpoint there")
    if checkpoint.digest_version != DIGEST_VERSION:
        raise snapshots.SnapshotError(f"is of a state of digest version {checkpoint.digest_version}, not this version's")
    fmt, blob = reader.snapshot(seq)
    return snapshots.load(blob, fmt, digest, seq=seq, bases=snapshots.Bases(reader.snapshot))


def _hooks(observers: Sequence[Observer]) -> dict[str, tuple[Hook, ...]]:
    # kind -> the observers' event hooks, in the order the observers were given.
    table: dict[str, list[Hook]] = {}
    for observer in observers:
        unknown = sorted((observer.kinds or frozenset()) - set(ev.KINDS))
        if unknown:
            raise ValueError(f"{type(observer).__name__} observes unknown kind(s) {', '.join(unknown)}")
        for kind in ev.KINDS if observer.kinds is None else observer.kinds:
            table.setdefault(kind, []).append(observer.event)
    return {kind: tuple(hooks) for kind, hooks in table.items()}


def _relabelled(path: Path, seq: int, kind: str) -> VerificationError:
    return VerificationError(f"{path}: seq {seq}: the kind column ({kind}) is not the payload's", seq)


def fold_log(
    path: Path | str | EventLogReader,
    observers: Sequence[Observer] = (),
    *,
    until_ns: int | None = None,
    apply_events: bool = True,
    from_snapshot: bool = False,
) -> Folded:
    """Walk the log at `path` up to and including `until_ns` (all of it when None), showing it to `observers`.

    `path` may be a reader already open (its snapshot is walked, and it stays open).
    `from_snapshot`: with `until_ns`, start from the log's last state snapshot at or before it
    (`Start`), so that the observers see only the events from its checkpoint on.

    Raises:
        clearing.errors.EventLogError: the file is not a readable event log.
        VerificationError: the chain is broken, a seq is missing, a row does not decode or its
            kind column is not its payload's, or a finished log's header does not match the chain.
        ReplayDivergenceError: a row cannot be applied to the state before it (or an observer's check failed).
        ValueError: an observer needs the state of a walk that does not apply the events.
    """
    needy = [type(o).__name__ for o in observers if o.needs_state]
    if needy and not apply_events:
        raise ValueError(f"{', '.join(needy)} read(s) the state: fold with apply_events=True")
    with opened(path) as reader:
        check_structure(reader)  # the schema and header every reader relies on, as `verify` checks them
        h = reader.header
        start = Start.find(reader, until_ns) if from_snapshot and apply_events and until_ns is not None else Start.at_genesis(h)
        tallying = Tallying(start.tally) if apply_events else None
        hooks_of = _hooks([*observers, *([tallying] if tallying else [])]).get
        for observer in observers:
            observer.begin(reader.path, h)
        head, state = start.head, start.state
        sha256, pack, prefix_of = hashlib.sha256, ROW_HEADER.pack, (_PREFIX if reader.compact else _OBJECT_PREFIX).get
        decode, versions, types = reader.decode, ev.VERSIONS.get, ev.KINDS.get
        fast_decode = ev.DECODER.decode if reader.compact else None  # the current versions' payloads, in one call
        stored, prefixes = reader.row_hash_bytes, reader.prefixes if reader.compact else None
        expected = start.seq
        final: tuple[int, str] | None = None  # the final checkpoint's seq and digest, once read
        progress, mask = READ_PROGRESS.get(), EVERY - 1
        total = (h.events or reader.count()) if progress is not None else 0
        # From a snapshot, by seq alone (a range the primary key answers). The generator is not named: an error in the
        # walk must end it at once, before the reader closes.
        bounds = {"until_ns": until_ns} if start.seq == 1 or until_ns is None else \
            {"since_seq": start.seq, "until_seq": reader.last_seq_until(until_ns)}  # fmt: skip
        for seq, kind, version, data, row_hash in reader.rows(**bounds, columns=FOLD_COLUMNS):
            if progress is not None and not seq & mask:
                progress(seq, total)
            if prefixes is not None:  # a compact row: its kind by code, its canonical bytes from `["kind",` on
                known = prefixes.get(kind)
                if known is None or data is None:
                    raise VerificationError(f"{reader.path}: seq {seq}: its kind is not one of the log's; run `clearing verify`",
                                            seq)  # fmt: skip
                kind, begins = known
                data = begins + data
            # schema.chain_hash, inlined: this runs once per row.
            head = sha256(head + pack(seq, version) + data).digest()
            if head[:stored] != row_hash or seq != expected:
                raise VerificationError(f"{reader.path}: seq {seq}: hash chain broken; run `clearing verify`", seq)
            expected += 1
            hooks = hooks_of(kind)
            if hooks is None and not apply_events and kind != "checkpoint_recorded":
                prefix = prefix_of(kind)
                if prefix is not None and data.startswith(prefix):
                    continue  # nobody asked for it, and it is what its column says
            try:
                event = fast_decode(data) if fast_decode is not None and versions(kind) == version else \
                    decode(data, kind, version)  # fmt: skip
            except (ValueError, TypeError) as e:  # msgspec's errors are ValueErrors
                if not data.startswith(prefix_of(kind, b"\0")):
                    raise _relabelled(reader.path, seq, kind) from None
                raise VerificationError(f"{reader.path}: seq {seq}: undecodable payload ({e})", seq) from None
            if type(event) is not types(kind):
                raise _relabelled(reader.path, seq, kind)
            if kind == "checkpoint_recorded" and event.final:  # type: ignore[attr-defined]
                final = (seq, event.digest)  # type: ignore[attr-defined]
            if hooks is not None:
                for hook in hooks:
                    hook(seq, kind, event, state)
            if apply_events:
                try:
                    apply(state, event)
                except InvariantViolation as e:
                    raise ReplayDivergenceError(f"{reader.path}: seq {seq}: cannot be applied ({e})", seq) from None
        events = expected - 1
        if progress is not None:
            progress(events, total if until_ns is None else events)
        whole = until_ns is None or events == reader.count()
        if whole:
            check_end(reader, events, head.hex(), final)
        folded = Folded(reader.path, h, state, events, head.hex(), whole, tallying.tally if tallying else None, start.seq)
        for observer in observers:
            observer.end(folded)
    return folded
