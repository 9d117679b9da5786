"""SQL schema of an event log file: tables, append-only triggers, views, the hash chain.

One file per run. `events` is STRICT and append-only; `runs` holds the header. Row n's hash
is sha256(hash of row n-1 || seq as 8 bytes || version as 2 bytes || the event's canonical
bytes), and the chain starts from a genesis hash over the header, so rows cannot be edited,
dropped, reordered or moved to another run without `verify` finding the first bad seq.

From layout 7 (chain version 2, decision 0031) a row stores its event compactly: the kind as a
code of the `kinds` table, `ts_ns` and `causes` in their columns, the kind's own fields as a JSON
array in `payload`, and the first `ROW_HASH_BYTES` of its chain hash. The canonical bytes that are
hashed are `["kind",ts_ns,causes,...payload]` (`canonical_sql`), rebuilt by every reader; the
header keeps the whole head hash, and each snapshot the whole hash before it. Before layout 7 a
row stored the canonical bytes, a JSON object with `kind`, `ts_ns` and `causes` in it, as its
payload, its kind as text, and the whole hash.

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
from clearing.events import fields as units

SCHEMA_VERSION = 2  # 2: the canonical bytes are a JSON array, stored split over the row's columns (layout 7)
# 3: the views of `stop_triggered` and `trader_reentered`; 4: `market_listed` v4's columns; 5: UTC and decimal columns
# in every view, and the analysis views (`ANALYSIS_VIEWS`); 6: the `snapshots` table (decision 0030); 7: compact rows
# (kind codes, array payloads, short row hashes, no time index; decision 0031)
LAYOUT_VERSION = 7
COMPACT_LAYOUT = 7  # the first layout with compact rows (`kinds`, array payloads, `ROW_HASH_BYTES`)
ROW_HASH_BYTES = 8  # of each row's chain hash stored in it from layout 7 (all 32 before)
# Each layout's tables, views and triggers by digest (`clearing.log.verify.layout_digest`): a file of an older
# layout is checked against its own. A change to what this version writes needs a new layout and its digest here.
LAYOUT_DIGESTS = {
    2: "c15ac0895ff74866ac0135bb498f77d41fde1a99e2f42050ffb36837c855c57a",
    3: "752157b3995d81611a5fdf368a4985aea3e0d5925ef2f63c4ff00867981c0ede",
    4: "3e8e98a2b717109cde02bc2a36a4caf463cc46aa72b61e4eda27995670241f08",
    5: "3c15951f003e48cbb5f6c5b999240905098c4f182ce49fb16e44bea8291259da",
    6: "f666aad540de015583defbdbe64118bb89e45bd01482a84cde21a72120d29394",
    7: "781903effdaeb0b2bbddf72d9b8e7788e06432b6757c72690b8078b7cc189be2",
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
    kind INTEGER NOT NULL,
    version INTEGER NOT NULL,
    causes TEXT NOT NULL,
    payload TEXT NOT NULL,
    hash BLOB NOT NULL
) STRICT
"""
# Before layout 7: the kind by name.
EVENTS_SQL_V6 = EVENTS_SQL.replace("kind INTEGER", "kind TEXT")

# The event kinds of a log (layout 7 on): each one's code in `events.kind`, name, version and own fields (the names of
# its payload array's values, a JSON array), as the run that wrote it knew them.
KINDS_SQL = """
CREATE TABLE kinds (
    code INTEGER PRIMARY KEY,
    kind TEXT NOT NULL UNIQUE,
    version INTEGER NOT NULL,
    fields TEXT NOT NULL
) STRICT
"""
# Each kind's code in logs this version writes: its place in `clearing.events.EVENT_TYPES`, from 1 (new kinds go last).
KIND_CODES = {kind: code for code, kind in enumerate(ev.KINDS, start=1)}
KIND_INSERT_SQL = "INSERT INTO kinds (code, kind, version, fields) VALUES (?, ?, ?, ?)"

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
# Layout 7 on: a kind's code, name, version and fields never change.
KINDS_TRIGGERS_SQL = (
    """CREATE TRIGGER kinds_immutable BEFORE UPDATE ON kinds
    BEGIN SELECT RAISE(ABORT, 'event kinds are immutable'); END""",
    """CREATE TRIGGER kinds_no_delete BEFORE DELETE ON kinds
    BEGIN SELECT RAISE(ABORT, 'event kinds are immutable'); END""",
)

