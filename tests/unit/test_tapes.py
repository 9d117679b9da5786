"""Tapes: bars, trades and depth read from CSV; bridged, forward-filled and jump-diffusion paths."""

import math
import os
import time
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clearing.core.paths import Bars, bridge_path, gbm_path, jump_diffusion_path, trades_path
from clearing.data.tapes import bars_window, depth_at, read_bars, read_depth_profile, read_trades
from clearing.errors import DataError
from clearing.units import NS_PER_MS, NS_PER_S

TICK = Decimal("0.01")
T0 = 1583971200000  # 2020-03-12T00:00:00Z in ms
BINANCE_HEADER = (
    "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,taker_buy_quote_volume,ignore"
)
SIMPLE_ROWS = [
    (T0, "7938.39", "7960.52", "7938.38", "7954.40", "420.415"),
    (T0 + 60_000, "7954.32", "7963.55", "7952.13", "7957.27", "253.527"),
    (T0 + 120_000, "7957.27", "7961.65", "7956.39", "7961.65", "134.180"),
]


def write(tmp_path, name, lines):
    path = tmp_path / name
    path.write_text("".join(f"{line}\n" for line in lines))
    return path


def simple_csv(tmp_path, rows=SIMPLE_ROWS, header=True, name="bars.csv"):
    return write(tmp_path, name, (["ts,open,high,low,close,volume"] if header else []) + [",".join(map(str, r)) for r in rows])


def binance_csv(tmp_path, rows=SIMPLE_ROWS, header=False, unit=1):
    lines = [BINANCE_HEADER] if header else []
    for ts, o, h, low, c, v in rows:
        lines.append(f"{ts * unit},{o},{h},{low},{c},{v},{(ts + 59_999) * unit + (unit - 1)},3338345.4,1023,210.2,1669171.3,0")
    return write(tmp_path, "binance.csv", lines)


def expected_bars():
    return {
        "open_ms": [T0, T0 + 60_000, T0 + 120_000],
        "open": [793839, 795432, 795727],
        "high": [796052, 796355, 796165],
        "low": [793838, 795213, 795639],
        "close": [795440, 795727, 796165],
    }


def assert_bars(bars):
    for field, values in expected_bars().items():
        array = getattr(bars, field)
        assert array.dtype == np.int64 and array.tolist() == values, field
    assert bars.volume.dtype == np.float64 and bars.volume.tolist() == [420.415, 253.527, 134.180]
    assert bars.interval_ms == 60_000 and bars.gaps == 0


@pytest.mark.parametrize("header", [True, False])
def test_read_bars_simple_format_with_or_without_header(tmp_path, header):
    assert_bars(read_bars(simple_csv(tmp_path, header=header), TICK))


@pytest.mark.parametrize("header", [True, False])
def test_read_bars_binance_twelve_columns_with_or_without_header(tmp_path, header):
    assert_bars(read_bars(binance_csv(tmp_path, header=header), TICK))


def test_read_bars_binance_microsecond_open_times_are_detected(tmp_path):
    assert_bars(read_bars(binance_csv(tmp_path, header=True, unit=1000), TICK))


def test_read_bars_single_binance_bar_takes_interval_from_close_time(tmp_path):
    assert read_bars(binance_csv(tmp_path, rows=SIMPLE_ROWS[:1]), TICK).interval_ms == 60_000


def test_read_bars_rounds_prices_half_to_even(tmp_path):
    rows = [(T0, "100.005", "100.025", "100.005", "100.015", "1")]
    rows.append((T0 + 60_000, "100", "100", "100", "100", "0"))
    bars = read_bars(simple_csv(tmp_path, rows=rows), TICK)
    assert (bars.open[0], bars.high[0], bars.low[0], bars.close[0]) == (10000, 10002, 10000, 10002)


def test_read_bars_counts_missing_bars_as_gaps_and_windows(tmp_path):
    rows = [(T0 + i * 60_000, "10", "11", "9", "10", "1") for i in (0, 1, 4, 5, 7)]
    bars = read_bars(simple_csv(tmp_path, rows=rows), Decimal("1"))
    assert bars.interval_ms == 60_000 and bars.gaps == 3
    window = bars_window(bars, T0 + 60_000, T0 + 5 * 60_000)
    assert window.open_ms.tolist() == [T0 + 60_000, T0 + 4 * 60_000] and window.gaps == 2
    assert window.interval_ms == 60_000 and len(bars_window(bars, 0, 1).open_ms) == 0


