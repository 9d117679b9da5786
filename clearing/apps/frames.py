"""DataFrames for notebooks: a log's views, its sampled state path, a sweep's results.

`open_log(path)` returns a `Log`; `Log.frame(view)` reads any of the log's views (every event
kind has one, plus the aliases and analysis views of `clearing.log.schema`) into a pandas
DataFrame whose integers are turned into what they mean, exactly:

- `ts_ns` is kept and `time_utc` added (datetime64[ns, UTC]); other instants (`ts_source_ns`,
  `ts_published_ns`, `expiry_ns`, a view's `ts_visible_ns`) become `*_utc` columns and
  durations (`lag_ns`, `delay_ns`, `age_ns`, ...) timedeltas without the `_ns`;
- prices (`*_ticks` on a row that names its market) become decimals: ticks x the market's tick
  size, under the name without `_ticks` (`price_ticks` -> `price`);
- sizes (`lots`) become `quantity` = lots x the market's lot size;
- money (`clearing.events.fields.MONEY`) becomes decimal quote units (minor units / 10^quote decimals); a trade's fees
  and a settlement on an inverse market are in its settlement coin (decision 0017), and
  collateral amounts in their asset, each at its own decimals;
- everything else (ids, counts, rates in ppm or ppb, tuples as JSON text) as stored.

Decimals are pyarrow `decimal128` columns (`pd.ArrowDtype`): exact, summed exactly, and
written to Parquet as decimals; `exact=False` gives float64 instead, `raw=True` the integers
as the log holds them. pandas and pyarrow are an optional extra (`clearing-sim[frames]`); no other
module imports this one.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from clearing import events as ev
from clearing.errors import ConfigError, EventLogError
from clearing.events.fields import BOOLEANS, DURATIONS, IN_ASSET, INSTANTS, MONEY, SETTLED
from clearing.log import schema
from clearing.log.reader import EventLogReader, RunHeader

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

CHUNK_ROWS = 200_000  # rows converted at a time (`Log.batches`): bounded memory on a crash day's largest views


def libraries() -> tuple[Any, Any]:
    try:
        import pandas
        import pyarrow
    except ImportError:
        raise ConfigError("DataFrames and Parquet need pandas and pyarrow: pip install 'clearing-sim[frames]'") from None
    return pandas, pyarrow


@dataclass(frozen=True)
class _Units:
    """Per market and per asset: the factors that turn a log's integers into decimals."""

    tick: dict[int, Decimal]  # market -> tick size
    lot: dict[int, Decimal]  # market -> lot size
    quote: Decimal  # one quote minor unit
    settled: dict[int, Decimal]  # market -> one minor unit of its settlement money
    asset: dict[int, Decimal]  # collateral asset -> one minor unit


def _units(reader: EventLogReader) -> _Units:
    def payloads(kind: str) -> list[dict[str, Any]]:
        return [ev.to_builtins(e) for _seq, e in reader.events(kinds=[kind])]

    tick, lot, settled, asset = {}, {}, {}, {}
    decimals = 0
    for p in payloads("market_listed"):
        tick[p["market"]], lot[p["market"]] = Decimal(p["tick_size"]), Decimal(p["lot_size"])
        decimals = p["quote_decimals"]
    quote = Decimal(1).scaleb(-decimals)
    for p in payloads("collateral_listed"):
        asset[p["asset"]] = Decimal(1).scaleb(-p["decimals"])
    for m in tick:
        settled[m] = quote
    for p in payloads("contract_specified"):
        if p.get("settlement_asset", -1) >= 0:
            settled[p["market"]] = asset[p["settlement_asset"]]
    return _Units(tick, lot, quote, settled, asset)


