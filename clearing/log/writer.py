"""Append side of the event log: hash-chains rows and writes them in batched transactions.

`EventLog` writes one SQLite file per run, each row compact (`store_row`: the kind's code, the
payload array after `causes`, a short hash; decision 0031); `MemorySink` keeps the rows a reader
yields (kind by name, the canonical payload, the whole hash) and the same chain in a list for
tests and in-process studies; `ChainSink` keeps only the chain. Each is a
`clearing.sim.bus.Sink`. Both take rows from the bus only; nothing else
writes events. A crash loses at most the unflushed batch and leaves a valid prefix.

At each checkpoint the bus offers the sink a snapshot of the state (`checkpointed`);
`EventLog` stores one at the first checkpoint `snapshot_every` events after the last, in
the `snapshots` table, committed with the checkpoint's row (decision 0030). The other sinks keep none.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from clearing.errors import ConfigError, OutputExistsError
from clearing.log import schema


@dataclass(frozen=True)
class RunHeaderData:
    """What a run header records before the first event is written."""

    run_id: str
    clearing_version: str
    scenario_name: str
    scenario_json: str
    scenario_hash: str
    seed: int
    epoch_utc: str
    inputs_json: str
    resumed_at: tuple[int, ...] = ()  # the event counts the run was resumed at (`clearing resume`), oldest first


def causes_text(causes: tuple[int, ...]) -> str:
    """Return `causes` as the JSON array stored in the `causes` column."""
    if not causes:
        return "[]"
    if len(causes) == 1:
        return f"[{causes[0]}]"
    return "[" + ",".join(map(str, causes)) + "]"


def payload_array(kind: str, ts_text: str, causes: str, canonical: bytes) -> str:
    """Return the payload a compact row stores: the canonical bytes' array after `["kind",ts_ns,causes` (`[]` if empty)."""
    cut = len(kind) + len(ts_text) + len(causes) + 6  # `["` kind `",` ts `,` causes `,`
    return "[" + canonical[cut:].decode() if len(canonical) > cut else "[]"


_sha256 = hashlib.sha256
_codes = schema.KIND_CODES
_ROW_HASH = schema.ROW_HASH_BYTES
_PROGRESS_SQL = "UPDATE runs SET events = ?, head_hash = ? WHERE run_id = ?"
_FINAL_SQL = "UPDATE runs SET status = ?, error = ?, events = ?, head_hash = ?, state_digest = ? WHERE run_id = ?"
_pack_header = schema.ROW_HEADER.pack


class ChainSink:
    """A sink that keeps only the hash chain and the count: a run without a log."""

    def __init__(self, genesis: bytes = b"\x00" * 32) -> None:
        self._head = genesis
        self.count = 0

    @property
    def head_hash(self) -> bytes:
        """Return the hash of the last row."""
        return self._head

    def append(self, kind: str, version: int, ts_ns: int, causes: tuple[int, ...], payload: bytes) -> int:
        """Chain one row's hash and return its seq."""
        self.count = seq = self.count + 1
        self._head = schema.chain_hash(self._head, seq, version, payload)
        return seq

    def checkpointed(self, ts_ns: int, digest: str, snapshot: Callable[[int], tuple[int, bytes]]) -> None:
        """Keep no snapshot (a sink without a file has nowhere to keep one)."""


class MemorySink(ChainSink):
    """An in-memory sink with the same seq numbering and hash chain as the SQLite log."""

    def __init__(self, genesis: bytes = b"\x00" * 32) -> None:
        super().__init__(genesis)
        self.rows: list[tuple[int, int, str, int, str, str, bytes]] = []

    def append(self, kind: str, version: int, ts_ns: int, causes: tuple[int, ...], payload: bytes) -> int:
        """Append one row and return its seq."""
        seq = super().append(kind, version, ts_ns, causes, payload)
        self.rows.append((seq, ts_ns, kind, version, causes_text(causes), payload.decode(), self._head))
        return seq