BAD_BARS = [
    ("1583971260000,7954.32,x,7952.13,7957.27,1", ":3: high 'x' is not a number"),
    ("1583971260000,7954.32,7956.00,7952.13,7957.27,1", ":3: high 7956.00 is below max(open 7954.32, close 7957.27)"),
    ("1583971260000,7954.32,7963.55,7955.00,7957.27,1", ":3: low 7955.00 is above min(open 7954.32, close 7957.27)"),
    ("1583971140000,7954.32,7963.55,7952.13,7957.27,1", ":3: open time 1583971140000 is not after the previous"),
    ("1583971200000,7954.32,7963.55,7952.13,7957.27,1", ":3: open time 1583971200000 is not after the previous"),
    ("1583971260000,0,7963.55,0,7957.27,1", ":3: open '0' is not a positive price"),
    ("1583971260000,0.001,7963.55,0.001,7957.27,1", ":3: open 0.001 rounds to 0 ticks"),
    ("1583971260000,7954.32,7963.55,7952.13,7957.27", ":3: expected 6 columns, was 5"),
    ("1583971260000,7954.32,7963.55,7952.13,7957.27,-1", ":3: volume '-1' must be finite and >= 0"),
    ("158397126000x,7954.32,7963.55,7952.13,7957.27,1", ":3: open time '158397126000x' is not a whole number"),
]


@pytest.mark.parametrize(("row", "message"), BAD_BARS)
def test_read_bars_bad_row_is_a_data_error_naming_file_and_line(tmp_path, row, message):
    path = write(tmp_path, "bad.csv", ["ts,open,high,low,close,volume", "1583971200000,7938.39,7960.52,7938.38,7954.40,1", row])
    with pytest.raises(DataError) as info:
        read_bars(path, TICK)
    assert str(info.value).startswith(f"{path}{message}") and "\n" not in str(info.value)


def test_read_bars_timestamp_off_the_interval_grid_is_refused(tmp_path):
    rows = [(T0 + ms, "10", "11", "9", "10", "1") for ms in (0, 60_000, 150_000)]
    with pytest.raises(DataError, match=r"bars.csv:4: open time .* not a whole number of 60000 ms intervals"):
        read_bars(simple_csv(tmp_path, rows=rows), TICK)


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ([], ": no bars"),
        (["ts,open,high,low,close,volume"], ": no bars"),
        (["ts,open,high,low,close"], ":1: expected 6 or 12 columns, was 5"),
        (["ts,open,low,high,close,volume"], ":1: expected columns ts,open,high,low,close,volume"),
        (["1583971200000,10,11,9,10,1"], ": cannot infer the bar interval from a single bar"),
    ],
)
def test_read_bars_bad_file_is_a_data_error(tmp_path, lines, message):
    path = write(tmp_path, "bad.csv", lines)
    with pytest.raises(DataError, match=message):
        read_bars(path, TICK)


def test_read_bars_missing_file_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="nope.csv: cannot read"):
        read_bars(tmp_path / "nope.csv", TICK)


def test_read_trades_parses_sides_ticks_and_microseconds(tmp_path):
    path = write(tmp_path, "t.csv", ["ts_us,side,price,amount", "1760054406843000,buy,121758.75,0.01428928",
                                     "1760054406843000,sell,121758.7,0.5", "1760054423444000,SELL,121767.61,2"])  # fmt: skip
    trades = read_trades(path, TICK)
    assert trades.ts_us.tolist() == [1760054406843000, 1760054406843000, 1760054423444000]
    assert trades.side.dtype == np.int8 and trades.side.tolist() == [1, -1, -1]
    assert trades.price.tolist() == [12175875, 12175870, 12176761] and trades.amount.tolist() == [0.01428928, 0.5, 2.0]


