"""SQL schema of an event log file: tables, append-only triggers, views, the hash chain.

One file per run. `events` is STRICT and append-only; `runs` holds the header. Row n's hash
is sha256(hash of row n-1 || seq as 8 bytes || version as 2 bytes || payload bytes), and the
chain starts from a genesis hash over the header, so rows cannot be edited, dropped,
reordered or moved to another run without `verify` finding the first bad seq.

Two versions, kept apart (decision 0024):

- `SCHEMA_VERSION` is the chain's: the event rows and the genesis hash (which binds it). It
  changes only when what is hashed changes, and with it every head hash.
- `LAYOUT_VERSION` (SQLite's `user_version`) is the file's: every table, view, trigger and
  index, and the header's columns. `verify` compares a layout-2 file's whole schema with what
  this version writes, object by object; any change to a view or a header column is a new
  layout (a test pins each layout's objects). Layout-1 files (before the header said where a
  run was resumed) are still read: their tables and triggers are compared, their views, which
  changed without a version then, are not.

The views are conveniences over `events` for plain `sqlite3`: no event's bytes depend on
them, and the reader never uses them.
"""

from __future__ import annotations

import hashlib
import struct

import msgspec

from clearing import events as ev

SCHEMA_VERSION = 1
LAYOUT_VERSION = 4  # 3: the views of `stop_triggered` and `trader_reentered`; 4: `market_listed` v4's columns
# Each layout's tables, views and triggers by digest (`clearing.log.verify.layout_digest`): a file of an older
# layout is checked against its own. A change to what this version writes needs a new layout and its digest here.
LAYOUT_DIGESTS = {
    2: "c15ac0895ff74866ac0135bb498f77d41fde1a99e2f42050ffb36837c855c57a",
    3: "752157b3995d81611a5fdf368a4985aea3e0d5925ef2f63c4ff00867981c0ede",
    4: "3e8e98a2b717109cde02bc2a36a4caf463cc46aa72b61e4eda27995670241f08",
}
APPLICATION_ID = 0x434C5247  # "CLRG": marks a SQLite file as a clearing event log
SQLITE_MAGIC = b"SQLite format 3\x00"
PAGE_SIZE = 65536  # bytes per page of a log file written by `EventLog`
STATUSES = ("incomplete", "complete", "failed")

RUNS_SQL = """
CREATE TABLE runs (
    run_id TEXT PRIMARY KEY,
    schema_version INTEGER NOT NULL,
    clearing_version TEXT NOT NULL,
    scenario_name TEXT NOT NULL,
    scenario_json TEXT NOT NULL,
    scenario_hash TEXT NOT NULL,
    seed INTEGER NOT NULL,
    epoch_utc TEXT NOT NULL,
    inputs_json TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('incomplete', 'complete', 'failed')),
    error TEXT,
    events INTEGER,
    head_hash TEXT,
    state_digest TEXT,
    resumed_at TEXT
) STRICT
"""
# Layout 1's header: no `resumed_at`.
RUNS_SQL_V1 = RUNS_SQL.replace(",\n    resumed_at TEXT", "")

EVENTS_SQL = """
CREATE TABLE events (
    seq INTEGER PRIMARY KEY,
    ts_ns INTEGER NOT NULL,
    kind TEXT NOT NULL,
    version INTEGER NOT NULL,
    causes TEXT NOT NULL,
    payload TEXT NOT NULL,
    hash BLOB NOT NULL
) STRICT
"""

TRIGGERS_SQL = (
    """CREATE TRIGGER events_append_only_update BEFORE UPDATE ON events
    BEGIN SELECT RAISE(ABORT, 'event log is append-only'); END""",
    """CREATE TRIGGER events_append_only_delete BEFORE DELETE ON events
    BEGIN SELECT RAISE(ABORT, 'event log is append-only'); END""",
    """CREATE TRIGGER runs_header_immutable BEFORE UPDATE OF run_id, schema_version,
    clearing_version, scenario_name, scenario_json, scenario_hash, seed, epoch_utc, inputs_json ON runs
    BEGIN SELECT RAISE(ABORT, 'run header is immutable'); END""",
    """CREATE TRIGGER runs_finished_immutable BEFORE UPDATE ON runs WHEN OLD.status != 'incomplete'
    BEGIN SELECT RAISE(ABORT, 'a finished run cannot change'); END""",
    """CREATE TRIGGER runs_no_delete BEFORE DELETE ON runs
    BEGIN SELECT RAISE(ABORT, 'run header is immutable'); END""",
)
TRIGGER_NAMES = (
    "events_append_only_update",
    "events_append_only_delete",
    "runs_header_immutable",
    "runs_finished_immutable",
    "runs_no_delete",
)

