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
from dataclasses import dataclass
from pathlib import Path

import msgspec

from clearing import events as ev
from clearing.errors import VerificationError
from clearing.log import schema
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
        return {name: (kind, _normalise(sql or "")) for kind, name, sql in
                conn.execute("SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'")}  # fmt: skip
    finally:
        conn.close()


def _check_objects(reader: EventLogReader) -> None:
    # Nothing added: a table, view, trigger or index this version does not write (an attacker's trigger, a shadow
    # table). Views are not compared with this version's: their SQL has changed between versions without the
    # schema version (the reader never uses them; binding them to the chain needs a header field).
    expected = _expected_objects()
    for kind, name in reader.conn.execute("SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"):
        if name not in expected or expected[name][0] != kind:
            raise VerificationError(f"{reader.path}: {kind} {name} was added (this version writes no such {kind})")


def _check_schema(reader: EventLogReader) -> None:
    _check_objects(reader)
    objects = dict(reader.conn.execute("SELECT name, sql FROM sqlite_master WHERE type IN ('table', 'trigger')"))
    if _normalise(objects.get("events", "")) != _normalise(schema.EVENTS_SQL):
        raise VerificationError(f"{reader.path}: events table schema was altered")
    if _normalise(objects.get("runs", "")) != _normalise(schema.RUNS_SQL):
        raise VerificationError(f"{reader.path}: runs table schema was altered")
    for name, sql in zip(schema.TRIGGER_NAMES, schema.TRIGGERS_SQL, strict=True):
        if _normalise(objects.get(name) or "") != _normalise(sql):
            raise VerificationError(f"{reader.path}: append-only trigger {name} is missing or altered")


def _check_header(reader: EventLogReader) -> None:
    h = reader.header
    where = f"{reader.path}: run header"
    if h.schema_version != schema.SCHEMA_VERSION:
        raise VerificationError(f"{where}: schema_version {h.schema_version} does not match the file's")
    if hashlib.sha256(h.scenario_json.encode()).hexdigest() != h.scenario_hash:
        raise VerificationError(f"{where}: scenario_json does not match scenario_hash (edited scenario)")
    if run_id_for(h.scenario_hash, h.seed, h.inputs_json) != h.run_id:
        raise VerificationError(f"{where}: run_id does not match scenario, seed and input data")
    if h.status not in schema.STATUSES:
        raise VerificationError(f"{where}: unknown status {h.status!r}")
    try:
        scenario = json.loads(h.scenario_json)
    except ValueError:
        raise VerificationError(f"{where}: scenario_json is not JSON") from None
    if isinstance(scenario, dict) and "name" in scenario and scenario["name"] != h.scenario_name:
        raise VerificationError(f"{where}: scenario_name {h.scenario_name!r} is not the scenario's ({scenario['name']!r})")
    epoch = scenario.get("epoch") if isinstance(scenario, dict) else None
    if isinstance(epoch, str) and _utc(epoch) != _utc(h.epoch_utc):
        raise VerificationError(f"{where}: epoch_utc {h.epoch_utc} is not the scenario's epoch ({epoch})")


def _utc(text: str) -> str:
    # An ISO time, normalised (Z and +00:00 are one zone).
    return text.replace("+00:00", "Z")


def _check_row(reader: EventLogReader, row: tuple[int, int, str, int, str, str, bytes], previous_ts: int) -> bool:
    # Returns whether the row is the run's final checkpoint.
    seq, ts_ns, kind, version, causes, payload, _ = row
    where = f"{reader.path}: seq {seq}"
    try:
        event = ev.decode(payload, kind, version)
    except (msgspec.ValidationError, msgspec.DecodeError, ValueError, KeyError) as e:
        raise VerificationError(f"{where}: payload does not decode as {kind} v{version} ({e})", seq) from None
    if ev.KIND_OF[type(event)] != kind or event.ts_ns != ts_ns or causes_text(event.causes) != causes:
        raise VerificationError(f"{where}: kind, ts_ns or causes column differs from the payload", seq)
    if ts_ns < previous_ts:
        raise VerificationError(f"{where}: time goes backwards ({ts_ns} < {previous_ts})", seq)
    if any(not 1 <= c < seq for c in event.causes):
        raise VerificationError(f"{where}: causes {event.causes} name events that are not earlier", seq)
    return isinstance(event, ev.CheckpointRecorded) and event.final


def check_structure(reader: EventLogReader) -> None:
    """Check what every reader of a log relies on before reading its rows: its schema (nothing added, the tables and
    append-only triggers as written) and its header (each field bound to the others: scenario, hash, run id, name,
    epoch, schema version, status). The rows themselves are checked as they are read (the hash chain).

    Raises:
        VerificationError: naming what was altered or added.
    """
    _check_schema(reader)
    _check_header(reader)


def verify_log(path: Path | str) -> VerifyReport:
    """Check a log end to end and return what it holds.

    Raises:
        EventLogError: the file is not a readable clearing event log.
        VerificationError: tampered or corrupt; the message and `.seq` name the first bad seq.
    """
    with EventLogReader(path) as reader:
        check_structure(reader)
        h = reader.header
        head = schema.genesis_hash(h.run_id, h.scenario_hash, h.seed)
        expected_seq = 1
        last_ts = 0
        final_seq = 0
        try:
            for row in reader.conn.execute("SELECT seq, ts_ns, kind, version, causes, payload, hash FROM events ORDER BY seq"):
                seq = row[0]
                if seq != expected_seq:
                    raise VerificationError(f"{reader.path}: seq {expected_seq} is missing (next row is {seq})", expected_seq)
                payload = row[5].encode() if isinstance(row[5], str) else row[5]
                head = schema.chain_hash(head, seq, row[3], payload)
                if head != row[6]:
                    raise VerificationError(
                        f"{reader.path}: seq {seq}: hash chain broken (row edited, inserted or reordered)", seq
                    )
                if _check_row(reader, row, last_ts):
                    final_seq = seq
                last_ts = row[1]
                expected_seq += 1
        except sqlite3.DatabaseError as e:
            raise VerificationError(f"{reader.path}: corrupt at seq {expected_seq} ({e})", expected_seq) from None
        count = expected_seq - 1
        if h.status == "complete" and final_seq != count:
            raise VerificationError(f"{reader.path}: status complete, but the log does not end with the final checkpoint", count)
        if h.status == "incomplete" and final_seq:
            raise VerificationError(f"{reader.path}: status incomplete, but seq {final_seq} is the final checkpoint", final_seq)
        if h.status != "incomplete":
            if h.events != count:
                raise VerificationError(f"{reader.path}: header says {h.events} events, log has {count} (truncated?)", count + 1)
            if h.head_hash != head.hex():
                raise VerificationError(f"{reader.path}: header head_hash does not match the chain", count)
        return VerifyReport(str(reader.path), h.run_id, h.status, count, head.hex(), last_ts)
