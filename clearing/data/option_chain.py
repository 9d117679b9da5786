"""Implied-vol market data: the OKX option chain (tardis `options_chain` CSV), Deribit DVOL, and the
per-minute level-and-skew fit that turns the chain into volatility surfaces.

Finds files by name through the data directory (`clearing.data.directory`) and returns integer
arrays (ppm, ns, cents); floats live only inside the fit. Bad input is a one-line
`DataError("path:line: ...")`. Sources: docs/references.md [okx-options], [tardis-options-chain],
[crashdays-okx-chain], [crashdays-okx-chain].
"""

from __future__ import annotations

import calendar
import math
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from pathlib import Path
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from clearing.core.options.surface import (
    VolSurface,
    level_skew_surface,
    moneyness_grid_ppm,
    without_calendar_arbitrage,
)
from clearing.data.directory import csv_rows, resolve_data_file
from clearing.errors import DataError
from clearing.units import NS_PER_MS, NS_PER_S, PPM, Int64Array

OKX_CHAIN_FILE = "okx_btc_options_chain_1m_2025-10-10.csv"
DVOL_FILE = "dvol_btc_daily_crashwindows.csv"
# k = ln(K / index) from -0.5 to +0.5 in steps of 0.05: the 2025-10-10 strikes sit within -0.43..+0.24.
LOG_MONEYNESS_GRID_PPM = moneyness_grid_ppm(-500_000, 500_000, 50_000)
_CHAIN_COLUMNS = ("ts", "symbol", "type", "strike_price", "expiration", "mark_price", "mark_iv", "underlying_price")
_NS_PER_US = 1_000


class OptionChain(NamedTuple):
    """An option chain sampled once a minute, m instruments x n minutes, in integers.

    Per instrument (m,), in file order: `symbols`, `is_call` (bool), `strikes_usd`,
    `expiries_ns` (UTC ns). Per minute (n,): `minute_ns`, the minute's open (the file's `ts`;
    each row is the instrument's last update inside that minute). Per (minute, instrument)
    (n, m): `mark_iv_ppm` (mark IV x 10^6), `mark_price_e8` (BTC per 1 BTC of underlying x 10^8)
    and `index_cents` (the OKX BTC-USD index the row was computed on, USD cents); all rounded
    half to even. `source` is the file read.
    """

    source: str
    symbols: tuple[str, ...]
    is_call: npt.NDArray[np.bool_]
    strikes_usd: Int64Array
    expiries_ns: Int64Array
    minute_ns: Int64Array
    mark_iv_ppm: Int64Array
    mark_price_e8: Int64Array
    index_cents: Int64Array


class LevelSkewFit(NamedTuple):
    """Per minute (n,) and expiry (e,): sigma(k) = level + skew x k, k = ln(K / index).

    `minute_ns` (n,), `expiries_ns` (e,) increasing, `levels_ppm` and `skews_ppm` (n, e): vol
    and vol per unit of k, x 10^6, rounded to the nearest ppm (ties to even).
    """

    minute_ns: Int64Array
    expiries_ns: Int64Array
    levels_ppm: Int64Array
    skews_ppm: Int64Array


class DailyVol(NamedTuple):
    """A daily vol index: `day_ns` (n,) the UTC midnight of each date, `vol_ppm` (n,) vol x 10^6."""

    day_ns: Int64Array
    vol_ppm: Int64Array


def _scaled(path: Path, line: int, text: str, what: str, exponent: int, positive: bool) -> int:
    # Decimal text x 10^exponent, rounded half to even: exact, whatever the float repr.
    if not text:
        raise DataError(f"{path}:{line}: {what} is empty")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise DataError(f"{path}:{line}: {what} {text!r} is not a number") from None
    if not value.is_finite():
        raise DataError(f"{path}:{line}: {what} {text!r} is not a number")
    if value < 0 or (positive and value == 0):
        raise DataError(f"{path}:{line}: {what} {text!r} must be {'> 0' if positive else '>= 0'}")
    return int(value.scaleb(exponent).to_integral_value(ROUND_HALF_EVEN))