# State snapshots (`clearing.core.state.snapshot`), outside the chain: the state just before the checkpoint at `seq`,
# whose chained digest a reader compares with the snapshot's state before using it (decision 0030).
# Layout 7 on, `head`: the whole chain hash of the row before `seq` (the rows keep only `ROW_HASH_BYTES` of theirs).
SNAPSHOTS_SQL = """
CREATE TABLE snapshots (
    seq INTEGER PRIMARY KEY,
    ts_ns INTEGER NOT NULL,
    digest TEXT NOT NULL,
    format INTEGER NOT NULL,
    every INTEGER NOT NULL,
    head BLOB NOT NULL,
    state BLOB NOT NULL
) STRICT
"""
SNAPSHOTS_SQL_V6 = SNAPSHOTS_SQL.replace("    head BLOB NOT NULL,\n", "")
SNAPSHOT_INSERT_SQL = "INSERT INTO snapshots (seq, ts_ns, digest, format, every, head, state) VALUES (?, ?, ?, ?, ?, ?, ?)"
SNAPSHOTS_LAYOUT = 6  # the first layout with the table
# A logged run's snapshot policy unless told otherwise: one at the first checkpoint at least this many events after
# the last (so that a replay from one folds at most about this many plus a checkpoint interval's).
SNAPSHOT_EVERY = 30_000

INSERT_SQL = "INSERT INTO events (seq, ts_ns, kind, version, causes, payload, hash) VALUES (?, ?, ?, ?, ?, ?, ?)"

