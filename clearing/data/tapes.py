"""Market-data tapes: OHLCV bars, trades and order-book depth read from CSV files.

Reads the files it is given (the data directory finds them: `clearing.data.directory`) and
returns int64 tick arrays in the structures of `clearing.core.paths`, which turns them into
price paths. Bad input is a one-line `DataError("path:line: ...")`; bad arguments are a
`ValueError`.

The Binance layouts (klines, aggTrades, bookDepth) are those of Binance's public dump; the
`ts_us,side,price,amount` trades are the crash-day files' layout. Sources:
docs/references.md [binance-data-vision], [crashdays-theglory].
"""

from __future__ import annotations

import calendar
import math
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Context, Decimal, InvalidOperation
from pathlib import Path
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from clearing.core.paths import Bars, Trades
from clearing.data.directory import csv_rows
from clearing.errors import DataError
from clearing.units import Float64Array, Int64Array

DEPTH_LEVELS = 5
_MICROSECONDS_FROM = 10**14  # open times at or above this are microseconds (2025 Binance spot dumps; unsourced)
_DECIMAL = Context(prec=60)
_SIMPLE_HEADER = ("open", "high", "low", "close", "volume")



class DepthProfile(NamedTuple):
    """Cumulative order-book notional (quote currency) within 1..5 % of mid, one row per snapshot.

    `ts_ms` (n,) epoch milliseconds; `bid_notional[:, j]` and `ask_notional[:, j]` (n, 5) hold
    the notional within (j + 1) % of mid, non-decreasing in j.
    """

    ts_ms: Int64Array
    bid_notional: Float64Array
    ask_notional: Float64Array


class _TickParser:
    # Decimal string -> ticks, round half to even; cached because tapes repeat prices a lot.
    def __init__(self, path: Path, tick_size: Decimal) -> None:
        if not tick_size.is_finite() or tick_size <= 0:
            raise ValueError(f"expected a tick size > 0, was {tick_size}")
        self.path, self.tick, self.cache = path, tick_size, dict[str, int]()

    def __call__(self, text: str, line: int, what: str) -> int:
        ticks = self.cache.get(text)
        if ticks is not None:
            return ticks
        try:
            value = Decimal(text)
        except InvalidOperation:
            raise DataError(f"{self.path}:{line}: {what} {text!r} is not a number") from None
        if not value.is_finite() or value <= 0:
            raise DataError(f"{self.path}:{line}: {what} {text!r} is not a positive price")
        ticks = int(_DECIMAL.divide(value, self.tick).to_integral_value(ROUND_HALF_EVEN))
        if ticks <= 0:
            raise DataError(f"{self.path}:{line}: {what} {text} rounds to 0 ticks of {self.tick}")
        self.cache[text] = ticks
        return ticks


