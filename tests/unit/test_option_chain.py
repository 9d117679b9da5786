"""The OKX option chain and Deribit DVOL readers, and the per-minute level-and-skew fit
(clearing/data/option_chain.py)."""

import csv
import math
import os
from pathlib import Path

import numpy as np
import pytest

from clearing.core.options.surface import calendar_arbitrage, implied_vol_at_moneyness
from clearing.data.option_chain import (
    DVOL_FILE,
    LOG_MONEYNESS_GRID_PPM,
    OKX_CHAIN_FILE,
    fit_level_skew,
    fitted_surfaces,
    read_dvol,
    read_option_chain,
)
from clearing.errors import DataError

HEADER = (
    "ts,symbol,timestamp_us,local_timestamp_us,type,strike_price,expiration,open_interest,last_price,bid_price,"
    "bid_amount,bid_iv,ask_price,ask_amount,ask_iv,mark_price,mark_iv,underlying_index,underlying_price,delta,gamma,"
    "vega,theta,rho"
)
T0_MS = 1760054400000  # 2025-10-10 00:00 UTC
OCT31_US, NOV28_US = 1761897600000000, 1764316800000000
INSTRUMENTS = [  # symbol, type, strike, expiration (us), mark_iv at minute 0
    ("BTC-USD-251031-80000-P", "put", 80000, OCT31_US, "0.6"),
    ("BTC-USD-251031-80000-C", "call", 80000, OCT31_US, "0.6"),
    ("BTC-USD-251031-135000-C", "call", 135000, OCT31_US, "0.4"),
    ("BTC-USD-251128-102000-C", "call", 102000, NOV28_US, "0.45"),
    ("BTC-USD-251128-132000-C", "call", 132000, NOV28_US, "0.4000005"),
]


def chain_lines(minutes=2, index="120000.5"):
    lines = [HEADER]
    for symbol, kind, strike, expiration, iv in INSTRUMENTS:
        for m in range(minutes):
            ts = T0_MS + 60_000 * m
            lines.append(
                f"{ts},{symbol},{ts * 1000 + 59_000_000},{ts * 1000 + 59_500_000},{kind},{strike},{expiration},"
                f"100,0.01,0.009,1,0.5,0.011,1,0.6,0.01,{iv},BTC-USD,{index},0.1,0.0001,0.00002,-0.00004,"
            )
    return lines


def write(tmp_path, name, lines):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


def test_read_option_chain_gives_integer_arrays_per_minute_and_instrument(tmp_path):
    chain = read_option_chain(write(tmp_path, "c.csv", chain_lines()))
    assert chain.symbols == tuple(s for s, *_ in INSTRUMENTS)
    assert chain.is_call.tolist() == [False, True, True, True, True]
    assert chain.strikes_usd.tolist() == [80000, 80000, 135000, 102000, 132000]
    assert chain.expiries_ns.tolist() == [OCT31_US * 1000] * 3 + [NOV28_US * 1000] * 2
    assert chain.minute_ns.tolist() == [T0_MS * 10**6, (T0_MS + 60_000) * 10**6]
    assert chain.mark_iv_ppm.shape == (2, 5) and chain.mark_iv_ppm.dtype == np.int64
    assert chain.mark_iv_ppm[0].tolist() == [600_000, 600_000, 400_000, 450_000, 400_000]  # 0.4000005: half to even
    assert (chain.index_cents == 12_000_050).all()
    assert (chain.mark_price_e8 == 1_000_000).all()