# Friendly names for the views users query most; every kind also gets a view of its own name.
VIEW_ALIASES = {
    "margin_calls": "margin_called",
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

# The kinds of most of a crash day's rows (about two in three), not indexed by kind: a view of one of them reads the
# table in seq order, as its rows are a fifth of it or more; every other kind's view reads its rows by the index.
UNINDEXED_KINDS = ("order_placed", "quotes_replaced", "trade_executed")
# The partial index's condition: a query uses the index only with this very term in its WHERE (`kind_is` adds it).
INDEXED_SQL = f"kind NOT IN ({', '.join(str(KIND_CODES[k]) for k in UNINDEXED_KINDS)})"
# Made when a run completes. Layout 7 has no index by time: times rise with seq, so a reader finds a time by seq (a
# binary search of the primary key), and a view's rows of one kind come by `events_kind_seq`.
INDEXES_SQL = (f"CREATE INDEX IF NOT EXISTS events_kind_seq ON events (kind, seq) WHERE {INDEXED_SQL}",)
INDEXES_SQL_V6 = (
    "CREATE INDEX IF NOT EXISTS events_kind_seq ON events (kind, seq)",
    "CREATE INDEX IF NOT EXISTS events_ts ON events (ts_ns)",
)


def indexes_sql(layout: int) -> tuple[str, ...]:
    """Return the indexes a complete log of `layout` has."""
    return INDEXES_SQL if layout >= COMPACT_LAYOUT else INDEXES_SQL_V6


def events_sql(layout: int) -> str:
    """Return the `events` table of `layout`."""
    return EVENTS_SQL if layout >= COMPACT_LAYOUT else EVENTS_SQL_V6


def field_sql(kind: str, name: str, table: str = "") -> str:
    """Return the SQL of field `name` of a `kind` row's payload (`table`: the row's table alias, if any)."""
    column = f"{table}.payload" if table else "payload"
    return f"json_extract({column}, '$[{ev.PAYLOAD_FIELDS[kind].index(name)}]')"


def kind_is(kind: str, table: str = "") -> str:
    """Return the SQL condition that a row is of `kind` (with the index's own term, for the index to be used)."""
    prefix = f"{table}." if table else ""
    indexed = "" if kind in UNINDEXED_KINDS else f" AND {prefix}{INDEXED_SQL}"
    return f"{prefix}kind = {KIND_CODES[kind]}{indexed}"


def canonical_sql(table: str = "events") -> str:
    """Return the SQL of a layout-7 row's canonical bytes (as text): `["kind",ts_ns,causes` and the payload array's values.

    The kind's name is the `kinds` row of the row's code (NULL when there is none: the row's kind is unknown).
    """
    return f"'[\"' || (SELECT k.kind FROM kinds AS k WHERE k.code = {table}.kind) || '\",' || {tail_sql(table)}"


def tail_sql(table: str = "events") -> str:
    """Return the SQL of a layout-7 row's canonical bytes after `["kind",` (a reader that knows the kinds by code adds
    that prefix itself: the fold, `EventLogReader.prefixes`)."""
    return (f"{table}.ts_ns || ',' || {table}.causes || CASE WHEN {table}.payload = '[]' THEN ']' "
            f"ELSE ',' || substr({table}.payload, 2) END")


# A market's symbol, for a row of `events` that names the market (`market_listed` rows come first in a log: the
# scan stops at once, with or without the `events_kind_seq` index).
def _listed(name: str) -> str:
    return field_sql("market_listed", name, "l")


def _symbol_sql(kind: str) -> str:
    return (f"(SELECT {_listed('symbol')} FROM events AS l WHERE {kind_is('market_listed', 'l')} "
            f"AND {_listed('market')} = {field_sql(kind, 'market', 'events')} ORDER BY l.seq LIMIT 1)")  # fmt: skip


_LISTING = "SELECT {expr} FROM events AS l WHERE " + kind_is("market_listed", "l")
_OF_MARKET = " AND " + _listed("market") + " = {market} ORDER BY l.seq LIMIT 1"
# One quote minor unit's count in a quote unit (10^quote decimals, every market's), as a REAL divisor.
QUOTE_SCALE_SQL = "(" + _LISTING.format(expr=f"CAST('1e' || {_listed('quote_decimals')} AS REAL)") + \
    " ORDER BY l.seq LIMIT 1)"
# Seconds since 1970 of the run's epoch (`runs.epoch_utc`).
_EPOCH_SQL = "(SELECT unixepoch(epoch_utc) FROM runs)"


_INVERSE = (f"EXISTS (SELECT 1 FROM events AS s WHERE {kind_is('contract_specified', 's')} AND "
            f"{field_sql('contract_specified', 'market', 's')} = {{market}} AND "
            f"{field_sql('contract_specified', 'settlement_asset', 's')} >= 0)")  # fmt: skip


def utc_sql(ns_column: str, fmt: str = "%Y-%m-%dT%H:%M:%S", millis: bool = True) -> str:
    """Return the SQL of the UTC time `ns_column` ns after the run's epoch, ISO-8601 with a Z, to the millisecond
    (truncated, in integers: the epoch is a whole second)."""
    seconds = f"strftime('{fmt}', {_EPOCH_SQL} + {ns_column} / 1000000000, 'unixepoch')"
    return f"{seconds} || printf('.%03d', ({ns_column} / 1000000) % 1000) || 'Z'" if millis else f"{seconds} || 'Z'"


def _in_units(value: str, term: str, market: str) -> str:
    # value x the market's `term` (tick or lot size) as a REAL: a division by 1 / term where that is a whole number
    # (0.1, 0.001, 0.5), so the result is the double nearest the exact decimal; else the product.
    size = "(" + _LISTING.format(expr=f"CAST({_listed(term)} AS REAL) AS t") + \
        _OF_MARKET.format(market=market) + ")"
    return (f"(SELECT CASE WHEN x.t < 1 AND round(1 / x.t) * x.t = 1 THEN {value} / round(1 / x.t) ELSE {value} * x.t "
            f"END FROM {size} AS x)")


def _derived(kind: str, name: str, fields: dict[str, object]) -> list[str]:
    # The columns a view adds after a field: its UTC time, its decimal value (REAL) or its quote amount.
    value = field_sql(kind, name)
    market = field_sql(kind, "market", "events") if "market" in fields else ""
    if name in units.INSTANTS:
        return [f"{utc_sql(value)} AS {units.INSTANTS[name]}"]
    if (kind, name) in units.STEPPED:  # the prices in ticks, a JSON array: the steps summed in order
        column, direction = units.STEPPED[(kind, name)]
        return [f"(SELECT json_group_array(p) FROM (SELECT sum(CASE WHEN j.key = 0 THEN j.value ELSE {direction} * j.value "
                f"END) OVER (ORDER BY j.key) AS p FROM json_each({value}) AS j)) AS {column}"]
    if market and units.is_price(name):
        return [f"{_in_units(value, 'tick_size', market)} AS \"{name.removesuffix('_ticks')}\""]  # quoted: `index` is a keyword
    if market and name == "lots":
        return [f"{_in_units(value, 'lot_size', market)} AS quantity"]
    if units.in_quote(kind, name) and fields[name] is int:
        return [f"{value} / {QUOTE_SCALE_SQL} AS {name}_quote"]
    if (kind, name) in units.SETTLED:  # quote on a linear market; NULL on an inverse one, which pays it in its coin
        return [f"CASE WHEN {_INVERSE.format(market=market)} THEN NULL ELSE {value} / {QUOTE_SCALE_SQL} END AS {name}_quote"]
    return []


def is_derived(name: str, columns: list[str] | tuple[str, ...]) -> bool:
    """Whether a view's column is one the view derives from another of `columns` (`time_utc` from `ts_ns`, `price` from
    `price_ticks`, `notional_quote`, `quantity`, `lag_s`): the DataFrames make their own exact ones from the integers."""
    instants = {"time_utc": ("ts_ns", "ts_visible_ns")} | {utc: (ns,) for ns, utc in units.INSTANTS.items() if utc != "time_utc"}
    return (
        any(ns in columns for ns in instants.get(name, ()))
        or (name.endswith("_quote") and name.removesuffix("_quote") in columns)
        or (name == "quantity" and "lots" in columns) or f"{name}_ticks" in columns
        or (name.endswith("_s") and f"{name.removesuffix('_s')}_ns" in columns)
    )  # fmt: skip


def view_sql(kind: str) -> str:
    """Return the CREATE VIEW statement that flattens one kind's payload into columns.

    After `ts_ns` comes `time_utc`; a kind with a `market` field also gets its market's
    `symbol` (from the market's `market_listed` row) after it; each price in ticks is followed
    by its decimal price (REAL, without `_ticks`), `lots` by `quantity`, each quote amount by
    `<name>_quote` and each other instant by its UTC time (`clearing.events.fields`).
    """
    fields = {f.name: f.type for f in msgspec.structs.fields(ev.KINDS[kind]) if f.name not in ("ts_ns", "causes")}
    columns = []
    for name in fields:
        columns.append(f"{field_sql(kind, name)} AS {name}")
        if name == "market" and "symbol" not in fields:
            columns.append(f"{_symbol_sql(kind)} AS symbol")
        columns.extend(_derived(kind, name, fields))
    body = ", ".join(columns)
    return (f"CREATE VIEW IF NOT EXISTS {kind} AS SELECT seq, ts_ns, {utc_sql('ts_ns')} AS time_utc, causes, {body} "
            f"FROM events WHERE {kind_is(kind)}")  # fmt: skip


# The aliases whose view has columns of its own (`alias_sql`); the others only rename their kind's view.
SHAPED_ALIASES = frozenset(a for a, kind in VIEW_ALIASES.items() if kind in ("oracle_price_delivered", "market_listed"))


def alias_sql(alias: str, kind: str) -> str:
    """Return the CREATE VIEW statement of a friendly alias of a kind's view."""
    if kind == "oracle_price_delivered":
        return (
            f"CREATE VIEW IF NOT EXISTS {alias} AS SELECT seq, ts_ns AS ts_visible_ns, time_utc, market, symbol, "
            f"price_ticks, price, confidence_ticks, confidence, ts_source_ns, source_utc, ts_published_ns, published_utc, "
            f"ts_ns - ts_source_ns AS lag_ns, (ts_ns - ts_source_ns) / 1e9 AS lag_s, causes FROM {kind}"
        )
    if kind == "market_listed":
        return f"CREATE VIEW IF NOT EXISTS {alias} AS SELECT {', '.join(MARKET_COLUMNS)} FROM {kind}"
    return f"CREATE VIEW IF NOT EXISTS {alias} AS SELECT * FROM {kind}"


_FUND_KINDS = ("insurance_fund_deposited", "liquidation_fee_charged", "insurance_fund_paid", "insurance_fund_swept")


def _by_kind(kinds: tuple[str, ...], name: str, negated: frozenset[str] = frozenset()) -> str:
    # Field `name` of a row of one of `kinds` (NULL for a kind without it; negative for a kind in `negated`).
    cases = " ".join(f"WHEN {KIND_CODES[k]} THEN {'-' if k in negated else ''}{field_sql(k, name)}"
                     for k in kinds if name in ev.PAYLOAD_FIELDS[k])  # fmt: skip
    return f"CASE kind {cases} END"


KIND_NAME_SQL = "(SELECT k.kind FROM kinds AS k WHERE k.code = events.kind)"  # a row's kind name (layout 7 on)
_DELIVERED = "oracle_price_delivered"
# The analysis views: what the three studies ask of a log, each one query (docs/events.md, "Analysis views").
ANALYSIS_VIEWS = {
    # Every change of the insurance fund's balance and the balance after it: deposits, liquidation fees (+), payouts
    # (-), the fund account's sweeps (signed). The last row's balance is the state's `insurance_fund`.
    "insurance_fund_path": (
        "SELECT seq, ts_ns, time_utc, kind, account, amount, sum(amount) OVER (ORDER BY seq) AS balance, "
        f"amount / {QUOTE_SCALE_SQL} AS amount_quote, sum(amount) OVER (ORDER BY seq) / {QUOTE_SCALE_SQL} AS balance_quote, "
        f"causes FROM (SELECT seq, ts_ns, {utc_sql('ts_ns')} AS time_utc, {KIND_NAME_SQL} AS kind, "
        f"{_by_kind(_FUND_KINDS, 'account')} AS account, "
        f"{_by_kind(_FUND_KINDS, 'amount', frozenset({'insurance_fund_paid'}))} AS amount, "
        f"causes FROM events WHERE kind IN ({', '.join(str(KIND_CODES[k]) for k in _FUND_KINDS)}) AND {INDEXED_SQL})"
    ),
    # Liquidations per minute of the run (minute 0 starts at the epoch) and market: count, notional, fees, fund, bad debt.
    "liquidations_per_minute": (
        f"SELECT ts_ns / 60000000000 AS minute, {utc_sql('(ts_ns / 60000000000) * 60000000000', millis=False)} "
        "AS minute_utc, market, symbol, count(*) AS liquidations, sum(notional) AS notional, sum(fee) AS fee, "
        "sum(insurance_paid) AS insurance_paid, sum(bad_debt) AS bad_debt, "
        f"sum(notional) / {QUOTE_SCALE_SQL} AS notional_quote FROM liquidation_completed GROUP BY minute, market"
    ),
    # Each liquidation with the oracle price the exchange saw then (the last delivered for its market) and that price's
    # age: the liquidation's time minus the price's source time (the summary's oracle_lag_at_liquidation_*).
    "liquidation_oracle_lag": (
        "SELECT l.seq, l.ts_ns, l.time_utc, l.account, l.market, l.symbol, l.notional, l.notional_quote, "
        f"o.seq AS oracle_seq, {field_sql(_DELIVERED, 'price_ticks', 'o')} AS oracle_price_ticks, "
        + _in_units(field_sql(_DELIVERED, "price_ticks", "o"), "tick_size", "l.market") + " AS oracle_price, "
        f"l.ts_ns - {field_sql(_DELIVERED, 'ts_source_ns', 'o')} AS oracle_age_ns, "
        f"(l.ts_ns - {field_sql(_DELIVERED, 'ts_source_ns', 'o')}) / 1e9 AS oracle_age_s, "
        f"o.ts_ns - {field_sql(_DELIVERED, 'ts_source_ns', 'o')} AS oracle_delivery_ns "
        "FROM liquidation_completed AS l LEFT JOIN events AS o ON o.seq = (SELECT max(p.seq) FROM events AS p "
        f"WHERE {kind_is(_DELIVERED, 'p')} AND p.seq < l.seq AND {field_sql(_DELIVERED, 'market', 'p')} = l.market)"
    ),
    # One row per funding settlement (its `funding_paid` events together): the rate set for it, the accounts, what
    # was received and paid (minor units of the market's settlement money; the _quote columns are NULL on an inverse
    # market, which settles in its coin).
    "funding_settlements": (
        f"SELECT s.*, (SELECT {field_sql('funding_rate_set', 'rate_ppb', 'r')} FROM events AS r WHERE "
        f"{kind_is('funding_rate_set', 'r')} AND r.seq < s.seq AND {field_sql('funding_rate_set', 'market', 'r')} = s.market "
        "ORDER BY r.seq DESC LIMIT 1) AS rate_ppb, "
        f"CASE WHEN {_INVERSE.format(market='s.market')} THEN NULL ELSE s.received / {QUOTE_SCALE_SQL} END AS received_quote, "
        f"CASE WHEN {_INVERSE.format(market='s.market')} THEN NULL ELSE s.paid / {QUOTE_SCALE_SQL} END AS paid_quote "
        "FROM (SELECT min(f.seq) AS seq, f.ts_ns, min(f.time_utc) AS time_utc, f.market, min(f.symbol) AS symbol, "
        "count(DISTINCT f.seq) AS events, count(j.value) AS accounts, "
        "coalesce(sum(CASE WHEN j.value > 0 THEN j.value END), 0) AS received, "
        "coalesce(-sum(CASE WHEN j.value < 0 THEN j.value END), 0) AS paid "
        "FROM funding_paid AS f LEFT JOIN json_each(f.amounts) AS j GROUP BY f.market, f.ts_ns) AS s"
    ),
}


# Every row with its kind's name (layout 7 on: `events` holds the kind's code), its time in UTC and its payload array.
ROWS_VIEW_SQL = (f"CREATE VIEW IF NOT EXISTS event_rows AS SELECT seq, ts_ns, {utc_sql('ts_ns')} AS time_utc, {KIND_NAME_SQL} "
                 "AS kind, version, causes, payload FROM events")  # fmt: skip


def analysis_view_sql(name: str) -> str:
    """Return the CREATE VIEW statement of an analysis view (`ANALYSIS_VIEWS`)."""
    return f"CREATE VIEW IF NOT EXISTS {name} AS {ANALYSIS_VIEWS[name]}"


def genesis_hash(run_id: str, scenario_hash: str, seed: int, version: int = SCHEMA_VERSION) -> bytes:
    """Return the hash the chain starts from: it binds every row to its run header (and its chain's version)."""
    return hashlib.sha256(f"clearing-log/{version}|{run_id}|{scenario_hash}|{seed}".encode()).digest()


def chain_version(layout: int) -> int:
    """Return the chain version (`SCHEMA_VERSION`) of the logs of `layout`."""
    return SCHEMA_VERSION if layout >= COMPACT_LAYOUT else 1


ROW_HEADER = struct.Struct(">QH")  # seq, version


def chain_hash(previous: bytes, seq: int, version: int, payload: bytes) -> bytes:
    """Return hash_n = sha256(hash_{n-1} || seq:u64 || version:u16 || payload)."""
    return hashlib.sha256(previous + ROW_HEADER.pack(seq, version) + payload).digest()