def test_read_trades_reads_binance_agg_trades(tmp_path):
    path = write(tmp_path, "agg.csv", ["agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker",
                                       "1,7938.4,0.5,10,11,1583971200001,true", "2,7938.5,1.5,12,12,1583971200002,false"])  # fmt: skip
    trades = read_trades(path, TICK)
    assert trades.ts_us.tolist() == [1583971200001000, 1583971200002000] and trades.side.tolist() == [-1, 1]
    assert trades.price.tolist() == [793840, 793850]


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (["ts_us,side,price,amount", "2,buy,10,1", "1,buy,10,1"], ":3: timestamp 1 is before the previous 2"),
        (["ts_us,side,price,amount", "1,hold,10,1"], ":2: side 'hold' is not buy or sell"),
        (["ts_us,side,price,amount", "1,buy,10,0"], ":2: amount '0' must be finite and > 0"),
        (["1,buy,10,1"], ":1: expected the header ts_us,side,price,amount"),
        (["ts_us,side,price,amount"], ": no trades"),
    ],
)
def test_read_trades_bad_input_is_a_data_error_naming_the_line(tmp_path, lines, message):
    path = write(tmp_path, "t.csv", lines)
    with pytest.raises(DataError, match=f"t.csv{message}"):
        read_trades(path, TICK)


def test_trades_path_forward_fills_the_last_trade_at_or_before_each_step(tmp_path):
    path = write(tmp_path, "t.csv", ["ts_us,side,price,amount", "2000000,buy,10.00,1", "3000000,sell,11.00,1",
                                     "3000000,buy,12.00,1", "7500000,buy,9.00,1"])  # fmt: skip
    trades = read_trades(path, TICK)
    out = trades_path(trades, 1_000_000, NS_PER_S, 8, initial_ticks=500)
    assert out.dtype == np.int64
    assert out.tolist() == [500, 1000, 1200, 1200, 1200, 1200, 1200, 900, 900]


