"""Read side of the event log: open and check a file, read its header, iterate its rows.

Opening refuses anything that is not a clearing event log this version can read, with a
one-line reason. Iteration is by seq range, time range and kind, in seq order. Whatever the
file's layout, a row reads as (seq, ts_ns, kind name, version, causes, canonical payload, stored
hash): a compact row (layout 7 on, decision 0031) has its canonical bytes rebuilt by SQLite from
its columns and its kind's name from the `kinds` table; its stored hash is `row_hash_bytes` long.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

from clearing import events as ev
from clearing.errors import EventLogError, SchemaVersionError
from clearing.log import schema

Row = tuple[int, int, str, int, str, str, bytes]
ROW_COLUMNS = "seq, ts_ns, kind, version, causes, payload, hash"
REPLAY_COLUMNS = "seq, kind, version, payload, hash"
# The fold's: the payload as the bytes that were hashed (the UTF-8 text as stored), not decoded to str and back.
FOLD_COLUMNS = "seq, kind, version, CAST(payload AS BLOB), hash"
# The same columns of a compact row: the kind's name, the canonical bytes rebuilt.
_COMPACT_COLUMNS = {
    ROW_COLUMNS: f"seq, ts_ns, {schema.KIND_NAME_SQL}, version, causes, {schema.canonical_sql()}, hash",
    REPLAY_COLUMNS: f"seq, {schema.KIND_NAME_SQL}, version, {schema.canonical_sql()}, hash",
    # The fold's: the kind's code, the canonical bytes after `["kind",` (the fold adds them: `prefixes`).
    FOLD_COLUMNS: f"seq, kind, version, CAST({schema.tail_sql()} AS BLOB), hash",
}


@dataclass(frozen=True)
class RunHeader:
    """The `runs` row of a log."""

    run_id: str
    schema_version: int
    clearing_version: str
    scenario_name: str
    scenario_json: str
    scenario_hash: str
    seed: int
    epoch_utc: str
    inputs_json: str
    status: str
    error: str | None
    events: int | None
    head_hash: str | None
    state_digest: str | None
    resumed_at: str | None = None  # layout 2: a JSON list of the event counts the run was resumed at
    layout: int = 1  # the file's layout (`clearing.log.schema.LAYOUT_VERSION`), not a column

    def genesis(self) -> bytes:
        """Return the hash the run's chain starts from."""
        return schema.genesis_hash(self.run_id, self.scenario_hash, self.seed, self.schema_version)

    @property
    def epoch(self) -> datetime:
        """Return the run's epoch (time 0) as an aware UTC datetime."""
        return datetime.fromisoformat(self.epoch_utc.replace("Z", "+00:00"))