def test_fit_level_skew_is_exact_through_two_strikes(tmp_path):
    chain = read_option_chain(write(tmp_path, "c.csv", chain_lines(index="100000")))
    fit = fit_level_skew(chain)
    assert fit.expiries_ns.tolist() == [OCT31_US * 1000, NOV28_US * 1000]
    k80, k135 = math.log(0.8), math.log(1.35)
    skew = (0.4 - 0.6) / (k135 - k80)
    assert fit.skews_ppm[0, 0] == round(skew * 1e6)
    assert fit.levels_ppm[0, 0] == round((0.6 - skew * k80) * 1e6)
    surfaces = fitted_surfaces(fit, calendar_repair=False)
    minute, surface = surfaces[0]
    assert minute == T0_MS * 10**6 and surface.log_moneyness_ppm == LOG_MONEYNESS_GRID_PPM
    got = implied_vol_at_moneyness(surface, minute, np.array([OCT31_US * 1000] * 2), np.array([k80, k135]))
    np.testing.assert_allclose(got, [0.6, 0.4], rtol=0, atol=2e-6)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda lines: [lines[0].replace("mark_iv", "markiv"), *lines[1:]], r"c\.csv:1: missing column\(s\) mark_iv"),
        (lambda lines: [*lines[:3], lines[3].replace(",0.6,BTC-USD", ",abc,BTC-USD"), *lines[4:]],
         r"c\.csv:4: mark_iv 'abc' is not a number"),
        (lambda lines: [*lines[:2], lines[2].replace(",0.6,BTC-USD", ",,BTC-USD"), *lines[3:]],
         r"c\.csv:3: mark_iv is empty"),
        (lambda lines: [*lines[:2], lines[2].replace(",120000.5,", ",-1,"), *lines[3:]],
         r"c\.csv:3: underlying_price '-1' must be > 0"),
        (lambda lines: [lines[0], lines[2], lines[1], *lines[3:]], r"c\.csv:3: ts 1760054400000 of BTC-USD-251031-80000-P is not after"),
        (lambda lines: [*lines[:2], lines[2] + ",extra", *lines[3:]], r"c\.csv:3: expected 24 columns, was 25"),
        (lambda lines: lines[:-1], r"c\.csv: BTC-USD-251128-132000-C has 1 minutes, BTC-USD-251031-80000-P has 2"),
        (lambda lines: [lines[0]], r"c\.csv: no rows"),
        (lambda lines: [*lines[:2], lines[2].replace(",put,", ",straddle,"), *lines[3:]], r"c\.csv:3: type 'straddle'"),
    ],
)  # fmt: skip
def test_read_option_chain_bad_input_is_a_data_error_naming_file_and_line(tmp_path, edit, message):
    path = write(tmp_path, "c.csv", edit(chain_lines()))
    with pytest.raises(DataError, match=message) as caught:
        read_option_chain(path)
    assert "\n" not in str(caught.value)


def test_read_option_chain_missing_file_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="not found"):
        read_option_chain("no-such-chain.csv", data_dir=tmp_path)
    with pytest.raises(DataError, match="no such data file"):
        read_option_chain(tmp_path / "no-such-chain.csv")


def test_fit_level_skew_needs_two_strikes_per_expiry(tmp_path):
    lines = [x for x in chain_lines() if "-132000-" not in x]
    with pytest.raises(DataError, match="2025-11-28.*one strike"):
        fit_level_skew(read_option_chain(write(tmp_path, "c.csv", lines)))


def test_read_dvol_reads_percent_closes_into_ppm(tmp_path):
    path = write(tmp_path, "dvol.csv", ["date,dvol_close", "2025-10-09,39.73", "2025-10-10,44.115"])
    dvol = read_dvol(path)
    assert dvol.day_ns.tolist() == [(T0_MS - 86_400_000) * 10**6, T0_MS * 10**6]
    assert dvol.vol_ppm.tolist() == [397_300, 441_150]


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (["date,close", "2025-10-09,39.73"], r"dvol\.csv:1: expected the header date,dvol_close"),
        (["date,dvol_close", "2025-10-09,x"], r"dvol\.csv:2: dvol_close 'x' is not a number"),
        (["date,dvol_close", "2025-13-09,39"], r"dvol\.csv:2: date '2025-13-09' is not YYYY-MM-DD"),
        (["date,dvol_close", "2025-10-10,39", "2025-10-09,39"], r"dvol\.csv:3: date 2025-10-09 is not after"),
    ],
)
def test_read_dvol_bad_input_is_a_data_error(tmp_path, lines, message):
    with pytest.raises(DataError, match=message):
        read_dvol(write(tmp_path, "dvol.csv", lines))


# --- the real files ----------------------------------------------------------------------------

REAL = Path(os.environ.get("CLEARING_DATA_DIR") or "/nonexistent")
needs_chain = pytest.mark.skipif(not (REAL / OKX_CHAIN_FILE).is_file(), reason=f"needs CLEARING_DATA_DIR with {OKX_CHAIN_FILE}")


def minute(hh, mm):
    return (T0_MS + (60 * hh + mm) * 60_000) * 10**6


@pytest.fixture(scope="module")
def real_fit():
    chain = read_option_chain(OKX_CHAIN_FILE)  # found through $CLEARING_DATA_DIR
    return chain, fit_level_skew(chain)