def _decimal_array(pa: Any, values: Any, factors: Any, scale: int) -> Any:
    """Return values x factors as exact decimal128(38, scale); `factors` are integers at that scale (a pyarrow int64
    array with nulls where the value has no factor)."""
    import pyarrow.compute as pc

    values = pc.cast(values, pa.int64())
    valid = pc.and_(pc.is_valid(values), pc.is_valid(factors))
    v = values.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
    f = factors.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
    bound = int(np.abs(v).max(initial=0)) * int(np.abs(f).max(initial=0))  # Python ints: no overflow
    if bound >= 2**63:  # beyond int64: exact, through Python integers
        decimals = [Decimal(int(a) * int(b)).scaleb(-scale) if ok else None
                    for a, b, ok in zip(v, f, valid.to_pylist(), strict=True)]  # fmt: skip
        return pa.array(decimals, pa.decimal128(38, scale))
    unscaled = v * f
    words = np.empty((len(v), 2), dtype=np.int64)
    words[:, 0], words[:, 1] = unscaled, unscaled >> 63  # 128-bit little-endian two's complement
    mask = None if valid.null_count == 0 and pc.all(valid).as_py() else valid.buffers()[1]
    return pa.Array.from_buffers(pa.decimal128(38, scale), len(v), [mask, pa.py_buffer(words.tobytes())])


def _scaled(pa: Any, values: Any, keys: Any | None, factors: dict[int, Decimal] | Decimal) -> Any:
    """Return `values` x the factor of each row's key (market or asset; one factor for all when `keys` is None)."""
    table = factors if isinstance(factors, dict) else {0: factors}
    scale = max((max(0, -f.as_tuple().exponent) for f in table.values()), default=0)  # type: ignore[operator]
    at_scale = {k: int(f.scaleb(scale)) for k, f in table.items()}
    if keys is None:
        factor_array = pa.array(np.full(len(values), at_scale[0], dtype=np.int64))
    else:
        factor_array = pa.array([at_scale.get(k) for k in keys.to_pylist()], pa.int64())
    return _decimal_array(pa, values, factor_array, scale)


def convert(kind: str | None, table: pa.Table, units: _Units, epoch_ns: int, exact: bool = True) -> pa.Table:
    """Return a view's columns turned into UTC times, timedeltas, decimal prices, sizes and money (module docstring).

    `kind` is the event kind the view shows (None: no kind-specific money rules apply).
    """
    _, pa = libraries()
    import pyarrow.compute as pc

    names = table.column_names
    market = table.column("market") if "market" in names else None
    asset = table.column("asset") if "asset" in names else None
    out: dict[str, Any] = {}

    def decimal(array: Any) -> Any:
        return array if exact else pc.cast(array, pa.float64())

    for name in names:
        if name in out or schema.is_derived(name, names):  # a view's own REAL or text column: made exactly here
            continue
        column = table.column(name).combine_chunks()
        integer = pa.types.is_integer(column.type) or pa.types.is_null(column.type)
        if name in ("ts_ns", "ts_visible_ns"):
            out["ts_ns"] = pc.cast(column, pa.int64())
            out["time_utc"] = _instants(pa, column, epoch_ns)
        elif name in INSTANTS and integer:
            out[INSTANTS[name]] = _instants(pa, column, epoch_ns)
        elif name.endswith("_utc") and pa.types.is_string(column.type):  # a view's UTC text of its own (minute_utc)
            out[name] = pc.cast(pc.strptime(column, format="%Y-%m-%dT%H:%M:%SZ", unit="ns"), pa.timestamp("ns", tz="UTC"))
        elif name in DURATIONS and integer:
            out[name.removesuffix("_ns")] = pc.cast(pc.cast(column, pa.int64()), pa.duration("ns"))
        elif name in BOOLEANS and integer:
            out[name] = pc.cast(column, pa.bool_())
        elif name.endswith("_ticks") and integer and market is not None:
            out[name.removesuffix("_ticks")] = decimal(_scaled(pa, column, market, units.tick))
        elif name == "lots" and integer and market is not None:
            out["quantity"] = decimal(_scaled(pa, column, market, units.lot))
        elif name in MONEY and integer:
            if (kind, name) in IN_ASSET and asset is not None:
                out[name] = decimal(_scaled(pa, column, asset, units.asset))
            elif (kind, name) in SETTLED and market is not None:
                out[name] = decimal(_scaled(pa, column, market, units.settled))
            else:
                out[name] = decimal(_scaled(pa, column, None, units.quote))
        else:
            out[name] = column
    return pa.table(out)