def utc_text(epoch: datetime, ts_ns: int, timespec: str = "seconds") -> str:
    """Return the UTC time `ts_ns` after `epoch` in ISO-8601 with a Z (to `timespec`, as `isoformat`)."""
    return (epoch + timedelta(microseconds=ts_ns // 1000)).isoformat(timespec=timespec).replace("+00:00", "Z")


def as_text(value: Any) -> Any:
    """Return a blob as the text it holds (bytes that are not UTF-8 as U+FFFD); any other value as it is.

    A flipped type byte in a record turns text into a blob: the checks then find the text altered.
    """
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


class EventLogReader:
    """A checked, read-only view of one run's event log.

    The file is opened read-only (a reader never checkpoints or removes a -wal file) and read in
    one transaction: a log still being written is seen as one consistent prefix, its header's
    progress and its rows from the same commit.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise EventLogError(f"{self.path}: no such file")
        if not self.path.is_file():
            raise EventLogError(f"{self.path}: not a file")
        with self.path.open("rb") as f:
            head = f.read(100)
        if head[: len(schema.SQLITE_MAGIC)] != schema.SQLITE_MAGIC:
            raise EventLogError(f"{self.path}: not a SQLite database (not a clearing event log)")
        self._check_size(head)
        # In WAL mode (byte 18 is 2) with no -wal file beside it: the file was copied without its -wal, or
        # the -wal of a killed run was removed; the events after the file's last checkpoint are not in it.
        self.wal_missing = head[18] == 2 and not Path(f"{self.path}-wal").exists()
        try:
            self.conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None)
            # Text that is not UTF-8 (a flipped byte in a view's SQL or a header field) reads with U+FFFD in it, so it
            # is found as altered by the checks instead of failing the read with an undecodable-text error.
            self.conn.text_factory = lambda raw: raw.decode("utf-8", "replace")
            self.conn.execute("BEGIN")
            self.layout = 0
            self._check_schema()
            self.header = self._read_header()
            self.compact = self.layout >= schema.COMPACT_LAYOUT
            self.row_hash_bytes = schema.ROW_HASH_BYTES if self.compact else 32  # of each row's chain hash it stores
            # A compact log's kinds as its writer knew them: name -> (code, version, own fields).
            self.kinds: dict[str, tuple[int, int, tuple[str, ...]]] = {} if not self.compact else {
                as_text(k): (code, version, tuple(json.loads(as_text(fields))))
                for code, k, version, fields in self.conn.execute("SELECT code, kind, version, fields FROM kinds ORDER BY code")
            }  # fmt: skip
            # A compact log's kind codes: each one's kind name and the canonical bytes' start, `["kind",`.
            self.prefixes = {code: (k, f'["{k}",'.encode()) for k, (code, _v, _f) in self.kinds.items()}
        except sqlite3.DatabaseError as e:
            raise EventLogError(f"{self.path}: unreadable SQLite file ({e})") from None
        except UnicodeDecodeError:  # SQLite's message quotes schema text that is not UTF-8 (a flipped byte in it)
            raise EventLogError(f"{self.path}: unreadable SQLite file (its schema holds text that is not UTF-8)") from None
        except (ValueError, TypeError) as e:  # a `kinds` row's fields that are not a JSON array of names
            raise EventLogError(f"{self.path}: its event kinds table is corrupt ({e})") from None

    def _check_size(self, head: bytes) -> None:
        # The SQLite header records the page size and page count; a shorter file was cut
        # off. (With a -wal file beside it the count may be stale, so only check without.)
        size = self.path.stat().st_size
        if len(head) < 100:
            raise EventLogError(f"{self.path}: truncated SQLite file ({size} bytes)")
        page_size = int.from_bytes(head[16:18], "big")
        page_size = 65536 if page_size == 1 else page_size
        pages = int.from_bytes(head[28:32], "big")
        wal = Path(f"{self.path}-wal")
        if pages and size < page_size * pages and not (wal.exists() and wal.stat().st_size):
            raise EventLogError(f"{self.path}: truncated log ({size} bytes, its header says {page_size * pages})")

    def _check_schema(self) -> None:
        application_id = self.conn.execute("PRAGMA application_id").fetchone()[0]
        if application_id != schema.APPLICATION_ID:
            raise EventLogError(f"{self.path}: a SQLite database, but not a clearing event log")
        self.layout = version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        if version > schema.LAYOUT_VERSION:
            raise SchemaVersionError(
                f"{self.path}: written in log layout {version}; this clearing reads up to "
                f"{schema.LAYOUT_VERSION}, upgrade clearing"
            )
        if version < 1:
            raise EventLogError(f"{self.path}: log layout {version} is not one clearing ever wrote")
        tables = {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        missing = {"runs", "events", *(["kinds"] if version >= schema.COMPACT_LAYOUT else [])} - tables
        if missing:
            raise EventLogError(f"{self.path}: missing table(s) {', '.join(sorted(missing))}")

    def _read_header(self) -> RunHeader:
        cursor = self.conn.execute("SELECT * FROM runs")
        names = [d[0] for d in cursor.description]
        rows = cursor.fetchall()
        if len(rows) != 1:
            raise EventLogError(f"{self.path}: expected one run header, found {len(rows)}")
        # A flipped type byte can make a text field a blob: read it as the (altered) text it was, for the checks to find.
        values: dict[str, Any] = {n: as_text(v) for n, v in zip(names, rows[0], strict=True)}
        fields: dict[str, Any] = {k: values.get(k) for k in RunHeader.__dataclass_fields__ if k != "layout"}
        return RunHeader(**fields, layout=self.layout)

    def __enter__(self) -> EventLogReader:
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()

    def count(self) -> int:
        """Return the number of event rows."""
        return int(self.conn.execute("SELECT count(*) FROM events").fetchone()[0])

    def last_ts_ns(self) -> int:
        """Return the time of the last event (0 for an empty log)."""
        row = self.conn.execute("SELECT ts_ns FROM events ORDER BY seq DESC LIMIT 1").fetchone()
        return int(row[0]) if row else 0

    def snapshots(self) -> list[tuple[int, int, str]]:
        """Return the (seq, ts_ns, digest) of the log's state snapshots, by seq (none before layout 6).

        Only snapshots of rows the log holds: a snapshot belongs to the checkpoint at its seq.
        """
        if self.layout < schema.SNAPSHOTS_LAYOUT:
            return []
        sql = "SELECT seq, ts_ns, digest FROM snapshots WHERE seq <= (SELECT coalesce(max(seq), 0) FROM events) ORDER BY seq"
        try:
            return self.conn.execute(sql).fetchall()
        except sqlite3.DatabaseError as e:
            raise EventLogError(f"{self.path}: unreadable SQLite file ({e})") from None

    def snapshot(self, seq: int) -> tuple[int, bytes]:
        """Return the (format, bytes) of the snapshot at `seq`."""
        try:
            row = self.conn.execute("SELECT format, state FROM snapshots WHERE seq = ?", (seq,)).fetchone()
        except sqlite3.DatabaseError as e:
            raise EventLogError(f"{self.path}: unreadable SQLite file ({e})") from None
        if row is None:
            raise EventLogError(f"{self.path}: no snapshot at seq {seq}")
        return row[0], row[1]

    def snapshot_every(self) -> int | None:
        """Return the snapshot policy the log was written with (events between snapshots), or None without a snapshot."""
        if self.layout < schema.SNAPSHOTS_LAYOUT:
            return None
        row = self.conn.execute("SELECT every FROM snapshots ORDER BY seq LIMIT 1").fetchone()
        return int(row[0]) if row is not None and isinstance(row[0], int) else None

    def snapshot_head(self, seq: int) -> bytes:
        """Return the whole chain hash of the row before the snapshot at `seq` (the genesis hash before seq 1)."""
        if seq == 1:
            return self.header.genesis()
        sql = "SELECT head FROM snapshots WHERE seq = ?" if self.compact else "SELECT hash FROM events WHERE seq = ? - 1"
        row = self.conn.execute(sql, (seq,)).fetchone()
        if row is None or not isinstance(row[0], bytes):
            raise EventLogError(f"{self.path}: no chain hash before the snapshot at seq {seq}")
        return bytes(row[0])

    def _first_seq_after(self, ts_ns: int) -> int | None:
        # The first seq whose time is after `ts_ns` (None when none): a binary search of the primary key, as times rise
        # with seq (`verify` checks it), where an index by time is not needed (layout 7 has none).
        last = self.conn.execute("SELECT max(seq) FROM events").fetchone()[0]
        if last is None:
            return None
        lo, hi = 0, int(last)  # the answer is in (lo, hi], or None when the row at hi is not after ts_ns
        at = "SELECT ts_ns FROM events WHERE seq >= ? ORDER BY seq LIMIT 1"
        if self.conn.execute(at, (hi,)).fetchone()[0] <= ts_ns:
            return None
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if self.conn.execute(at, (mid,)).fetchone()[0] > ts_ns:
                hi = mid
            else:
                lo = mid
        return hi

    def last_seq_until(self, until_ns: int) -> int:
        """Return the seq of the last event at or before `until_ns` (0 when none): times rise with seq."""
        after = self._first_seq_after(until_ns)
        if after is not None:
            return after - 1
        return int(self.conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0])

    def decode(self, payload: bytes | str, kind: str, version: int) -> ev.Event:
        """Decode one row's canonical payload (as `rows` yields it) as the file's layout wrote it, upcast if old.

        Raises:
            msgspec.ValidationError: the payload does not match its kind's schema.
            ValueError: the kind is unknown, or newer than this clearing.
        """
        if not self.compact:
            return ev.decode_object(payload, kind, version)
        known = self.kinds.get(kind)
        return ev.decode(payload, kind, version, known[2] if known is not None and known[1] == version else None)

    def select(
        self,
        *,
        since_seq: int | None = None,
        until_seq: int | None = None,
        since_ns: int | None = None,
        until_ns: int | None = None,
        kinds: Sequence[str] | None = None,
        columns: str = ROW_COLUMNS,
    ) -> tuple[str, list[Any]]:
        """Return the SQL and parameters of `rows` (for a reader that handles SQLite's errors itself, as `verify`)."""
        where: list[str] = []
        params: list[Any] = []
        if since_ns is not None:  # times by seq: a range of the primary key, not a scan
            first = self._first_seq_after(int(since_ns) - 1)
            since_seq = max(since_seq or 1, first) if first is not None else (1 << 62)
        if until_ns is not None:
            until_seq = min(until_seq if until_seq is not None else 1 << 62, self.last_seq_until(int(until_ns)))
        for op, value in ((">=", since_seq), ("<=", until_seq)):
            if value is not None:
                where.append(f"seq {op} ?")
                params.append(int(value))
        if kinds:
            unknown = sorted(set(kinds) - set(ev.KINDS))
            if unknown:
                raise EventLogError(f"unknown event kind(s) {', '.join(unknown)}; known: {', '.join(ev.KINDS)}")
            where.append(f"kind IN ({','.join('?' * len(kinds))})")
            params.extend([self.kinds[k][0] if k in self.kinds else 0 for k in kinds] if self.compact else kinds)
            if self.compact and not set(kinds) & set(schema.UNINDEXED_KINDS):  # by the (partial) index
                where.append(schema.INDEXED_SQL)
        if columns not in (ROW_COLUMNS, REPLAY_COLUMNS, FOLD_COLUMNS):
            raise ValueError(f"expected one of the known column lists, was {columns!r}")
        sql = f"SELECT {_COMPACT_COLUMNS[columns] if self.compact else columns} FROM events"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY seq"
        return sql, params

    def rows(self, **bounds: Any) -> Iterator[Any]:
        """Yield raw rows (seq, ts_ns, kind, version, causes, payload, hash) in seq order, within `bounds` (`select`'s).

        Bounds are inclusive. Time bounds are applied by seq, which orders time too.
        `columns` selects fewer columns for hot readers (the fold reads five of the seven, the
        payload as bytes: `FOLD_COLUMNS`). The payload is the event's canonical bytes (rebuilt
        from a compact row's columns), the hash what the row stores (`row_hash_bytes` of it).
        """
        sql, params = self.select(**bounds)
        try:
            yield from self.conn.execute(sql, params)
        except sqlite3.DatabaseError as e:
            raise EventLogError(f"{self.path}: unreadable SQLite file ({e})") from None

    def events(self, **bounds: Any) -> Iterator[tuple[int, ev.Event]]:
        """Yield (seq, event) pairs in seq order, decoded (and upcast) from their payloads."""
        for seq, _ts, kind, version, _causes, payload, _hash in self.rows(**bounds):
            try:
                yield seq, self.decode(payload, kind, version)
            except (ValueError, TypeError) as e:  # msgspec errors subclass ValueError
                raise EventLogError(f"{self.path}: seq {seq}: undecodable {kind} payload ({e})") from None


def opened(path: Path | str | EventLogReader) -> AbstractContextManager[EventLogReader]:
    """Return a context of the reader of `path`: a new one, closed on leaving, or `path` itself if it is one (left open)."""
    return contextlib.nullcontext(path) if isinstance(path, EventLogReader) else EventLogReader(path)
