"""Verification of an event log: schema, header and every row's place in the hash chain.

`verify_log` raises `VerificationError` naming the first bad seq (exit code 1) and
`EventLogError` for files that are not readable event logs at all (exit code 2).
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import sqlite3
import struct
from dataclasses import dataclass
from pathlib import Path

import msgspec
import structlog

from clearing import events as ev
from clearing.core.state import DIGEST_VERSION
from clearing.core.state import snapshot as snapshots
from clearing.errors import VerificationError
from clearing.log import schema
from clearing.log.progress import EVERY, READ_PROGRESS
from clearing.log.reader import EventLogReader
from clearing.log.writer import EventLog, RunHeaderData, causes_text


@dataclass(frozen=True)
class VerifyReport:
    """What an intact log holds."""

    path: str
    run_id: str
    status: str
    events: int
    head_hash: str
    last_ts_ns: int
    resumed_at: tuple[int, ...] = ()
    snapshots: int = 0  # state snapshots, each checked against its checkpoint
    snapshots_skipped: int = 0  # written by another version (another format or digest version): not loaded


def run_id_for(scenario_hash: str, seed: int, inputs_json: str = "{}") -> str:
    """Return the run id: a pure function of the scenario, seed and input data, so reruns match.

    Runs without input files hash only the scenario and seed (as logs before input files did).
    """
    key = f"{scenario_hash}|{seed}" + (f"|{inputs_json}" if inputs_json != "{}" else "")
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def _normalise(sql: str) -> str:
    return re.sub(r"\s+", " ", sql).strip()


@functools.cache
def _expected_objects() -> dict[str, tuple[str, str]]:
    # What this version writes: every table, view, trigger and index by name (type, normalised SQL), from the writer's
    # own schema code run on an empty in-memory database (one source of truth).
    conn = sqlite3.connect(":memory:")
    try:
        header = RunHeaderData("0" * 16, "", "", "{}", "0" * 64, 0, "1970-01-01T00:00:00Z", "{}")
        EventLog._create(conn, header)
        for sql in schema.INDEXES_SQL:
            conn.execute(sql)
        return _objects(conn)
    finally:
        conn.close()


@functools.cache
def _indexes(layout: int) -> dict[str, tuple[str, str]]:
    # The indexes of a complete log of `layout`, by name (type, normalised SQL).
    conn = sqlite3.connect(":memory:")
    try:
        conn.execute(schema.events_sql(layout))
        for sql in schema.indexes_sql(layout):
            conn.execute(sql)
        return {name: item for name, item in _objects(conn).items() if item[0] == "index"}
    finally:
        conn.close()


def _objects(conn: sqlite3.Connection) -> dict[str, tuple[str, str]]:
    # As text whatever a flipped type byte made of them (a blob, a number), for the checks to find them altered.
    rows = conn.execute("SELECT CAST(type AS TEXT), CAST(name AS TEXT), CAST(sql AS TEXT) FROM sqlite_master "
                        "WHERE name NOT LIKE 'sqlite_%'")  # fmt: skip
    return {name: (kind, _normalise(sql or "")) for kind, name, sql in rows}


def layout_digest(objects: dict[str, tuple[str, str]] | None = None) -> str:
    """Return the SHA-256 of a layout's tables, views and triggers (this version's by default), sorted by name.

    A layout is known by it: `clearing.log.schema.LAYOUT_DIGESTS` records each layout's, and a
    test fails when what this version writes is no longer its layout's (bump the layout).
    """
    objects = _expected_objects() if objects is None else objects
    text = "\n".join(f"{name}|{kind}|{sql}" for name, (kind, sql) in sorted(objects.items()) if kind != "index")
    return hashlib.sha256(text.encode()).hexdigest()


def _check_objects(reader: EventLogReader) -> None:
    # This layout: the file's objects are exactly this version's, each by name and SQL. An older layout from 2 on:
    # its tables, views and triggers together are that layout's (by digest). Layout 1: nothing added (its views
    # changed between versions without a layout number then, so they cannot be compared).
    expected, found = _expected_objects(), _objects(reader.conn)
    where, layout = reader.path, reader.layout
    if 2 <= layout < schema.LAYOUT_VERSION:
        if layout_digest(found) != schema.LAYOUT_DIGESTS.get(layout):
            raise VerificationError(f"{where}: its tables, views and triggers are not those of log layout {layout} "
                                    "(altered or added)")  # fmt: skip
        expected = _indexes(layout)
    elif layout < schema.LAYOUT_VERSION:  # layout 1: this version's tables, views and triggers by name, its own indexes
        expected = {name: item for name, item in expected.items() if item[0] != "index"} | _indexes(layout)
    for name, (kind, sql) in sorted(found.items()):
        if 2 <= layout < schema.LAYOUT_VERSION and kind != "index":
            continue
        if name not in expected or expected[name][0] != kind:
            raise VerificationError(f"{where}: {kind} {name} was added (this version writes no such {kind})")
        if (layout >= 2 or kind == "index") and sql != expected[name][1]:
            raise VerificationError(f"{where}: {kind} {name} was altered (its SQL is not what clearing writes)")
    if layout == schema.LAYOUT_VERSION:
        complete = reader.header.status == "complete"  # the indexes are made when the run completes
        for name, (kind, _sql) in sorted(expected.items()):
            if name not in found and (kind != "index" or complete):
                raise VerificationError(f"{where}: {kind} {name} is missing")


def _check_schema(reader: EventLogReader) -> None:
    _check_objects(reader)
    objects = dict(reader.conn.execute("SELECT CAST(name AS TEXT), CAST(sql AS TEXT) FROM sqlite_master "
                                       "WHERE type IN ('table', 'trigger')"))  # fmt: skip
    if _normalise(objects.get("events", "")) != _normalise(schema.events_sql(reader.layout)):
        raise VerificationError(f"{reader.path}: events table schema was altered")
    if reader.compact:
        _check_kinds(reader, objects)
    runs = schema.RUNS_SQL if reader.layout >= 2 else schema.RUNS_SQL_V1
    if _normalise(objects.get("runs", "")) != _normalise(runs):
        raise VerificationError(f"{reader.path}: runs table schema was altered")
    for name, sql in zip(schema.TRIGGER_NAMES, schema.TRIGGERS_SQL, strict=True):
        if _normalise(objects.get(name) or "") != _normalise(sql):
            raise VerificationError(f"{reader.path}: append-only trigger {name} is missing or altered")


def _check_kinds(reader: EventLogReader, objects: dict[str, str]) -> None:
    # A compact log's kinds: the table and its triggers as written, each kind this version knows at its version with
    # its fields (an unknown kind or a newer version is found where a row uses it: `EventLogReader.decode`).
    if _normalise(objects.get("kinds", "")) != _normalise(schema.KINDS_SQL):
        raise VerificationError(f"{reader.path}: kinds table schema was altered")
    for sql in schema.KINDS_TRIGGERS_SQL:
        name = sql.split()[2]
        if _normalise(objects.get(name) or "") != _normalise(sql):
            raise VerificationError(f"{reader.path}: trigger {name} is missing or altered")
    for kind, (_code, version, fields) in reader.kinds.items():
        if ev.VERSIONS.get(kind) == version and ev.PAYLOAD_FIELDS[kind] != fields:
            raise VerificationError(f"{reader.path}: the kinds table lists fields of {kind} v{version} that are not its own")


def _check_header(reader: EventLogReader) -> None:
    h = reader.header
    where = f"{reader.path}: run header"
    if h.schema_version != schema.chain_version(reader.layout):
        raise VerificationError(f"{where}: schema_version {h.schema_version} does not match the file's")
    if hashlib.sha256(h.scenario_json.encode()).hexdigest() != h.scenario_hash:
        raise VerificationError(f"{where}: scenario_json does not match scenario_hash (edited scenario)")
    if run_id_for(h.scenario_hash, h.seed, h.inputs_json) != h.run_id:
        raise VerificationError(f"{where}: run_id does not match scenario, seed and input data")
    if h.status not in schema.STATUSES:
        raise VerificationError(f"{where}: unknown status {h.status!r}")
    if h.status != "complete" and h.state_digest is not None:
        raise VerificationError(f"{where}: status {h.status} with a state_digest (only a complete run records one)")
    if h.status != "failed" and h.error is not None:
        raise VerificationError(f"{where}: status {h.status} with an error (only a failed run records one)")
    try:
        scenario = json.loads(h.scenario_json)
    except ValueError:
        raise VerificationError(f"{where}: scenario_json is not JSON") from None
    if isinstance(scenario, dict) and "name" in scenario and scenario["name"] != h.scenario_name:
        raise VerificationError(f"{where}: scenario_name {h.scenario_name!r} is not the scenario's ({scenario['name']!r})")
    epoch = scenario.get("epoch") if isinstance(scenario, dict) else None
    if isinstance(epoch, str) and _utc(epoch) != _utc(h.epoch_utc):
        raise VerificationError(f"{where}: epoch_utc {h.epoch_utc} is not the scenario's epoch ({epoch})")
    resumes(reader)


def resumes(reader: EventLogReader) -> tuple[int, ...]:
    """Return the event counts at which the log's run was resumed (`clearing resume`), oldest first.

    Raises:
        VerificationError: the header's `resumed_at` is not a rising list of counts.
    """
    text = reader.header.resumed_at
    if text is None:
        return ()
    try:
        counts = json.loads(text)
    except ValueError:
        counts = None
    if (not isinstance(counts, list) or not counts or any(type(c) is not int or c < 0 for c in counts)
            or counts != sorted(counts) or (reader.header.events is not None and counts[-1] > reader.header.events)):  # fmt: skip
        raise VerificationError(f"{reader.path}: run header: resumed_at {text!r} is not a rising list of event counts")
    return tuple(counts)


def check_end(reader: EventLogReader, events: int, head: str, final: tuple[int, str] | None) -> None:
    """Check the header against the chain read to its end: `events` rows ending in `head`, and `final`, the seq and
    digest of the run's final checkpoint if one was read.

    A finished run's header records its end; a run still incomplete records the end of its last
    complete batch (layout 2), so a log cut at its tail is found either way. The status is bound
    to the final checkpoint (a complete run ends with it, no other run holds one), and the state
    digest to the digest it records (layout 2).

    Raises:
        VerificationError: the header and the chain disagree.
    """
    _check_count(reader, events, head)
    h = reader.header
    if h.status == "complete":
        if final is None or final[0] != events:
            raise VerificationError(f"{reader.path}: status complete, but the log does not end with the final checkpoint",
                                    events)  # fmt: skip
        if reader.layout >= 2 and h.state_digest != final[1]:
            raise VerificationError(f"{reader.path}: run header: state_digest is not the final checkpoint's (seq {events})",
                                    events)  # fmt: skip
    elif final is not None:
        raise VerificationError(f"{reader.path}: status {h.status}, but seq {final[0]} is the final checkpoint", final[0])


def _check_count(reader: EventLogReader, events: int, head: str) -> None:
    h = reader.header
    if h.events is None and h.head_hash is None and h.status == "incomplete" and (events == 0 or reader.layout < 2):
        return  # nothing written yet, or a layout-1 run stopped before its progress was recorded
    if (h.events, h.head_hash) == (events, head):
        return
    if h.events is not None and events < h.events:
        raise VerificationError(
            f"{reader.path}: cut at its tail: the header records {h.events} events, the file holds {events}"
            + (" (its -wal file is missing)" if reader.wal_missing else ""),
            events + 1,
        )
    raise VerificationError(f"{reader.path}: the header records {h.events} events ending in {h.head_hash}; "
                            f"the log has {events} ending in {head}", events)  # fmt: skip


def check_structure(reader: EventLogReader, note: bool = True) -> None:
    """Check what every reader of a log relies on before reading its rows: its schema (nothing added, the tables and
    append-only triggers as written) and its header (each field bound to the others: scenario, hash, run id, name,
    epoch, schema version, status). The rows themselves are checked as they are read (the hash chain).

    With `note`, a log that is not complete is said on stderr (a warning): it is read up to its last complete batch.

    Raises:
        VerificationError: naming what was altered or added.
    """
    _check_schema(reader)
    _check_header(reader)
    h = reader.header
    if note and h.status == "incomplete":
        structlog.get_logger().warning(
            "reading an incomplete log (interrupted, killed or still being written) up to its last complete batch"
            + ("; its -wal file is missing, so later events are not in it" if reader.wal_missing else ""),
            log=str(reader.path), events=h.events or 0, resume=f"clearing resume {reader.path}",
        )  # fmt: skip


def _utc(text: str) -> str:
    # An ISO time, normalised (Z and +00:00 are one zone).
    return text.replace("+00:00", "Z")


def _check_row(
    reader: EventLogReader, row: tuple[int, int, str, int, str, str, bytes], previous_ts: int
) -> ev.CheckpointRecorded | None:
    # Returns the row's event if it is a checkpoint.
    seq, ts_ns, kind, version, causes, payload, _ = row
    where = f"{reader.path}: seq {seq}"
    try:
        event = reader.decode(payload, kind, version)
    except (msgspec.ValidationError, msgspec.DecodeError, ValueError, KeyError) as e:
        raise VerificationError(f"{where}: payload does not decode as {kind} v{version} ({e})", seq) from None
    if ev.KIND_OF[type(event)] != kind or event.ts_ns != ts_ns or causes_text(event.causes) != causes:
        raise VerificationError(f"{where}: kind, ts_ns or causes column differs from the payload", seq)
    if ts_ns < previous_ts:
        raise VerificationError(f"{where}: time goes backwards ({ts_ns} < {previous_ts})", seq)
    if any(not 1 <= c < seq for c in event.causes):
        raise VerificationError(f"{where}: causes {event.causes} name events that are not earlier", seq)
    return event if isinstance(event, ev.CheckpointRecorded) else None


def _check_snapshots(
    reader: EventLogReader, checkpoints: dict[int, ev.CheckpointRecorded], heads: dict[int, bytes]
) -> tuple[int, int]:
    # Each state snapshot belongs to a checkpoint of the log and reproduces its digest (decision 0030); a compact log's
    # records the chain hash before its checkpoint (`heads`: by seq, as the chain was read). One written by another
    # version (another format, or a checkpoint of another digest version) is skipped, as such checkpoints are by
    # replay. Returns (checked, skipped).
    if reader.layout < schema.SNAPSHOTS_LAYOUT:
        return 0, 0
    checked = skipped = 0
    head = "head" if reader.compact else "NULL"
    bases = snapshots.Bases(reader.snapshot)  # a delta rests on the snapshot before it, loaded just before
    for seq, fmt, digest, before, blob in reader.conn.execute(f"SELECT seq, format, digest, {head}, state FROM snapshots "
                                                              "ORDER BY seq"):  # fmt: skip
        where = f"{reader.path}: the state snapshot at seq {seq}"
        checkpoint = checkpoints.get(seq)
        if checkpoint is None or checkpoint.digest != digest:
            raise VerificationError(f"{where} is not of a checkpoint of the log (added or altered)", seq)
        if reader.compact and before != heads.get(seq):
            raise VerificationError(f"{where} records a chain hash that is not the log's before it (altered)", seq)
        if fmt not in snapshots.READS or checkpoint.digest_version != DIGEST_VERSION:
            skipped += 1
            continue
        try:
            snapshots.load(blob if isinstance(blob, bytes) else b"", fmt, digest, seq=seq, bases=bases)
        except snapshots.SnapshotError as e:
            raise VerificationError(f"{where} {e}", seq) from None
        checked += 1
    return checked, skipped


def verify_log(path: Path | str) -> VerifyReport:
    """Check a log end to end and return what it holds.

    Raises:
        EventLogError: the file is not a readable clearing event log.
        VerificationError: tampered or corrupt; the message and `.seq` name the first bad seq.
    """
    with EventLogReader(path) as reader:
        check_structure(reader, note=False)
        h = reader.header
        if h.status == "incomplete" and reader.wal_missing:
            raise VerificationError(f"{reader.path}: its -wal file is missing (copied without {reader.path.name}-wal, or "
                                    "removed after the run was killed): the events after the file's last checkpoint "
                                    "are not in it; copy the -wal with it, or `clearing resume` the log")  # fmt: skip
        head = h.genesis()
        expected_seq = 1
        last_ts = 0
        final: tuple[int, ev.CheckpointRecorded] | None = None
        checkpoints: dict[int, ev.CheckpointRecorded] = {}
        snapshot_seqs = {s[0] for s in reader.snapshots()} if reader.compact else set()
        heads: dict[int, bytes] = {}  # the chain hash before each snapshot's seq
        stored = reader.row_hash_bytes
        progress, mask = READ_PROGRESS.get(), EVERY - 1
        total = (h.events or reader.count()) if progress is not None else 0
        try:
            for row in reader.conn.execute(*reader.select()):
                seq = row[0]
                if progress is not None and not seq & mask:
                    progress(seq, total)
                if seq != expected_seq:
                    raise VerificationError(f"{reader.path}: seq {expected_seq} is missing (next row is {seq})", expected_seq)
                if row[2] is None or row[5] is None:
                    raise VerificationError(f"{reader.path}: seq {seq}: its kind code is not one of the log's kinds", seq)
                if seq in snapshot_seqs:
                    heads[seq] = head
                payload = row[5].encode() if isinstance(row[5], str) else row[5]
                head = schema.chain_hash(head, seq, row[3], payload)
                if head[:stored] != row[6]:
                    raise VerificationError(
                        f"{reader.path}: seq {seq}: hash chain broken (row edited, inserted or reordered)", seq
                    )
                checkpoint = _check_row(reader, row, last_ts)
                if checkpoint is not None:
                    checkpoints[seq] = checkpoint
                    if checkpoint.final:
                        final = (seq, checkpoint)
                last_ts = row[1]
                expected_seq += 1
        except sqlite3.DatabaseError as e:
            raise VerificationError(f"{reader.path}: corrupt at seq {expected_seq} ({e})", expected_seq) from None
        except (TypeError, struct.error):  # a flipped type byte: a column holds a value of another type than it was written
            raise VerificationError(f"{reader.path}: corrupt at seq {expected_seq} (a column holds a value of the wrong "
                                    "type)", expected_seq) from None  # fmt: skip
        count = expected_seq - 1
        if progress is not None:
            progress(count, count)
        check_end(reader, count, head.hex(), None if final is None else (final[0], final[1].digest))
        kept, skipped = _check_snapshots(reader, checkpoints, heads)
        return VerifyReport(str(reader.path), h.run_id, h.status, count, head.hex(), last_ts, resumes(reader), kept,
                            skipped)  # fmt: skip