def remove_log(path: Path | str) -> None:
    """Delete a log file and its SQLite side files, if there (a file where its directory should be counts as none)."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        with contextlib.suppress(NotADirectoryError):
            Path(f"{path}{suffix}").unlink(missing_ok=True)


class EventLog:
    """Writer of one run's SQLite event log.

    Creates the file (refusing an existing one), writes the header with status
    `incomplete`, appends rows in transactions of `batch_size`, and on `finish` records the
    final status, event count, head hash and state digest.
    """

    def __init__(self, path: Path, header: RunHeaderData, batch_size: int = 10_000, snapshot_every: int = 0) -> None:
        self.path = path
        self.batch_size = batch_size
        self.snapshot_every = snapshot_every  # events; 0: no snapshots
        self._last_snapshot = 0  # the seq of the last snapshot (0: none yet)
        self._snapshots: list[tuple[int, int, str, int, int, bytes, bytes]] = []
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:  # a file in the way, a read-only or virtual file system
            raise ConfigError(f"{path}: cannot create the log's directory ({e.strerror or e})") from None
        if path.exists():
            raise OutputExistsError(f"{path}: a log already exists there; choose another --out or pass --overwrite")
        # Created whole or not at all: the schema and the header go into `path.creating`, which is then linked to
        # `path` (refusing an existing file) and removed; an interrupt leaves no half-made log at `path`.
        creating = path.with_name(path.name + ".creating")
        remove_log(creating)
        try:
            conn = sqlite3.connect(creating, isolation_level=None)
        except sqlite3.Error as e:
            raise ConfigError(f"{path}: cannot create the log there ({e})") from None
        try:
            # 64 KiB pages (set before the first write; WAL cannot change it later): the log is
            # appended in order, and with fewer, larger pages the WAL checkpoints cost about
            # half as much per row (~4 -> ~2 us on the dev box); the file is ~5 % smaller.
            conn.execute(f"PRAGMA page_size = {schema.PAGE_SIZE}")
            conn.execute("PRAGMA journal_mode=WAL")
            self._create(conn, header)
            conn.close()
            os.link(creating, path)
        except FileExistsError:
            raise OutputExistsError(f"{path}: a log already exists there; choose another --out or pass --overwrite") from None
        except (OSError, sqlite3.Error) as e:
            raise ConfigError(f"{path}: cannot create the log there ({getattr(e, 'strerror', None) or e})") from None
        finally:
            conn.close()
            remove_log(creating)
        self._conn = sqlite3.connect(path, isolation_level=None)
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA busy_timeout=2000")
        self._head = schema.genesis_hash(header.run_id, header.scenario_hash, header.seed)
        self._seq = 0
        self._rows: list[tuple[int, int, int, int, str, str, bytes]] = []
        self._run_id = header.run_id
        self.closed = False

    @staticmethod
    def _create(conn: sqlite3.Connection, header: RunHeaderData) -> None:
        # The schema and the header in one transaction (plain sqlite3: every reader of a log runs this, through
        # `clearing.log.verify`, and sqlite-utils would import pandas when it is installed).
        header_row = {
            "run_id": header.run_id,
            "schema_version": schema.SCHEMA_VERSION,
            "clearing_version": header.clearing_version,
            "scenario_name": header.scenario_name,
            "scenario_json": header.scenario_json,
            "scenario_hash": header.scenario_hash,
            "seed": header.seed,
            "epoch_utc": header.epoch_utc,
            "inputs_json": header.inputs_json,
            "status": "incomplete",
            "resumed_at": json.dumps(list(header.resumed_at)) if header.resumed_at else None,
        }
        statements = [
            f"PRAGMA application_id = {schema.APPLICATION_ID}",
            f"PRAGMA user_version = {schema.LAYOUT_VERSION}",
            schema.RUNS_SQL,
            schema.EVENTS_SQL,
            schema.KINDS_SQL,
            schema.SNAPSHOTS_SQL,
            *schema.TRIGGERS_SQL,
            *schema.KINDS_TRIGGERS_SQL,
            schema.ROWS_VIEW_SQL,
            *(schema.view_sql(kind) for kind in schema.ev.KINDS),
            *(schema.alias_sql(alias, kind) for alias, kind in schema.VIEW_ALIASES.items()),
            *(schema.analysis_view_sql(name) for name in schema.ANALYSIS_VIEWS),
        ]
        conn.execute("BEGIN")
        try:
            for sql in statements:
                conn.execute(sql)
            conn.executemany(schema.KIND_INSERT_SQL, [
                (code, kind, schema.ev.VERSIONS[kind], json.dumps(schema.ev.PAYLOAD_FIELDS[kind], separators=(",", ":")))
                for kind, code in schema.KIND_CODES.items()
            ])  # fmt: skip
            conn.execute(f"INSERT INTO runs ({', '.join(header_row)}) VALUES ({', '.join('?' * len(header_row))})",
                         tuple(header_row.values()))  # fmt: skip
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    @property
    def head_hash(self) -> bytes:
        """Return the hash of the last appended row."""
        return self._head

    @property
    def count(self) -> int:
        """Return the number of rows appended so far."""
        return self._seq

    def append(self, kind: str, version: int, ts_ns: int, causes: tuple[int, ...], payload: bytes) -> int:
        """Hash-chain one row (`payload`: the event's canonical bytes), buffer it compact, and write the buffer when full."""
        self._seq = seq = self._seq + 1
        # schema.chain_hash, inlined: this runs once per event.
        self._head = head = _sha256(self._head + _pack_header(seq, version) + payload).digest()
        rows = self._rows
        causes_json = causes_text(causes)
        rows.append((seq, ts_ns, _codes[kind], version, causes_json, payload_array(kind, str(ts_ns), causes_json, payload),
                     head[:_ROW_HASH]))  # fmt: skip
        if len(rows) >= self.batch_size:
            self.flush()
        return seq

    def checkpointed(self, ts_ns: int, digest: str, snapshot: Callable[[int], tuple[int, bytes]]) -> None:
        """Before the checkpoint at `ts_ns` is appended: keep `snapshot(seq)` (format, bytes) when one is due.

        A snapshot is due at the first checkpoint `snapshot_every` events after the start or
        after the last snapshot; it belongs to the checkpoint's seq and is written with its row.
        """
        seq = self._seq + 1
        if not self.snapshot_every or seq - self._last_snapshot < self.snapshot_every:
            return
        fmt, blob = snapshot(seq)
        self._snapshots.append((seq, ts_ns, digest, fmt, self.snapshot_every, self._head, blob))
        self._last_snapshot = seq

    def flush(self) -> None:
        """Write the buffered rows in one transaction, with the header's count and head hash of them.

        The header's progress is committed with the rows, so a reader finds a log cut at its tail
        (fewer rows than the header says) even before the run finishes.
        """
        if self._rows:
            last = self._rows[-1]
            self._commit([(_PROGRESS_SQL, (last[0], self._head.hex(), self._run_id))])

    def _commit(self, header_updates: list[tuple[str, tuple[object, ...]]]) -> None:
        # The buffered rows and `header_updates` in one transaction; on any failure nothing of them is written and
        # the rows stay buffered.
        rows, self._rows = self._rows, []
        last = rows[-1][0] if rows else self._seq
        snapshots = [s for s in self._snapshots if s[0] <= last]  # never one without its checkpoint's row
        self._snapshots = self._snapshots[len(snapshots) :]
        conn = self._conn
        try:
            conn.execute("BEGIN")
            conn.executemany(schema.INSERT_SQL, rows)
            conn.executemany(schema.SNAPSHOT_INSERT_SQL, snapshots)
            for sql, params in header_updates:
                conn.execute(sql, params)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            self._rows = rows + self._rows
            self._snapshots = snapshots + self._snapshots
            raise

    def finish(self, status: str, state_digest: str | None = None, error: str | None = None) -> None:
        """Flush, record the final status and close the file (idempotent)."""
        if self.closed:
            return
        if status not in schema.STATUSES:
            raise ValueError(f"expected a status in {schema.STATUSES}, was {status!r}")
        conn = self._conn
        # An interrupt inside `flush` leaves either an open transaction (roll it back) or
        # a committed batch still in the buffer (drop what is already stored).
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        stored = conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0]
        self._rows = [row for row in self._rows if row[0] > stored]
        self._snapshots = [s for s in self._snapshots if s[0] > stored]
        if status == "incomplete":
            self.flush()
        else:  # the last rows and the final status in one commit: no reader sees the final checkpoint unfinished
            indexes = [(sql, ()) for sql in schema.INDEXES_SQL] if status == "complete" else []
            self._commit([*indexes, (_FINAL_SQL, (status, error, self._seq, self._head.hex(), state_digest, self._run_id))])
        # Back to one self-contained file. A reader holding the file open may prevent it;
        # WAL mode is just as valid, and SQLite checkpoints the WAL on close.
        with contextlib.suppress(sqlite3.OperationalError):
            conn.execute("PRAGMA journal_mode=DELETE")
        conn.close()
        self.closed = True