INSERT_SQL = "INSERT INTO events (seq, ts_ns, kind, version, causes, payload, hash) VALUES (?, ?, ?, ?, ?, ?, ?)"

# Friendly names for the views users query most; every kind also gets a view of its own name.
VIEW_ALIASES = {
    "trades": "trade_executed",
    "liquidations": "liquidation_completed",
    "oracle_updates": "oracle_price_delivered",
    "margin_breaches": "margin_breached",
    "mark_prices": "mark_price_updated",
    "index_prices": "index_price_updated",
    "markets": "market_listed",
}

# The columns of the `markets` view: one row per listed market, its symbol and unit conventions.
MARKET_COLUMNS = (
    "market", "symbol", "tick_size", "lot_size", "quote_decimals", "unit_value", "maintenance_margin_ppm",
    "liquidation_fee_ppm", "taker_fee_ppm", "maker_fee_ppm", "bracket_floors", "bracket_rates_ppm", "size_premium_ppm",
    "risk_limit_lots",
)  # fmt: skip

INDEXES_SQL = (
    "CREATE INDEX IF NOT EXISTS events_kind_seq ON events (kind, seq)",
    "CREATE INDEX IF NOT EXISTS events_ts ON events (ts_ns)",
)


# A market's symbol, for a row of `events` that names the market (`market_listed` rows come first in a log: the
# scan stops at once, with or without the `events_kind_seq` index).
_SYMBOL_SQL = (
    "(SELECT json_extract(l.payload, '$.symbol') FROM events AS l WHERE l.kind = 'market_listed' "
    "AND json_extract(l.payload, '$.market') = json_extract(events.payload, '$.market') ORDER BY l.seq LIMIT 1)"
)


def view_sql(kind: str) -> str:
    """Return the CREATE VIEW statement that flattens one kind's payload into columns.

    A kind with a `market` field also gets its market's `symbol` (from the market's
    `market_listed` row) in the column after it.
    """
    fields = [f.name for f in msgspec.structs.fields(ev.KINDS[kind]) if f.name not in ("ts_ns", "causes")]
    columns = []
    for name in fields:
        columns.append(f"json_extract(payload, '$.{name}') AS {name}")
        if name == "market" and "symbol" not in fields:
            columns.append(f"{_SYMBOL_SQL} AS symbol")
    body = ", ".join(columns)
    return f"CREATE VIEW IF NOT EXISTS {kind} AS SELECT seq, ts_ns, causes, {body} FROM events WHERE kind = '{kind}'"


def alias_sql(alias: str, kind: str) -> str:
    """Return the CREATE VIEW statement of a friendly alias of a kind's view."""
    if kind == "oracle_price_delivered":
        return (
            f"CREATE VIEW IF NOT EXISTS {alias} AS SELECT seq, ts_ns AS ts_visible_ns, market, symbol, price_ticks, "
            f"confidence_ticks, ts_source_ns, ts_published_ns, ts_ns - ts_source_ns AS lag_ns, causes FROM {kind}"
        )
    if kind == "market_listed":
        return f"CREATE VIEW IF NOT EXISTS {alias} AS SELECT {', '.join(MARKET_COLUMNS)} FROM {kind}"
    return f"CREATE VIEW IF NOT EXISTS {alias} AS SELECT * FROM {kind}"


def genesis_hash(run_id: str, scenario_hash: str, seed: int) -> bytes:
    """Return the hash the chain starts from: it binds every row to its run header."""
    return hashlib.sha256(f"clearing-log/{SCHEMA_VERSION}|{run_id}|{scenario_hash}|{seed}".encode()).digest()


ROW_HEADER = struct.Struct(">QH")  # seq, version


def chain_hash(previous: bytes, seq: int, version: int, payload: bytes) -> bytes:
    """Return hash_n = sha256(hash_{n-1} || seq:u64 || version:u16 || payload)."""
    return hashlib.sha256(previous + ROW_HEADER.pack(seq, version) + payload).digest()