def _integer(path: Path, line: int, text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise DataError(f"{path}:{line}: {what} {text!r} is not a whole number") from None


def _amount(path: Path, line: int, text: str, what: str, positive: bool) -> float:
    try:
        value = float(text)
    except ValueError:
        raise DataError(f"{path}:{line}: {what} {text!r} is not a number") from None
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        raise DataError(f"{path}:{line}: {what} {text!r} must be finite and {'> 0' if positive else '>= 0'}")
    return value


def _check_bar_header(path: Path, fields: list[str]) -> None:
    names = tuple(x.lower() for x in fields[1:6])
    if names != _SIMPLE_HEADER:
        raise DataError(f"{path}:1: expected columns ts,open,high,low,close,volume (or Binance's 12), was {','.join(fields)}")


def read_bars(path: str | Path, tick_size: Decimal) -> Bars:
    """Read fixed-interval OHLCV bars from a CSV file.

    Two layouts, told apart by the column count, each with or without a header row:
    `ts,open,high,low,close,volume` (ts = epoch ms of the bar open) and Binance's 12-column
    kline dump (open_time, open, high, low, close, volume, close_time, ...). A Binance
    open_time >= 10^14 is taken as microseconds (2025 spot dumps; unsourced) and must be
    whole ms.
    Prices become ticks: price / tick_size rounded half to even to the nearest integer.
    The interval is the smallest step between consecutive open times (Binance: close_time
    - open_time + 1 when there is one bar); every step must be a whole number of intervals.

    Raises:
        DataError: unreadable file, malformed field, no bars, open times not strictly
            increasing or off the interval grid, a price <= 0 or below half a tick,
            high < max(open, close) or low > min(open, close); "path:line: ...".
        ValueError: tick_size <= 0.
    """
    path = Path(path)
    to_ticks = _TickParser(path, tick_size)
    columns = 0
    times: list[int] = []
    prices: list[tuple[int, int, int, int]] = []
    volumes: list[float] = []
    lines: list[int] = []
    close_span = 0
    for line, fields in csv_rows(path):
        if not columns:
            columns = len(fields)
            if columns not in (6, 12):
                raise DataError(f"{path}:{line}: expected 6 or 12 columns, was {columns}")
            if not fields[0].lstrip("-").isdigit():
                _check_bar_header(path, fields)
                continue
        if len(fields) != columns:
            raise DataError(f"{path}:{line}: expected {columns} columns, was {len(fields)}")
        ts = _integer(path, line, fields[0], "open time")
        if columns == 12:
            close_time = _integer(path, line, fields[6], "close time")
            if ts >= _MICROSECONDS_FROM:
                if ts % 1000:
                    raise DataError(f"{path}:{line}: open time {ts} us is not a whole millisecond")
                ts, close_time = ts // 1000, close_time // 1000
            close_span = close_time - ts + 1
        o, h, low, c = (to_ticks(fields[i], line, name) for i, name in enumerate(("open", "high", "low", "close"), 1))
        decimals = [Decimal(x) for x in fields[1:5]]
        if decimals[1] < max(decimals[0], decimals[3]):
            raise DataError(f"{path}:{line}: high {fields[2]} is below max(open {fields[1]}, close {fields[4]})")
        if decimals[2] > min(decimals[0], decimals[3]):
            raise DataError(f"{path}:{line}: low {fields[3]} is above min(open {fields[1]}, close {fields[4]})")
        if times and ts <= times[-1]:
            raise DataError(f"{path}:{line}: open time {ts} is not after the previous {times[-1]}")
        times.append(ts)
        prices.append((o, h, low, c))
        volumes.append(_amount(path, line, fields[5], "volume", positive=False))
        lines.append(line)
    if not times:
        raise DataError(f"{path}: no bars")
    open_ms = np.array(times, dtype=np.int64)
    steps = np.diff(open_ms)
    interval = int(steps.min()) if len(steps) else close_span
    if interval <= 0:
        raise DataError(f"{path}: cannot infer the bar interval from a single bar; give at least two")
    off_grid = np.flatnonzero(steps % interval)
    if len(off_grid):
        i = int(off_grid[0]) + 1
        raise DataError(
            f"{path}:{lines[i]}: open time {times[i]} is not a whole number of {interval} ms intervals after the previous"
        )
    table = np.array(prices, dtype=np.int64).reshape(-1, 4)
    return Bars(
        open_ms, table[:, 0].copy(), table[:, 1].copy(), table[:, 2].copy(), table[:, 3].copy(),
        np.array(volumes, dtype=np.float64), interval, int((steps // interval - 1).sum()),
    )  # fmt: skip


def concat_bars(parts: list[Bars], names: list[str]) -> Bars:
    """Return consecutive files' bars as one tape: same interval, each part after the previous.

    Raises:
        DataError: no parts, different intervals, or a part that does not start after the
            previous one ends ("name: ...").
    """
    if not parts:
        raise DataError("no bar files")
    for name, before, part in zip(names[1:], parts, parts[1:], strict=False):
        if part.interval_ms != before.interval_ms:
            raise DataError(f"{name}: bars of {part.interval_ms} ms after bars of {before.interval_ms} ms")
        if part.open_ms[0] <= before.open_ms[-1]:
            raise DataError(f"{name}: starts at {int(part.open_ms[0])} ms, not after the previous file's last bar")
    open_ms = np.concatenate([p.open_ms for p in parts])
    gaps = int((np.diff(open_ms) // parts[0].interval_ms - 1).sum())
    return Bars(
        open_ms, np.concatenate([p.open for p in parts]), np.concatenate([p.high for p in parts]),
        np.concatenate([p.low for p in parts]), np.concatenate([p.close for p in parts]),
        np.concatenate([p.volume for p in parts]), parts[0].interval_ms, gaps,
    )  # fmt: skip


def hourly_bars(rows: list[tuple[str, Decimal, Decimal, Decimal, Decimal]], tick_size: Decimal) -> Bars:
    """Return an hourly open/high/low/close path (ISO UTC hour, prices) as bars in ticks.

    Prices round half to even to ticks; volume 0. The times must be consecutive hours
    (the scenario checks it).
    """
    if not rows:
        raise ValueError("expected at least one hourly bar")
    open_ms = np.array([round(datetime.fromisoformat(when).timestamp() * 1000) for when, *_ in rows], np.int64)
    ticks = np.array(
        [[int((Decimal(x) / tick_size).to_integral_value(ROUND_HALF_EVEN)) for x in row[1:]] for row in rows], np.int64
    )
    return Bars(
        open_ms, ticks[:, 0].copy(), ticks[:, 1].copy(), ticks[:, 2].copy(), ticks[:, 3].copy(),
        np.zeros(len(rows), np.float64), 3_600_000, 0,
    )  # fmt: skip


def bars_window(bars: Bars, start_ms: int, end_ms: int) -> Bars:
    """Return the bars whose open time t satisfies start_ms <= t < end_ms (copies; gaps recounted)."""
    keep = (bars.open_ms >= start_ms) & (bars.open_ms < end_ms)
    open_ms = bars.open_ms[keep]
    gaps = int((np.diff(open_ms) // bars.interval_ms - 1).sum()) if len(open_ms) else 0
    return Bars(
        open_ms, bars.open[keep], bars.high[keep], bars.low[keep], bars.close[keep], bars.volume[keep], bars.interval_ms, gaps
    )


def _side(path: Path, line: int, text: str) -> int:
    side = {"buy": 1, "sell": -1}.get(text.lower())
    if side is None:
        raise DataError(f"{path}:{line}: side {text!r} is not buy or sell")
    return side


def read_trades(path: str | Path, tick_size: Decimal) -> Trades:
    """Read trades from `ts_us,side,price,amount` (header required) or Binance's aggTrades dump.

    `ts_us` is epoch microseconds, `side` the taker side (buy/sell), `amount` base units > 0.
    Binance aggTrades (agg_trade_id, price, quantity, first_trade_id, last_trade_id,
    transact_time, is_buyer_maker; header optional) maps transact_time ms -> us (values
    >= 10^14 are taken as us already) and is_buyer_maker true -> sell. Prices become ticks,
    rounded half to even. Timestamps must not decrease; equal ones keep file order.

    Raises:
        DataError: unreadable file, missing header, malformed field, price <= 0 or below half
            a tick, amount <= 0, or a timestamp before the previous one; "path:line: ...".
        ValueError: tick_size <= 0.
    """
    path = Path(path)
    to_ticks = _TickParser(path, tick_size)
    columns = 0
    ts_us: list[int] = []
    sides: list[int] = []
    prices: list[int] = []
    amounts: list[float] = []
    for line, fields in csv_rows(path):
        if not columns:
            columns = len(fields)
            if columns == 4 and [x.lower() for x in fields] != ["ts_us", "side", "price", "amount"]:
                raise DataError(f"{path}:{line}: expected the header ts_us,side,price,amount, was {','.join(fields)}")
            if columns not in (4, 7):
                raise DataError(f"{path}:{line}: expected 4 columns (ts_us,side,price,amount) or Binance's 7, was {columns}")
            if columns == 4 or not fields[0].isdigit():
                continue
        if len(fields) != columns:
            raise DataError(f"{path}:{line}: expected {columns} columns, was {len(fields)}")
        if columns == 4:
            ts, side, price, amount = _integer(path, line, fields[0], "ts_us"), _side(path, line, fields[1]), fields[2], fields[3]
        else:
            ts = _integer(path, line, fields[5], "transact_time")
            ts = ts if ts >= _MICROSECONDS_FROM else ts * 1000
            maker = fields[6].lower()
            if maker not in ("true", "false"):
                raise DataError(f"{path}:{line}: is_buyer_maker {fields[6]!r} is not true or false")
            side, price, amount = (-1 if maker == "true" else 1), fields[1], fields[2]
        if ts_us and ts < ts_us[-1]:
            raise DataError(f"{path}:{line}: timestamp {ts} is before the previous {ts_us[-1]}")
        ts_us.append(ts)
        sides.append(side)
        prices.append(to_ticks(price, line, "price"))
        amounts.append(_amount(path, line, amount, "amount", positive=True))
    if not ts_us:
        raise DataError(f"{path}: no trades")
    return Trades(
        np.array(ts_us, dtype=np.int64), np.array(sides, dtype=np.int8),
        np.array(prices, dtype=np.int64), np.array(amounts, dtype=np.float64),
    )  # fmt: skip


def _utc_ms(path: Path, line: int, text: str) -> int:
    try:
        when = datetime.strptime(text, "%Y-%m-%d %H:%M:%S")
    except ValueError:
        raise DataError(f"{path}:{line}: timestamp {text!r} is not YYYY-MM-DD HH:MM:SS") from None
    return calendar.timegm(when.timetuple()) * 1000


def _close_snapshot(path: Path, row: Float64Array, previous: Float64Array | None, lines: list[int], ts_text: str) -> None:
    # Missing levels are NaN here; fill them from the previous snapshot (in place), then
    # require non-decreasing cumulative notional on each side.
    missing = np.isnan(row)
    if missing.any():
        if previous is None:
            raise DataError(
                f"{path}:{min(x for x in lines if x)}: the first snapshot ({ts_text}) lacks percentages {_percentages(missing)}"
            )
        row[missing] = previous[missing]
    for side in (0, DEPTH_LEVELS):
        drops = np.flatnonzero(np.diff(row[side : side + DEPTH_LEVELS]) < 0)
        if len(drops):
            column = side + int(drops[0]) + 1
            line = lines[column] or min(x for x in lines if x)
            raise DataError(
                f"{path}:{line}: snapshot {ts_text}: cumulative notional decreases with distance from mid "
                f"(within {int(drops[0]) + 2}% less than within {int(drops[0]) + 1}%)"
            )


def _percentages(missing: npt.NDArray[np.bool_]) -> str:
    labels = [-(j + 1) for j in range(DEPTH_LEVELS)] + [j + 1 for j in range(DEPTH_LEVELS)]
    return ",".join(str(p) for p, m in zip(labels, missing, strict=True) if m)


def read_depth_profile(path: str | Path) -> DepthProfile:
    """Read Binance's `bookDepth` CSV into cumulative notional per snapshot.

    Columns timestamp (UTC, YYYY-MM-DD HH:MM:SS), percentage (-5..-1 bid, 1..5 ask), depth,
    notional (cumulative quote within |percentage| % of mid), weighted_avg_price; header
    required. Consecutive rows with one timestamp form a snapshot; timestamps strictly
    increase between snapshots. A percentage a snapshot lacks is copied from the previous
    snapshot (the first must be complete). After filling, each side must be non-decreasing
    in distance. Units: ms, quote currency; values kept as float64, unrounded.

    Raises:
        DataError: unreadable file, wrong header, malformed field, an unknown or repeated
            percentage, timestamps out of order, an incomplete first snapshot, or a
            cumulative value that decreases with distance; "path:line: ...".
    """
    path = Path(path)
    header = True
    times: list[int] = []
    rows: list[Float64Array] = []
    lines = [0] * (2 * DEPTH_LEVELS)
    ts_text = ""
    for line, fields in csv_rows(path):
        if header:
            if [x.lower() for x in fields[:4]] != ["timestamp", "percentage", "depth", "notional"]:
                raise DataError(f"{path}:{line}: expected the header timestamp,percentage,depth,notional,weighted_avg_price")
            header = False
            continue
        if len(fields) != 5:
            raise DataError(f"{path}:{line}: expected 5 columns, was {len(fields)}")
        if fields[0] != ts_text:
            ts = _utc_ms(path, line, fields[0])
            if times and ts <= times[-1]:
                raise DataError(f"{path}:{line}: timestamp {fields[0]} is not after the previous snapshot")
            if rows:
                _close_snapshot(path, rows[-1], rows[-2] if len(rows) > 1 else None, lines, ts_text)
            times.append(ts)
            rows.append(np.full(2 * DEPTH_LEVELS, np.nan))
            lines, ts_text = [0] * (2 * DEPTH_LEVELS), fields[0]
        percentage = _integer(path, line, fields[1], "percentage")
        if not 1 <= abs(percentage) <= DEPTH_LEVELS:
            raise DataError(f"{path}:{line}: percentage {percentage} is not in -5..-1 or 1..5")
        column = abs(percentage) - 1 + (DEPTH_LEVELS if percentage > 0 else 0)
        if lines[column]:
            raise DataError(f"{path}:{line}: percentage {percentage} appears twice in snapshot {ts_text}")
        rows[-1][column] = _amount(path, line, fields[3], "notional", positive=False)
        lines[column] = line
    if not rows:
        raise DataError(f"{path}: no depth snapshots")
    _close_snapshot(path, rows[-1], rows[-2] if len(rows) > 1 else None, lines, ts_text)
    table = np.array(rows)
    return DepthProfile(np.array(times, dtype=np.int64), table[:, :DEPTH_LEVELS].copy(), table[:, DEPTH_LEVELS:].copy())


def depth_at(profile: DepthProfile, ts_ms: int) -> tuple[Float64Array, Float64Array]:
    """Return (bid (5,), ask (5,)) cumulative notional of the latest snapshot at or before ts_ms.

    Before the first snapshot the first one is used. Copies; quote currency, float64.
    """
    i = max(int(np.searchsorted(profile.ts_ms, ts_ms, side="right")) - 1, 0)
    return profile.bid_notional[i].copy(), profile.ask_notional[i].copy()