def _whole(path: Path, line: int, text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise DataError(f"{path}:{line}: {what} {text!r} is not a whole number") from None


class _Instrument:
    # One symbol's fixed terms and its per-minute values, as read.
    def __init__(self, is_call: bool, strike: int, expiry_ns: int) -> None:
        self.terms = (is_call, strike, expiry_ns)
        self.minutes: list[int] = []
        self.values: list[tuple[int, int, int]] = []


def _chain_row(path: Path, line: int, row: dict[str, str], instruments: dict[str, _Instrument]) -> None:
    symbol = row["symbol"]
    kind = row["type"].lower()
    if kind not in ("put", "call"):
        raise DataError(f"{path}:{line}: type {row['type']!r} is not put or call")
    terms = (kind == "call", _whole(path, line, row["strike_price"], "strike_price"),
             _whole(path, line, row["expiration"], "expiration") * _NS_PER_US)  # fmt: skip
    if terms[1] <= 0:
        raise DataError(f"{path}:{line}: strike_price {row['strike_price']!r} must be > 0")
    instrument = instruments.setdefault(symbol, _Instrument(*terms))
    if instrument.terms != terms:
        raise DataError(f"{path}:{line}: type, strike or expiration of {symbol} differ from its first row")
    ts_ms = _whole(path, line, row["ts"], "ts")
    if instrument.minutes and ts_ms * NS_PER_MS <= instrument.minutes[-1]:
        raise DataError(f"{path}:{line}: ts {ts_ms} of {symbol} is not after its previous {instrument.minutes[-1] // NS_PER_MS}")
    instrument.minutes.append(ts_ms * NS_PER_MS)
    instrument.values.append((
        _scaled(path, line, row["mark_iv"], "mark_iv", 6, positive=True),
        _scaled(path, line, row["mark_price"], "mark_price", 8, positive=False),
        _scaled(path, line, row["underlying_price"], "underlying_price", 2, positive=True),
    ))  # fmt: skip


def read_option_chain(name: str | Path, data_dir: str | Path | None = None) -> OptionChain:
    """Read a tardis `options_chain` CSV sampled once a minute (the OKX crash-day file's layout).

    `name` is resolved by `resolve_data_file` (a bare name is looked up in the data
    directory). Columns are found by header name; used: ts (minute open, epoch ms), symbol,
    type (put/call), strike_price (whole USD), expiration (epoch us), mark_price (BTC per 1
    BTC), mark_iv (a fraction: 0.66 = 66 %), underlying_price (the OKX index, USD). Rows may
    come in any instrument order; each instrument's ts must strictly increase and every
    instrument must have the same minutes. Units and rounding: `OptionChain`.

    Raises:
        DataError: missing or unreadable file, a header without those columns, a row of the
            wrong width, an unparsable or out-of-range field, an instrument whose terms change,
            a ts not after the previous one, instruments with different minutes, or no rows;
            one line, "path:line: ..." where a line is at fault.
    """
    path = resolve_data_file(name, data_dir)
    header: list[str] = []
    instruments: dict[str, _Instrument] = {}
    for line, fields in csv_rows(path):
        if not header:
            header = [x.lower() for x in fields]
            missing = [c for c in _CHAIN_COLUMNS if c not in header]
            if missing:
                raise DataError(f"{path}:{line}: missing column(s) {','.join(missing)}; expected a tardis options_chain header")
            continue
        if len(fields) != len(header):
            raise DataError(f"{path}:{line}: expected {len(header)} columns, was {len(fields)}")
        _chain_row(path, line, dict(zip(header, fields, strict=True)), instruments)
    if not instruments:
        raise DataError(f"{path}: no rows")
    symbols = tuple(instruments)
    first = instruments[symbols[0]]
    for symbol in symbols[1:]:
        minutes = instruments[symbol].minutes
        if len(minutes) != len(first.minutes):
            raise DataError(f"{path}: {symbol} has {len(minutes)} minutes, {symbols[0]} has {len(first.minutes)}")
        if minutes != first.minutes:
            at = next(i for i, (a, b) in enumerate(zip(minutes, first.minutes, strict=True)) if a != b)
            ts, expected = minutes[at] // NS_PER_MS, first.minutes[at] // NS_PER_MS
            raise DataError(f"{path}: {symbol} has minute {ts} where {symbols[0]} has {expected}")
    table = np.array([instruments[s].values for s in symbols], dtype=np.int64).transpose(1, 0, 2)  # (n, m, 3)
    return OptionChain(
        str(path), symbols,
        np.array([instruments[s].terms[0] for s in symbols], dtype=np.bool_),
        np.array([instruments[s].terms[1] for s in symbols], dtype=np.int64),
        np.array([instruments[s].terms[2] for s in symbols], dtype=np.int64),
        np.array(first.minutes, dtype=np.int64),
        table[:, :, 0].copy(), table[:, :, 1].copy(), table[:, :, 2].copy(),
    )  # fmt: skip


def _utc(ns: int) -> str:
    return datetime.fromtimestamp(ns // NS_PER_S, UTC).strftime("%Y-%m-%d %H:%M UTC")


def fit_level_skew(chain: OptionChain) -> LevelSkewFit:
    """Fit sigma(k) = level + skew x k per minute and expiry to the chain's mark IVs.

    k = ln(strike / index) is spot log-moneyness: the tardis file's `underlying_price` is the
    OKX spot index, not the forward OKX prices against. Instruments of one expiry and strike
    (a put and a call) count as one point: the mean of their k and of their mark IV. Through
    the points of each expiry, ordinary least squares in (k, IV): exact when the expiry has
    two strikes. Floats inside (k by `math.log`); level and skew rounded to the nearest ppm.

    Raises:
        DataError: an expiry with fewer than two distinct strikes ("file: expiry ...").
    """
    index_usd = chain.index_cents / 100.0
    strikes = chain.strikes_usd.astype(np.float64)
    ratio = (strikes[None, :] / index_usd).ravel().tolist()
    k = np.array(list(map(math.log, ratio))).reshape(index_usd.shape)
    iv = chain.mark_iv_ppm / PPM
    expiries = np.unique(chain.expiries_ns)
    levels, skews = [], []
    for expiry in expiries:
        columns = np.flatnonzero(chain.expiries_ns == expiry)
        distinct = sorted(set(chain.strikes_usd[columns].tolist()))
        if len(distinct) < 2:
            raise DataError(
                f"{chain.source}: expiry {_utc(int(expiry))} has one strike ({distinct[0]} USD); the level-and-skew fit needs two"
            )
        groups = [columns[chain.strikes_usd[columns] == strike] for strike in distinct]
        point_k = np.stack([k[:, g].mean(axis=1) for g in groups], axis=1)  # (n, strikes)
        point_iv = np.stack([iv[:, g].mean(axis=1) for g in groups], axis=1)
        dk = point_k - point_k.mean(axis=1, keepdims=True)
        dv = point_iv - point_iv.mean(axis=1, keepdims=True)
        skew = (dk * dv).sum(axis=1) / (dk * dk).sum(axis=1)
        levels.append(point_iv.mean(axis=1) - skew * point_k.mean(axis=1))
        skews.append(skew)
    return LevelSkewFit(
        chain.minute_ns.copy(), expiries.astype(np.int64),
        np.rint(np.stack(levels, axis=1) * PPM).astype(np.int64), np.rint(np.stack(skews, axis=1) * PPM).astype(np.int64),
    )  # fmt: skip


def fitted_surfaces(
    fit: LevelSkewFit,
    log_moneyness_ppm: tuple[int, ...] = LOG_MONEYNESS_GRID_PPM,
    calendar_repair: bool = True,
) -> list[tuple[int, VolSurface]]:
    """Return (minute_ns, surface) per minute: `level_skew_surface` on the grid, floored at 1 % vol.

    With `calendar_repair` (the default) each surface goes through
    `without_calendar_arbitrage` at its own minute: the later expiry's vol is raised where the
    two linear smiles, extrapolated across the grid, would cross in total variance (on
    2025-10-10 the far put wing, from 21:00 UTC on). The first expiry is never changed.

    Raises:
        ValueError: a minute at or after the first expiry (the surface would have expired).
    """
    expiries = tuple(int(e) for e in fit.expiries_ns)
    out = []
    for minute, levels, skews in zip(fit.minute_ns.tolist(), fit.levels_ppm.tolist(), fit.skews_ppm.tolist(), strict=True):
        surface = level_skew_surface(expiries, levels, skews, log_moneyness_ppm)
        out.append((minute, without_calendar_arbitrage(surface, minute) if calendar_repair else surface))
    return out


def load_okx_surfaces(name: str | Path = OKX_CHAIN_FILE, data_dir: str | Path | None = None) -> list[tuple[int, VolSurface]]:
    """Return the calendar-repaired (minute_ns, surface) sequence of an OKX chain file.

    `fitted_surfaces(fit_level_skew(read_option_chain(name, data_dir)))` on
    LOG_MONEYNESS_GRID_PPM.

    Raises:
        DataError: as `read_option_chain` and `fit_level_skew`.
    """
    return fitted_surfaces(fit_level_skew(read_option_chain(name, data_dir)))


def read_dvol(name: str | Path = DVOL_FILE, data_dir: str | Path | None = None) -> DailyVol:
    """Read a daily vol index CSV `date,dvol_close` (date YYYY-MM-DD UTC, close in vol percent).

    vol_ppm = dvol_close x 10^4 rounded half to even (44.11 -> 441_100, i.e. 44.11 % vol);
    day_ns is the date's 00:00 UTC. Dates must strictly increase (gaps are allowed).

    Raises:
        DataError: missing or unreadable file, wrong header, a bad date or number, a close
            <= 0, dates out of order, or no rows; "path:line: ...".
    """
    path = resolve_data_file(name, data_dir)
    header = True
    days: list[int] = []
    vols: list[int] = []
    for line, fields in csv_rows(path):
        if header:
            if [x.lower() for x in fields] != ["date", "dvol_close"]:
                raise DataError(f"{path}:{line}: expected the header date,dvol_close, was {','.join(fields)}")
            header = False
            continue
        if len(fields) != 2:
            raise DataError(f"{path}:{line}: expected 2 columns, was {len(fields)}")
        try:
            day = datetime.strptime(fields[0], "%Y-%m-%d")
        except ValueError:
            raise DataError(f"{path}:{line}: date {fields[0]!r} is not YYYY-MM-DD") from None
        day_ns = calendar.timegm(day.timetuple()) * NS_PER_S
        if days and day_ns <= days[-1]:
            raise DataError(f"{path}:{line}: date {fields[0]} is not after the previous {_utc(days[-1])[:10]}")
        days.append(day_ns)
        vols.append(_scaled(path, line, fields[1], "dvol_close", 4, positive=True))
    if not days:
        raise DataError(f"{path}: no rows")
    return DailyVol(np.array(days, dtype=np.int64), np.array(vols, dtype=np.int64))
