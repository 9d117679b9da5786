"""The four-market 2025-10-10 scenario: BTC, ETH (Gemini spot index), SOL and XRP side by side.

The default suite runs slices of the day around the crash (21:00 onwards) with a small
population, through the scenario's own overrides. With CLEARING_DATA_DIR pointing at the
crash-day files, each market's index is checked against its own one-minute tape; without
them, the same slices run on the hourly paths the scenario writes down. The full day is
marked slow.
"""

import csv
import os
import sqlite3
from collections import defaultdict
from contextlib import closing
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest

from clearing.apps.run import run_in_memory
from clearing.core.invariants import violations
from clearing.scenario import load_scenario
from tests.builders import payload_dict, state_from_rows

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "scenarios" / "october-10-2025-multi.toml"
DATA = Path(os.environ.get("CLEARING_DATA_DIR", ROOT / "data"))
SYMBOLS = ["BTCUSDT-PERP", "ETHUSD", "SOLUSDT-PERP", "XRPUSDT-PERP"]
OPTIONS = ["BTC-251031-80000-P", "BTC-251031-80000-C", "BTC-251031-135000-C", "BTC-251128-102000-C", "BTC-251128-132000-C"]
FILES = [
    "btcusdt_1m_2025-10-10.csv", "ethusd_gemini_1m_2025-10-10.csv", "solusdt_1m_2025-10-10.csv",
    "xrpusdt_1m_2025-10-10.csv",
]  # fmt: skip
ON_TAPE = all((DATA / name).is_file() for name in FILES)
NEEDS_DATA = pytest.mark.skipif(
    not ON_TAPE, reason=f"the 2025-10-10 tapes ({', '.join(FILES)}) are not in CLEARING_DATA_DIR or ./data"
)
# The crash slice: 21:00 to 21:25 UTC, every market's low inside it (21:14 to 21:21).
SLICE_START_MS = 1_760_130_000_000  # 2025-10-10T21:00:00Z
SLICE = ("epoch=2025-10-10T21:00:00Z", "duration_s=1500", "checkpoint_interval_s=300", "population.accounts=300")
# The lows of the 21:00 hour, and the 21:00 open, in each market's file (and its hourly row).
OPEN_21 = [Decimal("114200.40"), Decimal("3875.31"), Decimal("196.8500"), Decimal("2.4961")]
LOW_21 = [Decimal("101516.50"), Decimal("3681"), Decimal("141.2800"), Decimal("1.1792")]


def scenario(*overrides):
    return load_scenario(SCENARIO, list(overrides))


def index_changes(rows):
    # market -> [(ts_ns, ticks)] of every index_price_updated, in log order.
    out = defaultdict(list)
    for _seq, ts, kind, _v, _c, payload, _h in rows:
        if kind == "index_price_updated":
            event = payload_dict(payload)
            out[event["market"]].append((ts, event["price_ticks"]))
    return out


def bars(name, tick):
    # minute open (ms) -> (open, high, low, close) in ticks, rounded half to even as the reader does.
    with (DATA / name).open() as f:
        rows = list(csv.reader(f))[1:]
    return {int(r[0]): tuple(int((Decimal(x) / tick).to_integral_value()) for x in r[1:5]) for r in rows}


@pytest.fixture(scope="module")
def crash_slice():
    s = scenario(*SLICE)
    summary, sink = run_in_memory(s, 0)
    return s, summary, sink


def perpetuals(s):
    # The four underlyings (the five options after them have no index path of their own).
    return [s.market, *s.markets[:3]]


def test_the_scenario_validates_with_four_markets_and_cross_margined_legs():
    s = scenario()
    listed = perpetuals(s)
    assert [m.symbol for m in listed] == SYMBOLS
    assert [m.symbol for m in s.markets[3:]] == OPTIONS and {m.kind for m in s.markets[3:]} == {"option"}
    assert s.volatility.model == "okx" and s.volatility.file_optional
    assert [p.files for p in [s.price, *(m.price for m in s.markets[:3])]] == [(f,) for f in FILES]
    assert {m.quote_decimals for m in listed} == {6}
    assert [m.tick_size for m in listed] == [Decimal("0.1"), Decimal("0.01"), Decimal("0.01"), Decimal("0.0001")]
    assert [m.lot_size for m in listed] == [Decimal("0.001"), Decimal("0.001"), Decimal("0.01"), Decimal("0.1")]
    assert s.population.legs == (1.0, 1.0, 1.0, 1.0) and s.population.margin_mode == "cross"
    assert s.duration_s == 86400 and s.epoch == datetime.fromisoformat("2025-10-10T00:00:00Z")


