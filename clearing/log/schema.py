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
from clearing.events import fields as units

SCHEMA_VERSION = 1
# 3: the views of `stop_triggered` and `trader_reentered`; 4: `market_listed` v4's columns; 5: UTC and decimal columns
# in every view, and the analysis views (`ANALYSIS_VIEWS`); 6: the `snapshots` table (decision 0030)
LAYOUT_VERSION = 6
# Each layout's tables, views and triggers by digest (`clearing.log.verify.layout_digest`): a file of an older
# layout is checked against its own. A change to what this version writes needs a new layout and its digest here.
LAYOUT_DIGESTS = {
    2: "c15ac0895ff74866ac0135bb498f77d41fde1a99e2f42050ffb36837c855c57a",
    3: "752157b3995d81611a5fdf368a4985aea3e0d5925ef2f63c4ff00867981c0ede",
    4: "3e8e98a2b717109cde02bc2a36a4caf463cc46aa72b61e4eda27995670241f08",
    5: "3c15951f003e48cbb5f6c5b999240905098c4f182ce49fb16e44bea8291259da",
    6: "f666aad540de015583defbdbe64118bb89e45bd01482a84cde21a72120d29394",
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

# State snapshots (`clearing.core.state.snapshot`), outside the chain: the state just before the checkpoint at `seq`,
# whose chained digest a reader compares with the snapshot's state before using it (decision 0030).
SNAPSHOTS_SQL = """
CREATE TABLE snapshots (
    seq INTEGER PRIMARY KEY,
    ts_ns INTEGER NOT NULL,
    digest TEXT NOT NULL,
    format INTEGER NOT NULL,
    every INTEGER NOT NULL,
    state BLOB NOT NULL
) STRICT
"""
SNAPSHOT_INSERT_SQL = "INSERT INTO snapshots (seq, ts_ns, digest, format, every, state) VALUES (?, ?, ?, ?, ?, ?)"
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


_LISTING = "SELECT {expr} FROM events AS l WHERE l.kind = 'market_listed'"
_OF_MARKET = " AND json_extract(l.payload, '$.market') = {market} ORDER BY l.seq LIMIT 1"
_ROW_MARKET = "json_extract(events.payload, '$.market')"
# One quote minor unit's count in a quote unit (10^quote decimals, every market's), as a REAL divisor.
QUOTE_SCALE_SQL = "(" + _LISTING.format(expr="CAST('1e' || json_extract(l.payload, '$.quote_decimals') AS REAL)") + \
    " ORDER BY l.seq LIMIT 1)"
# Seconds since 1970 of the run's epoch (`runs.epoch_utc`).
_EPOCH_SQL = "(SELECT unixepoch(epoch_utc) FROM runs)"


_INVERSE = ("EXISTS (SELECT 1 FROM events AS s WHERE s.kind = 'contract_specified' AND json_extract(s.payload, '$.market') "
            "= {market} AND json_extract(s.payload, '$.settlement_asset') >= 0)")  # fmt: skip


def utc_sql(ns_column: str, fmt: str = "%Y-%m-%dT%H:%M:%S", millis: bool = True) -> str:
    """Return the SQL of the UTC time `ns_column` ns after the run's epoch, ISO-8601 with a Z, to the millisecond
    (truncated, in integers: the epoch is a whole second)."""
    seconds = f"strftime('{fmt}', {_EPOCH_SQL} + {ns_column} / 1000000000, 'unixepoch')"
    return f"{seconds} || printf('.%03d', ({ns_column} / 1000000) % 1000) || 'Z'" if millis else f"{seconds} || 'Z'"


def _in_units(value: str, term: str, market: str = _ROW_MARKET) -> str:
    # value x the market's `term` (tick or lot size) as a REAL: a division by 1 / term where that is a whole number
    # (0.1, 0.001, 0.5), so the result is the double nearest the exact decimal; else the product.
    size = "(" + _LISTING.format(expr=f"CAST(json_extract(l.payload, '$.{term}') AS REAL) AS t") + \
        _OF_MARKET.format(market=market) + ")"
    return (f"(SELECT CASE WHEN x.t < 1 AND round(1 / x.t) * x.t = 1 THEN {value} / round(1 / x.t) ELSE {value} * x.t "
            f"END FROM {size} AS x)")


def _derived(kind: str, name: str, fields: dict[str, object]) -> list[str]:
    # The columns a view adds after a field: its UTC time, its decimal value (REAL) or its quote amount.
    value = f"json_extract(payload, '$.{name}')"
    if name in units.INSTANTS:
        return [f"{utc_sql(value)} AS {units.INSTANTS[name]}"]
    if "market" in fields and units.is_price(name):
        return [f"{_in_units(value, 'tick_size')} AS \"{name.removesuffix('_ticks')}\""]  # quoted: `index` is a keyword
    if "market" in fields and name == "lots":
        return [f"{_in_units(value, 'lot_size')} AS quantity"]
    if units.in_quote(kind, name) and fields[name] is int:
        return [f"{value} / {QUOTE_SCALE_SQL} AS {name}_quote"]
    if (kind, name) in units.SETTLED:  # quote on a linear market; NULL on an inverse one, which pays it in its coin
        return [f"CASE WHEN {_INVERSE.format(market=_ROW_MARKET)} THEN NULL ELSE {value} / {QUOTE_SCALE_SQL} END AS {name}_quote"]
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
        columns.append(f"json_extract(payload, '$.{name}') AS {name}")
        if name == "market" and "symbol" not in fields:
            columns.append(f"{_SYMBOL_SQL} AS symbol")
        columns.extend(_derived(kind, name, fields))
    body = ", ".join(columns)
    return (f"CREATE VIEW IF NOT EXISTS {kind} AS SELECT seq, ts_ns, {utc_sql('ts_ns')} AS time_utc, causes, {body} "
            f"FROM events WHERE kind = '{kind}'")  # fmt: skip


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
# The analysis views: what the three studies ask of a log, each one query (docs/events.md, "Analysis views").
ANALYSIS_VIEWS = {
    # Every change of the insurance fund's balance and the balance after it: deposits, liquidation fees (+), payouts
    # (-), the fund account's sweeps (signed). The last row's balance is the state's `insurance_fund`.
    "insurance_fund_path": (
        "SELECT seq, ts_ns, time_utc, kind, account, amount, sum(amount) OVER (ORDER BY seq) AS balance, "
        f"amount / {QUOTE_SCALE_SQL} AS amount_quote, sum(amount) OVER (ORDER BY seq) / {QUOTE_SCALE_SQL} AS balance_quote, "
        f"causes FROM (SELECT seq, ts_ns, {utc_sql('ts_ns')} AS time_utc, kind, json_extract(payload, '$.account') AS account, "
        "CASE kind WHEN 'insurance_fund_paid' THEN -json_extract(payload, '$.amount') ELSE json_extract(payload, '$.amount') "
        f"END AS amount, causes FROM events WHERE kind IN ({', '.join(repr(k) for k in _FUND_KINDS)}))"
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
        "o.seq AS oracle_seq, json_extract(o.payload, '$.price_ticks') AS oracle_price_ticks, "
        + _in_units("json_extract(o.payload, '$.price_ticks')", "tick_size", "l.market") + " AS oracle_price, "
        "l.ts_ns - json_extract(o.payload, '$.ts_source_ns') AS oracle_age_ns, "
        "(l.ts_ns - json_extract(o.payload, '$.ts_source_ns')) / 1e9 AS oracle_age_s, "
        "o.ts_ns - json_extract(o.payload, '$.ts_source_ns') AS oracle_delivery_ns "
        "FROM liquidation_completed AS l LEFT JOIN events AS o ON o.seq = (SELECT max(p.seq) FROM events AS p "
        "WHERE p.kind = 'oracle_price_delivered' AND p.seq < l.seq AND json_extract(p.payload, '$.market') = l.market)"
    ),
    # One row per funding settlement (its `funding_paid` events together): the rate set for it, the accounts, what
    # was received and paid (minor units of the market's settlement money; the _quote columns are NULL on an inverse
    # market, which settles in its coin).
    "funding_settlements": (
        "SELECT s.*, (SELECT json_extract(r.payload, '$.rate_ppb') FROM events AS r WHERE r.kind = 'funding_rate_set' "
        "AND r.seq < s.seq AND json_extract(r.payload, '$.market') = s.market ORDER BY r.seq DESC LIMIT 1) AS rate_ppb, "
        f"CASE WHEN {_INVERSE.format(market='s.market')} THEN NULL ELSE s.received / {QUOTE_SCALE_SQL} END AS received_quote, "
        f"CASE WHEN {_INVERSE.format(market='s.market')} THEN NULL ELSE s.paid / {QUOTE_SCALE_SQL} END AS paid_quote "
        "FROM (SELECT min(f.seq) AS seq, f.ts_ns, min(f.time_utc) AS time_utc, f.market, min(f.symbol) AS symbol, "
        "count(DISTINCT f.seq) AS events, count(j.value) AS accounts, "
        "coalesce(sum(CASE WHEN j.value > 0 THEN j.value END), 0) AS received, "
        "coalesce(-sum(CASE WHEN j.value < 0 THEN j.value END), 0) AS paid "
        "FROM funding_paid AS f LEFT JOIN json_each(f.amounts) AS j GROUP BY f.market, f.ts_ns) AS s"
    ),
}


def analysis_view_sql(name: str) -> str:
    """Return the CREATE VIEW statement of an analysis view (`ANALYSIS_VIEWS`)."""
    return f"CREATE VIEW IF NOT EXISTS {name} AS {ANALYSIS_VIEWS[name]}"


def genesis_hash(run_id: str, scenario_hash: str, seed: int) -> bytes:
    """Return the hash the chain starts from: it binds every row to its run header."""
    return hashlib.sha256(f"clearing-log/{SCHEMA_VERSION}|{run_id}|{scenario_hash}|{seed}".encode()).digest()


ROW_HEADER = struct.Struct(">QH")  # seq, version


def chain_hash(previous: bytes, seq: int, version: int, payload: bytes) -> bytes:
    """Return hash_n = sha256(hash_{n-1} || seq:u64 || version:u16 || payload)."""
    return hashlib.sha256(previous + ROW_HEADER.pack(seq, version) + payload).digest()