def flat_bars(rows, interval_ms=60_000):
    o, h, low, c = (np.array(x, dtype=np.int64) for x in zip(*[r[1:] for r in rows], strict=True))
    open_ms = np.array([r[0] for r in rows], dtype=np.int64)
    gaps = int((np.diff(open_ms) // interval_ms - 1).sum())
    return Bars(open_ms, o, h, low, c, np.ones(len(rows)), interval_ms, gaps)


@st.composite
def bars_strategy(draw):
    rows, t = [], 0
    for _ in range(draw(st.integers(1, 4))):
        low = draw(st.integers(1, 10**7))
        high = low + draw(st.integers(0, 3000))
        o, c = draw(st.integers(low, high)), draw(st.integers(low, high))
        rows.append((t, o, high, low, c))
        t += 60_000 * draw(st.integers(1, 3))
    return flat_bars(rows)


@settings(max_examples=150)
@given(bars_strategy(), st.integers(0, 2**32), st.integers(NS_PER_S // 2, 30 * NS_PER_S), st.integers(-90_000, 30_000))
def test_bridge_path_pins_open_close_and_extremes_and_stays_inside_each_bar(bars, seed, step_ns, start_ms):
    n_steps = int(((bars.open_ms[-1] + 2 * bars.interval_ms - start_ms) * NS_PER_MS) // step_ns)
    path = bridge_path(np.random.default_rng(seed), bars, start_ms, step_ns, n_steps)
    assert path.dtype == np.int64 and len(path) == n_steps + 1
    assert np.array_equal(path, bridge_path(np.random.default_rng(seed), bars, start_ms, step_ns, n_steps))
    times = start_ms * NS_PER_MS + np.arange(n_steps + 1) * step_ns
    covered = np.zeros(len(path), dtype=bool)
    for i in range(len(bars.open_ms)):
        begin = bars.open_ms[i] * NS_PER_MS
        inside = (times >= begin) & (times < begin + bars.interval_ms * NS_PER_MS)
        covered |= inside
        seg = path[inside]
        o, h, low, c = int(bars.open[i]), int(bars.high[i]), int(bars.low[i]), int(bars.close[i])
        if not len(seg):
            continue
        assert seg[0] == o and low <= seg.min() and seg.max() <= h
        if len(seg) >= 2:
            assert seg[-1] == c
        if len(seg) >= 4:
            assert seg.min() == low and seg.max() == h
            if h - low >= 2:  # hit once each, except where the open or close is the extreme itself
                assert (seg == h).sum() == max(1, (o == h) + (c == h))
                assert (seg == low).sum() == max(1, (o == low) + (c == low))
    before = times < bars.open_ms[0] * NS_PER_MS
    assert (path[before] == bars.open[0]).all()
    held = np.searchsorted(bars.open_ms * NS_PER_MS, times, side="right") - 1
    after = ~covered & ~before
    assert (path[after] == bars.close[held[after]]).all()


def crash_bars(n=1440):
    rng = np.random.default_rng(7)
    close = np.cumsum(rng.integers(-500, 500, n)) + 800_000
    open_ = np.r_[800_000, close[:-1]]
    high = np.maximum(open_, close) + rng.integers(0, 400, n)
    low = np.minimum(open_, close) - rng.integers(0, 400, n)
    return Bars(T0 + np.arange(n, dtype=np.int64) * 60_000, open_, high, low, close, np.ones(n), 60_000, 0)


def test_bridge_path_same_seed_same_path_other_seed_other_path():
    bars = crash_bars(30)
    a, b, c = (bridge_path(np.random.default_rng(s), bars, T0, NS_PER_S, 30 * 60 - 1) for s in (1, 1, 2))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_bridge_path_expands_a_day_of_minutes_to_seconds_quickly():
    bars = crash_bars()
    started = time.perf_counter()
    path = bridge_path(np.random.default_rng(0), bars, T0, NS_PER_S, 1440 * 60 - 1)
    elapsed = time.perf_counter() - started
    by_bar = path.reshape(1440, 60)
    assert (by_bar[:, 0] == bars.open).all() and (by_bar[:, -1] == bars.close).all()
    assert (by_bar.min(axis=1) == bars.low).all() and (by_bar.max(axis=1) == bars.high).all()
    assert elapsed < 0.5, f"bridge took {elapsed:.3f} s"


def test_bridge_path_refuses_no_bars_and_bad_steps():
    with pytest.raises(ValueError, match="at least one bar"):
        bridge_path(np.random.default_rng(0), bars_window(crash_bars(2), 0, 1), 0, NS_PER_S, 3)
    with pytest.raises(ValueError, match="step_ns > 0"):
        bridge_path(np.random.default_rng(0), crash_bars(2), T0, 0, 3)


def jump_args(**overrides):
    args = {"initial_ticks": 10**8, "n_steps": 43_200, "step_ns": 10 * NS_PER_S, "volatility": 0.05, "drift": 0.0,
            "jump_intensity_per_day": 20.0, "jump_mean": -0.02, "jump_stdev": 0.005}  # fmt: skip
    return {**args, **overrides}


def test_jump_diffusion_path_is_deterministic_and_positive():
    a = jump_diffusion_path(np.random.default_rng(3), **jump_args(n_steps=1000))
    b = jump_diffusion_path(np.random.default_rng(3), **jump_args(n_steps=1000))
    assert a.dtype == np.int64 and len(a) == 1001 and a[0] == 10**8 and np.array_equal(a, b) and (a >= 1).all()


def test_jump_diffusion_path_without_jumps_is_gbm_path():
    shocks = [(100 * NS_PER_S, 50 * NS_PER_S, -0.3), (120 * NS_PER_S, 70 * NS_PER_S, 0.1)]
    jd = jump_diffusion_path(
        np.random.default_rng(5), **jump_args(n_steps=500, step_ns=NS_PER_S, jump_intensity_per_day=0.0), shocks=shocks
    )
    gbm = gbm_path(np.random.default_rng(5), 10**8, 500, NS_PER_S, 0.05, 0.0, shocks)
    assert np.array_equal(jd, gbm)
    assert jd[150] < 0.75 * jd[100]


def test_jump_diffusion_path_jumps_at_the_configured_intensity():
    path = jump_diffusion_path(np.random.default_rng(11), **jump_args())  # 5 days at 20 jumps a day
    returns = np.diff(np.log(path.astype(np.float64)))
    jumps = int((np.abs(returns) > 0.005).sum())
    assert 70 <= jumps <= 130, jumps  # Poisson mean 100, sd 10
    assert np.median(returns[np.abs(returns) > 0.005]) < -0.01


def test_jump_diffusion_path_refuses_bad_parameters():
    with pytest.raises(ValueError, match="volatility, jump intensity and jump stdev >= 0"):
        jump_diffusion_path(np.random.default_rng(0), **jump_args(jump_intensity_per_day=-1.0))


DEPTH_HEADER = "timestamp,percentage,depth,notional,weighted_avg_price"


def depth_rows(ts, bids, asks, skip=()):
    rows = [f"{ts},{-(j + 1)},1.0,{v},100" for j, v in enumerate(bids) if -(j + 1) not in skip]
    return rows + [f"{ts},{j + 1},1.0,{v},100" for j, v in enumerate(asks) if j + 1 not in skip]


def test_read_depth_profile_parses_snapshots_and_forward_fills_missing_levels(tmp_path):
    lines = [DEPTH_HEADER, *depth_rows("2025-10-10 00:00:07", [1, 2, 3, 4, 5], [10, 20, 30, 40, 50]),
             *depth_rows(" 2025-10-10 00:00:37", [1.5, 2.5, 3.5, 4.5, 5.5], [15, 25, 35, 45, 55], skip=(-1, 3)),
             *depth_rows("2025-10-10 00:01:07", [2, 3, 4, 5, 6], [10, 20, 30, 40, 50])]  # fmt: skip
    profile = read_depth_profile(write(tmp_path, "d.csv", lines))
    base = 1760054407000  # 2025-10-10T00:00:07Z
    assert profile.ts_ms.tolist() == [base, base + 30_000, base + 60_000]
    assert profile.bid_notional.shape == (3, 5) and profile.ask_notional.shape == (3, 5)
    assert profile.bid_notional[1].tolist() == [1, 2.5, 3.5, 4.5, 5.5]  # -1 % copied from the first snapshot
    assert profile.ask_notional[1].tolist() == [15, 25, 30, 45, 55]  # +3 % copied too
    bid, ask = depth_at(profile, base + 45_000)
    assert bid.tolist() == [1, 2.5, 3.5, 4.5, 5.5] and ask.tolist() == [15, 25, 30, 45, 55]
    assert depth_at(profile, 0)[0].tolist() == [1, 2, 3, 4, 5]
    assert depth_at(profile, base + 60_000)[1].tolist() == [10, 20, 30, 40, 50]


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (
            [*depth_rows("2025-10-10 00:00:07", [1, 2, 3, 2.5, 5], [1, 2, 3, 4, 5])],
            r":5: snapshot 2025-10-10 00:00:07: cumulative notional decreases",
        ),
        (
            [*depth_rows("2025-10-10 00:00:07", [1, 2, 3, 4, 5], [1, 2, 3, 4, 5], skip=(2,))],
            r":2: the first snapshot .* lacks percentages 2",
        ),
        (
            [*depth_rows("2025-10-10 00:00:07", [1, 2, 3, 4, 5], [1, 2, 3, 4, 5]), "2025-10-10 00:00:07,6,1,1,1"],
            r":12: percentage 6 is not in",
        ),
        (
            [*depth_rows("2025-10-10 00:00:07", [1, 2, 3, 4, 5], [1, 2, 3, 4, 5]), "2025-10-10 00:00:07,5,1,9,1"],
            r":12: percentage 5 appears twice",
        ),
        (
            [*depth_rows("2025-10-10 00:00:37", [1] * 5, [1] * 5), *depth_rows("2025-10-10 00:00:07", [1] * 5, [1] * 5)],
            r":12: timestamp .* not after",
        ),
        (["2025-10-10T00:00:07,1,1,1,1"], r":2: timestamp '2025-10-10T00:00:07' is not YYYY-MM-DD HH:MM:SS"),
    ],
)
def test_read_depth_profile_bad_input_is_a_data_error_naming_the_line(tmp_path, lines, message):
    path = write(tmp_path, "d.csv", [DEPTH_HEADER, *lines])
    with pytest.raises(DataError, match=f"d.csv{message}"):
        read_depth_profile(path)


REAL = Path(os.environ.get("CLEARING_DATA_DIR") or "/nonexistent")


@pytest.mark.skipif(not (REAL / "btcusdt_1m_2020-03-12.csv").is_file(), reason="needs CLEARING_DATA_DIR with the crash-day files")
def test_real_black_thursday_minutes_and_book_depth():
    bars = read_bars(REAL / "btcusdt_1m_2020-03-12.csv", TICK)
    assert len(bars.open_ms) == 1440 and bars.gaps == 0 and bars.interval_ms == 60_000
    assert bars.open[0] == 793839 and bars.low.min() == 434700 and bars.close[-1] == 476465
    depth = REAL / "btcusdt_perp_bookdepth_2025-10-10.csv"
    if depth.is_file():
        profile = read_depth_profile(depth)
        assert len(profile.ts_ms) == 2879 and (np.diff(profile.bid_notional, axis=1) >= 0).all()
        assert math.isclose(profile.bid_notional[0, 4], 979983314.2056)