def _instants(pa: Any, column: Any, epoch_ns: int) -> Any:
    import pyarrow.compute as pc

    return pc.cast(pc.add(pc.cast(column, pa.int64()), epoch_ns), pa.timestamp("ns", tz="UTC"))


class Log:
    """One run's event log, read-only, for notebooks: its header, its views as DataFrames, its state path.

    Use as a context manager or call `close()`. Every read is one consistent snapshot of the
    file (a log still being written is seen as the prefix committed when it was opened).
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.reader = EventLogReader(self.path)
        self.conn = self.reader.conn
        self.header: RunHeader = self.reader.header
        self.epoch_ns = (self.header.epoch - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1) * 1000
        self._units = _units(self.reader)

    def __enter__(self) -> Log:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the file."""
        self.reader.close()

    def __repr__(self) -> str:
        h = self.header
        return f"Log({str(self.path)!r}: {h.scenario_name}, seed {h.seed}, {h.status}, {h.events} events)"

    @property
    def scenario(self) -> dict[str, Any]:
        """The scenario the run was made from, as the header recorded it (a dict of the validated scenario)."""
        return dict(json.loads(self.header.scenario_json))

    def views(self) -> list[str]:
        """Return the names of the log's views, sorted."""
        rows = self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'view' ORDER BY name").fetchall()
        return [r[0] for r in rows]

    def kinds(self) -> dict[str, int]:
        """Return how many events of each kind the log holds."""
        kind = schema.KIND_NAME_SQL if self.reader.compact else "kind"
        rows = self.conn.execute(f"SELECT {kind} AS name, count(*) FROM events GROUP BY kind ORDER BY name").fetchall()
        return {k: int(n) for k, n in rows}

    def batches(
        self, view: str, *, since_ns: int | None = None, until_ns: int | None = None, exact: bool = True,
        raw: bool = False, rows: int = CHUNK_ROWS,
    ) -> Iterator[pa.Table]:  # fmt: skip
        """Yield a view's rows as converted pyarrow tables of at most `rows` rows, in seq order."""
        _, pa = libraries()
        if view not in self.views():
            raise EventLogError(f"{self.path}: no view named {view!r}; the log has: {', '.join(self.views())}")
        kind = schema.VIEW_ALIASES.get(view, view)
        cursor = self.conn.execute(f'SELECT * FROM "{view}" LIMIT 0')
        names = [d[0] for d in cursor.description]
        time_column = "ts_ns" if "ts_ns" in names else "ts_visible_ns" if "ts_visible_ns" in names else None
        where, params = [], []
        if time_column is not None:
            for op, bound in ((">=", since_ns), ("<=", until_ns)):
                if bound is not None:
                    where.append(f"{time_column} {op} ?")
                    params.append(int(bound))
        order = " ORDER BY seq" if "seq" in names else ""
        sql = f'SELECT * FROM "{view}"' + (" WHERE " + " AND ".join(where) if where else "") + order
        cursor = self.conn.execute(sql, params)
        types = None
        while chunk := cursor.fetchmany(rows):
            columns = list(zip(*chunk, strict=True))
            table = pa.table({n: _column(pa, c) for n, c in zip(names, columns, strict=True)})
            converted = table if raw else convert(kind if kind in ev.KINDS else None, table, self._units,
                                                  self.epoch_ns, exact)  # fmt: skip
            if types is None:
                types = converted.schema
            yield _conform(pa, converted, types)

    def frame(self, view: str, *, since_ns: int | None = None, until_ns: int | None = None, exact: bool = True,
              raw: bool = False) -> pd.DataFrame:  # fmt: skip
        """Return a view as a DataFrame (module docstring: units), optionally between two times (ns from the start)."""
        pd, pa = libraries()
        tables = list(self.batches(view, since_ns=since_ns, until_ns=until_ns, exact=exact, raw=raw))
        table = pa.concat_tables(tables) if tables else self.empty(view, exact=exact, raw=raw)
        return table.to_pandas(types_mapper=_arrow_decimals(pd, pa))

    def empty(self, view: str, *, exact: bool = True, raw: bool = False) -> pa.Table:
        """Return a view's columns with no rows (converted as `batches` would)."""
        _, pa = libraries()
        cursor = self.conn.execute(f'SELECT * FROM "{view}" LIMIT 0')
        table = pa.table({d[0]: pa.array([], pa.null()) for d in cursor.description})
        kind = schema.VIEW_ALIASES.get(view, view)
        return table if raw else convert(kind if kind in ev.KINDS else None, table, self._units, self.epoch_ns, exact)

    def sql(self, query: str, params: tuple[Any, ...] = ()) -> pd.DataFrame:
        """Return the rows of a read-only SQL query over the log (its `events` table and views), as stored."""
        pd, _ = libraries()
        try:
            cursor = self.conn.execute(query, params)
        except sqlite3.Error as e:
            raise ConfigError(f"{self.path}: SQL refused: {e}") from None
        return pd.DataFrame(cursor.fetchall(), columns=[d[0] for d in cursor.description or ()])

    def state(self, step_s: int = 60) -> pd.DataFrame:
        """Return the state sampled every `step_s` simulated seconds, one row per (time, market), in quote units.

        The log is replayed and checked on the way (as `clearing report` does): a tampered or
        diverging log raises `VerificationError`.
        """
        from clearing.apps.report import build

        pd, _ = libraries()
        samples = build(self.path, step_s).samples
        run = {"insurance_fund": samples.insurance_fund, "fund_equity": samples.fund_equity, "backlog": samples.backlog,
               "adl_notional": samples.adl_notional, "liquidations": samples.liquidations, "bad_debt": samples.bad_debt}
        t = pd.to_datetime(np.rint(np.asarray(samples.t) * 1e9).astype(np.int64) + self.epoch_ns, utc=True)  # exact ns
        parts = [pd.DataFrame({
            "time_utc": t, "market": series.symbol, "index": series.index, "oracle": series.oracle, "mark": series.mark,
            "last": series.last, "open_interest": series.open_interest, "liquidated_notional": series.liquidated_notional,
            **run,
        }) for series in samples.markets]  # fmt: skip
        if not parts:
            return pd.DataFrame({"time_utc": t, **run})
        return pd.concat(parts, ignore_index=True).sort_values(["time_utc", "market"], kind="stable", ignore_index=True)