def test_every_market_writes_its_hourly_path_as_facts_from_its_own_file():
    s = scenario()
    for price, name in zip([s.price, *(m.price for m in s.markets[:3])], FILES, strict=True):
        assert len(price.hourly) == 24 and price.hourly_source and price.kind == "bars"
        assert datetime.fromisoformat(price.hourly[0][0]) == s.epoch
        assert price.hourly[0][1] == price.initial  # the first bar's open
        if not (DATA / name).is_file():
            continue
        with (DATA / name).open() as f:
            minutes = list(csv.reader(f))[1:]
        for hour, (when, o, h, low, c) in enumerate(price.hourly):
            rows = [r for r in minutes if int(r[0]) // 3_600_000 == int(datetime.fromisoformat(when).timestamp()) // 3600]
            assert rows, (name, when)
            assert (o, h, low, c) == (
                Decimal(rows[0][1]), max(Decimal(r[2]) for r in rows), min(Decimal(r[3]) for r in rows),
                Decimal(rows[-1][4]),
            ), (name, hour)  # fmt: skip


def test_the_crash_slice_says_where_each_index_came_from(crash_slice):
    _s, summary, _sink = crash_slice
    for symbol, name in zip(SYMBOLS, FILES, strict=True):
        if ON_TAPE:
            assert f"{symbol}: tape {name}" in summary.data_sources
        else:
            assert f"{symbol}: hourly path in the scenario" in summary.data_sources
            assert f"{name} not in the data directory" in summary.data_sources


def test_the_crash_slice_conserves_money_and_liquidates_on_every_market(crash_slice):
    _s, summary, sink = crash_slice
    state = state_from_rows(sink.rows)
    assert violations(state) == [] and state.digest() == summary.state_digest
    assert list(summary.markets) == SYMBOLS + OPTIONS
    # Cross margin: a liquidation closes the account's whole book, a leg on each market.
    assert summary.liquidations > 0
    legs = [summary.markets[symbol] for symbol in SYMBOLS]
    assert all(m.liquidations == summary.liquidations and Decimal(m.liquidated_notional) > 0 for m in legs)


def test_each_market_falls_as_its_own_data_did(crash_slice):
    # From 21:00 to the hour's low: BTC -11.1 %, ETH (Gemini spot) -5.0 %, SOL -28.2 %, XRP -52.8 %.
    # The bridge pins each bar's low (the minute's, or the hour's without the data) at one step.
    s, _summary, sink = crash_slice
    changes = index_changes(sink.rows)
    ticks = [m.tick_size for m in perpetuals(s)]
    drawdowns = []
    for market, (tick, open_, low) in enumerate(zip(ticks, OPEN_21, LOW_21, strict=True)):
        prices = [p for _t, p in changes[market]]
        assert changes[market][0] == (0, int(open_ / tick))  # the slice opens on the 21:00 bar's open
        assert min(prices) == int(low / tick)
        drawdowns.append(min(prices) * tick / open_ - 1)
    assert [round(float(d), 3) for d in drawdowns] == [-0.111, -0.050, -0.282, -0.528]
    btc, eth, sol, xrp = drawdowns
    assert xrp < sol < btc < eth


@NEEDS_DATA
def test_each_index_follows_its_own_minute_tape(crash_slice):
    # At every step of every minute the index is inside that minute's bar: pinned to its open at
    # the minute's first second and its close at the last, its high and low each hit at one
    # step. A minute missing from the Gemini file holds the previous close (ETH at 21:21).
    s, _summary, sink = crash_slice
    changes = index_changes(sink.rows)
    for market, (m, name) in enumerate(zip(perpetuals(s), FILES, strict=True)):
        tape = bars(name, m.tick_size)
        path, i, price = [], 0, None
        events = changes[market]
        for second in range(1500):
            while i < len(events) and events[i][0] <= second * 1_000_000_000:
                price = events[i][1]
                i += 1
            path.append(price)
        previous_close = None
        for minute in range(25):
            at = SLICE_START_MS + minute * 60_000
            seconds = path[minute * 60 : minute * 60 + 60]
            if at not in tape:
                assert set(seconds) == {previous_close}, (m.symbol, minute)
                continue
            o, h, low, c = tape[at]
            assert (seconds[0], seconds[-1], max(seconds), min(seconds)) == (o, c, h, low), (m.symbol, minute)
            previous_close = c
    assert SLICE_START_MS + 21 * 60_000 not in bars(FILES[1], Decimal("0.01"))  # the Gemini gap the check crosses


def test_a_seed_gives_the_same_log_twice():
    s = scenario("epoch=2025-10-10T21:15:00Z", "duration_s=240", "population.accounts=100")
    first, _ = run_in_memory(s, 3)
    second, _ = run_in_memory(s, 3)
    other, _ = run_in_memory(s, 4)
    assert first.head_hash == second.head_hash and first.state_digest == second.state_digest
    assert other.head_hash != first.head_hash


@pytest.mark.slow
def test_the_full_day_runs_conserves_and_liquidates_every_market(tmp_path):
    from clearing.apps.replay import fold
    from clearing.apps.run import run_scenario

    log = tmp_path / "multi.sqlite"
    summary = run_scenario(scenario(), 0, log)
    assert fold(log).summary == summary  # replays to the same summary (conservation is checked by the run)
    assert summary.sim_seconds == 86_400 and list(summary.markets) == SYMBOLS + OPTIONS
    assert summary.liquidations >= 50
    assert all(Decimal(summary.markets[symbol].liquidated_notional) > 0 for symbol in SYMBOLS)
    # Most liquidations come in the evening's crash, 20:30-21:30 UTC (seconds 73,800-77,400; the hourly
    # fallback puts the hour's lows at other minutes of it).
    with closing(sqlite3.connect(log)) as db:
        ((crash,),) = db.execute("SELECT count(*) FROM liquidations WHERE ts_ns BETWEEN 73800e9 AND 77400e9")
    assert crash >= 0.8 * summary.liquidations


def test_the_options_are_priced_on_the_real_surface_or_the_synthetic_one(crash_slice):
    _s, _summary, sink = crash_slice
    chain = "okx_btc_options_chain_1m_2025-10-10.csv"
    sources = {payload_dict(p)["source"] for _q, _t, k, _v, _c, p, _h in sink.rows if k == "volatility_surface_updated"}
    on_chain = (DATA / chain).is_file()
    assert sources == ({chain} if on_chain else {"synthetic"})
    marked = {payload_dict(p)["market"] for _q, _t, k, _v, _c, p, _h in sink.rows if k == "mark_price_updated"}
    assert set(range(4, 9)) <= marked  # every option has a model mark
