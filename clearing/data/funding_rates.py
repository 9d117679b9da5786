"""Real funding settlements (Binance USD-M's `fundingRate` dump) for comparing a run's funding with what was paid.

The file `funding_rates_usdm_crashdays.csv` in the data directory holds, per symbol, each
settlement's time (`calc_time`, epoch ms, sometimes a few ms after the hour as Binance
publishes it), the interval in hours and the rate paid (a fraction per interval). Source:
docs/references.md [crashdays-sources].
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from pathlib import Path
from typing import NamedTuple

from clearing.data.directory import csv_rows, resolve_data_file
from clearing.errors import DataError

FUNDING_FILE = "funding_rates_usdm_crashdays.csv"
HEADER = ["symbol", "calc_time", "funding_interval_hours", "last_funding_rate"]


class Settlement(NamedTuple):
    """One real funding settlement: when (epoch ms, as published), the interval (hours) and the rate (ppb)."""

    time_ms: int
    interval_hours: int
    rate_ppb: int


def read_settlements(symbol: str, name: str | Path = FUNDING_FILE, data_dir: str | Path | None = None) -> list[Settlement]:
    """Return `symbol`'s settlements from the file, in time order (empty when the file has none of it).

    Rates are kept exactly: the fraction x 10^9, rounded half to even (-0.00300000 -> -3,000,000 ppb).

    Raises:
        DataError: a missing or unreadable file, a wrong header, a row with a bad number or
            too few columns, or a symbol's times out of order; "path:line: ...".
    """
    path = resolve_data_file(name, data_dir)
    out: list[Settlement] = []
    header = True
    for line, fields in csv_rows(path):
        if header:
            if [f.lower() for f in fields] != HEADER:
                raise DataError(f"{path}:{line}: expected the header {','.join(HEADER)}, was {','.join(fields)}")
            header = False
            continue
        if len(fields) != len(HEADER):
            raise DataError(f"{path}:{line}: expected {len(HEADER)} columns, was {len(fields)}")
        if fields[0] != symbol:
            continue
        try:
            time_ms, hours = int(fields[1]), int(fields[2])
        except ValueError:
            raise DataError(f"{path}:{line}: calc_time or funding_interval_hours is not a whole number") from None
        try:
            rate = Decimal(fields[3])
        except InvalidOperation:
            raise DataError(f"{path}:{line}: last_funding_rate {fields[3]!r} is not a number") from None
        if not rate.is_finite() or hours <= 0 or abs(rate) >= 1:
            raise DataError(f"{path}:{line}: expected a positive interval and a rate between -1 and 1")
        if out and time_ms <= out[-1].time_ms:
            raise DataError(f"{path}:{line}: {symbol}'s calc_time {time_ms} is not after the previous one")
        out.append(Settlement(time_ms, hours, int(rate.scaleb(9).to_integral_value(ROUND_HALF_EVEN))))
    return out