@needs_chain
def test_real_chain_has_five_instruments_every_minute(real_fit):
    chain, fit = real_fit
    assert chain.mark_iv_ppm.shape == (1440, 5) and len(chain.minute_ns) == 1440
    assert (np.diff(chain.minute_ns) == 60 * 10**9).all()
    assert chain.strikes_usd.tolist() == [80000, 80000, 135000, 102000, 132000]
    assert chain.mark_iv_ppm.min() == 374_295 and chain.mark_iv_ppm.max() == 794_274
    assert fit.levels_ppm.shape == (1440, 2)


@needs_chain
def test_real_fit_reproduces_the_mark_ivs_at_the_observed_strikes(real_fit):
    # Computed here from the file with the csv module: per minute and strike, the mean k = ln(K/index)
    # and the mean mark_iv of the rows at that strike (the 80k put and call).
    _, fit = real_fit
    observed = {}
    with (REAL / OKX_CHAIN_FILE).open() as f:
        for row in csv.DictReader(f):
            key = (int(row["ts"]) * 10**6, int(row["expiration"]) * 1000, int(row["strike_price"]))
            k = math.log(int(row["strike_price"]) / float(row["underlying_price"]))
            observed.setdefault(key, []).append((k, float(row["mark_iv"])))
    per_minute = {}
    for (minute_ns, expiry_ns, _), points in observed.items():
        k = sum(p[0] for p in points) / len(points)
        iv = sum(p[1] for p in points) / len(points)
        per_minute.setdefault(minute_ns, []).append((expiry_ns, k, iv))
    worst = 0.0
    for minute_ns, surface in fitted_surfaces(fit, calendar_repair=False):
        expiry, k, iv = (np.array(x) for x in zip(*per_minute[minute_ns], strict=True))
        worst = max(worst, float(np.abs(implied_vol_at_moneyness(surface, minute_ns, expiry, k) - iv).max()))
    assert len(observed) == 1440 * 4
    assert worst <= 2e-6  # ppm rounding of the IV, the level, the skew and the grid


@needs_chain
def test_real_fit_the_crash_raised_the_short_dated_level_more_than_the_long(real_fit):
    # 00:00 UTC vs 21:20 UTC (the index low of the file's minutes, 106,468 USD): the 31-Oct ATM level
    # rose from about 44 % to 62 %, the 28-Nov one from about 41 % to 44 %; the short skew flattened.
    _, fit = real_fit
    before = int(np.searchsorted(fit.minute_ns, minute(0, 0)))
    during = int(np.searchsorted(fit.minute_ns, minute(21, 20)))
    short_rise = fit.levels_ppm[during, 0] - fit.levels_ppm[before, 0]
    long_rise = fit.levels_ppm[during, 1] - fit.levels_ppm[before, 1]
    assert 150_000 < short_rise < 200_000
    assert 0 < long_rise < 60_000
    assert fit.skews_ppm[before, 0] < -500_000 < fit.skews_ppm[during, 0] < 0


@needs_chain
def test_real_surfaces_are_repaired_free_of_calendar_arbitrage(real_fit):
    _, fit = real_fit
    raw = fitted_surfaces(fit, calendar_repair=False)
    repaired = fitted_surfaces(fit)
    assert [m for m, _ in repaired] == fit.minute_ns.tolist()
    assert all(calendar_arbitrage(s, m) == () for m, s in repaired)
    assert all(r.vol_ppm[0] == s.vol_ppm[0] for (_, r), (_, s) in zip(repaired, raw, strict=True))
    arbitraged = [m for m, s in raw if calendar_arbitrage(s, m)]
    assert minute(21, 20) in arbitraged and minute(0, 0) not in arbitraged


@pytest.mark.skipif(not (REAL / DVOL_FILE).is_file(), reason=f"needs CLEARING_DATA_DIR with {DVOL_FILE}")
def test_real_dvol_around_the_crash_days():
    dvol = read_dvol(DVOL_FILE)
    assert len(dvol.day_ns) == 14
    by_day = dict(zip(dvol.day_ns.tolist(), dvol.vol_ppm.tolist(), strict=True))
    assert by_day[T0_MS * 10**6] == 441_100 and by_day[(T0_MS - 86_400_000) * 10**6] == 397_300