def _column(pa: Any, values: tuple[Any, ...]) -> Any:
    # A SQLite column's values as one pyarrow array (integers, floats, text; all None: null).
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed types (a JSON value of varying type): as text
        return pa.array([None if v is None else str(v) for v in values], pa.string())


def _conform(pa: Any, table: Any, types: Any) -> Any:
    # Every batch in the first batch's types (a column all null in one batch is typed by the others).
    if table.schema.equals(types):
        return table
    columns = []
    for field in types:
        column = table.column(field.name)
        columns.append(column.cast(field.type) if not pa.types.is_null(field.type) else column)
    return pa.table(columns, names=types.names)


def _arrow_decimals(pd: Any, pa: Any) -> Any:
    def mapper(t: Any) -> Any:
        return pd.ArrowDtype(t) if pa.types.is_decimal(t) else None

    return mapper


def open_log(path: Path | str) -> Log:
    """Open an event log for reading into DataFrames (see `Log`)."""
    return Log(path)


def sweep_frame(directory: Path | str) -> pd.DataFrame:
    """Return a sweep's results (DIR/results.sqlite, one row per run) with its swept keys as numbers where they are.

    A swept key whose every value is a number becomes a numeric column (so 60 sorts before
    3600); other keys stay text.
    """
    from clearing.apps.sweep.results import MANIFEST, complete_rows

    pd, _ = libraries()
    out = Path(directory)
    try:
        manifest = json.loads((out / MANIFEST).read_text())
        keys = [key for key, _values in manifest["grid"]]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ConfigError(f"{out}: not a sweep directory ({out / MANIFEST}: {e})") from None
    frame = pd.DataFrame(complete_rows(out))
    if frame.empty:
        return frame
    for key in keys:
        if key in frame:
            numbers = pd.to_numeric(frame[key], errors="coerce")
            if numbers.notna().all():
                frame[key] = numbers
    return frame.sort_values([k for k in keys if k in frame] + ["replication"], kind="stable", ignore_index=True)
