"""`clearing export` and the DataFrame API (`clearing.open_log`), as a notebook user meets them."""

import json
import sqlite3
from decimal import Decimal

import duckdb
import msgspec
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import clearing
from clearing import events as ev
from clearing.apps import frames
from clearing.cli import main
from clearing.errors import ConfigError
from clearing.events import fields
from tests.cli.test_cli import CRASH, SMALL
from tests.conftest import bumped, kind_code, tampering


@pytest.fixture(scope="module")
def log(tmp_path_factory):
    path = tmp_path_factory.mktemp("export") / "small.sqlite"
    assert main(["run", CRASH, "--seed", "4", "--out", str(path), *SMALL]) == 0
    return path


@pytest.fixture(scope="module")
def exported(log, tmp_path_factory):
    out = tmp_path_factory.mktemp("parquet") / "small"
    assert main(["export", str(log), "--to", str(out), "--progress", "never"]) == 0
    return out


def test_every_integer_field_of_every_kind_has_a_unit():
    # A new field must be given its meaning here (money, price, size, time) or kept as stored on purpose.
    known = fields.MONEY | fields.DURATIONS | fields.BOOLEANS | fields.AS_STORED | set(fields.INSTANTS) | {"ts_ns", "lots"}
    unclassified = sorted(
        f"{kind}.{f.name}" for kind, cls in ev.KINDS.items() for f in msgspec.structs.fields(cls)
        if f.type in (int, bool) and f.name not in known and not f.name.endswith(("_ticks", "_ppm", "_ppb"))
    )
    assert unclassified == []


def test_export_writes_each_view_once_and_duckdb_reads_the_same_counts_and_sums(log, exported):
    manifest = json.loads((exported / "_export.json").read_text())
    with sqlite3.connect(log) as db:
        counts = dict(db.execute("SELECT kind, count(*) FROM event_rows GROUP BY kind").fetchall())
        notional, fees, lots = db.execute("SELECT sum(notional), sum(fee), sum(lots) FROM liquidations").fetchone()
        trade_fees = db.execute("SELECT sum(buyer_fee) + sum(seller_fee), count(*) FROM trades").fetchone()
        run_id = db.execute("SELECT run_id FROM runs").fetchone()[0]
    assert manifest["run_id"] == run_id and "trades" not in manifest["views"]  # an alias is not written twice
    assert {v: n for v, n in manifest["views"].items() if v in ev.KINDS} == counts  # every kind with rows, no other
    assert manifest["views"]["markets"] == 1 and (exported / "run.parquet").exists()
    for view, n in manifest["views"].items():
        assert duckdb.sql(f"SELECT count(*) FROM '{exported / view}.parquet'").fetchall()[0][0] == n
    got = duckdb.sql(f"SELECT sum(notional), sum(fee), sum(quantity) FROM '{exported}/liquidation_completed.parquet'")
    assert got.fetchall()[0] == (Decimal(notional).scaleb(-6), Decimal(fees).scaleb(-6), Decimal(lots).scaleb(-3))
    got = duckdb.sql(f"SELECT sum(buyer_fee) + sum(seller_fee), count(*) FROM '{exported}/trade_executed.parquet'")
    assert got.fetchall()[0] == (Decimal(trade_fees[0]).scaleb(-6), trade_fees[1])
    # polars and pandas read the same files, with UTC times and exact decimals.
    trades = pl.read_parquet(exported / "trade_executed.parquet")
    assert trades.schema["price"] == pl.Decimal(38, 1) and str(trades.schema["time_utc"].time_zone) == "UTC"
    assert len(pd.read_parquet(exported / "trade_executed.parquet")) == trade_fees[1]


def test_export_refuses_to_overwrite_and_writes_nothing_from_a_tampered_log(log, exported, tmp_path, capsys):
    assert main(["export", str(log), "--to", str(exported)]) == 2
    assert "exists; pass --overwrite" in capsys.readouterr().err
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    assert main(["export", str(log), "--to", str(tmp_path / "mine"), "--overwrite"]) == 2
    assert "not an earlier export" in capsys.readouterr().err and (tmp_path / "mine" / "notes.txt").exists()
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(log.read_bytes())
    with tampering(bad) as conn:
        conn.execute(f"UPDATE events SET payload = {bumped('trade_executed', 'lots')} WHERE kind = {kind_code('trade_executed')}")
    assert main(["export", str(bad), "--to", str(tmp_path / "out")]) == 1
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob("*.partial"))


def test_frames_turn_ticks_lots_money_and_times_into_what_they_mean(log):
    with clearing.open_log(log) as run:
        trades, raw = run.frame("trades"), run.frame("trades", raw=True)
        assert str(trades["price"].dtype) == "decimal128(38, 1)[pyarrow]" and str(trades["time_utc"].dtype) == "datetime64[ns, UTC]"
        assert list(trades["price"]) == [Decimal(t) * Decimal("0.1") for t in raw["price_ticks"]]
        assert list(trades["quantity"]) == [Decimal(n) * Decimal("0.001") for n in raw["lots"]]
        assert list(trades["buyer_fee"]) == [Decimal(f).scaleb(-6) for f in raw["buyer_fee"]]
        epoch = pd.Timestamp(run.header.epoch)
        assert (trades["time_utc"] == epoch + pd.to_timedelta(raw["ts_ns"], unit="ns")).all()
        assert trades["liquidation"].dtype == bool and trades["liquidation"].sum() == raw["liquidation"].sum()
        assert run.frame("trades", exact=False)["price"].dtype == "float64"
        oracle = run.frame("oracle_updates")
        assert (oracle["time_utc"] - oracle["source_utc"] == oracle["lag"]).all() and oracle["lag"].min() >= pd.Timedelta(0)
        later = run.frame("trades", since_ns=600 * 10**9)
        assert len(later) == (raw["ts_ns"] >= 600 * 10**9).sum() > 0
        assert run.sql("SELECT count(*) AS n FROM trades")["n"][0] == len(trades)
        state = run.state(step_s=300)
        assert list(state.columns[:3]) == ["time_utc", "market", "index"] and state["time_utc"].is_monotonic_increasing
        assert state["liquidations"].iloc[-1] == len(run.frame("liquidations"))
        with pytest.raises(clearing.errors.EventLogError, match="no view named 'nope'"):
            run.frame("nope")


def test_inverse_fees_are_in_the_settlement_coin_and_collateral_in_its_asset():
    units = frames._Units(tick={0: Decimal("0.5")}, lot={0: Decimal(1)}, quote=Decimal("0.000001"),
                          settled={0: Decimal("0.00000001")}, asset={0: Decimal("0.00000001")})  # fmt: skip
    table = pa.table({"ts_ns": [5], "market": [0], "price_ticks": [3], "lots": [2], "buyer_fee": [150], "notional": [7]})
    out = frames.convert("trade_executed", table, units, epoch_ns=0).to_pylist()[0]
    assert out["price"] == Decimal("1.5") and out["quantity"] == 2 and out["buyer_fee"] == Decimal("0.0000015")
    assert out["notional"] == Decimal("0.000007") and str(out["time_utc"]) == "1970-01-01 00:00:00.000000005+00:00"
    seized = pa.table({"ts_ns": [0], "asset": [0], "amount": [-3], "value": [9]})
    out = frames.convert("collateral_seized", seized, units, epoch_ns=0).to_pylist()[0]
    assert out["amount"] == Decimal("-0.00000003") and out["value"] == Decimal("0.000009")
    huge = pa.table({"market": [0], "price_ticks": [2**62]})  # beyond int64 once scaled: still exact
    assert frames.convert(None, huge, units, 0).to_pylist()[0]["price"] == Decimal(2**62) * Decimal("0.5")


def test_without_pandas_the_api_says_what_to_install(monkeypatch, log):
    monkeypatch.setitem(__import__("sys").modules, "pandas", None)
    with pytest.raises(ConfigError, match=r"pip install 'clearing-sim\[frames\]'"):
        clearing.open_log(log).frame("trades")


def test_the_api_page_examples_run(tmp_path, monkeypatch):
    # docs/api.md's first two Python blocks, run as written from a checkout's root (scenarios/, replays/).
    import re

    from tests.conftest import ROOT

    text = (ROOT / "docs" / "api.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    (tmp_path / "scenarios").symlink_to(ROOT / "scenarios")
    (tmp_path / "replays").mkdir()
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for block in blocks[:2]:
        exec(compile(block, "docs/api.md", "exec"), namespace)
    assert namespace["liquidations"]["notional"].sum() > 0 and len(namespace["path"]) > 0
    assert namespace["per_minute"].index.tz is not None and namespace["counts"]["trade_executed"] > 0


def test_analysis_views_agree_with_the_replayed_state_and_the_summary(log):
    replayed = clearing.replay(log)
    state, summary = replayed.state, replayed.summary
    with sqlite3.connect(log) as db:
        balance, low = db.execute("SELECT (SELECT balance FROM insurance_fund_path ORDER BY seq DESC LIMIT 1), "
                                  "min(balance) FROM insurance_fund_path").fetchone()
        assert balance == state.insurance_fund and low == state.insurance_fund_min
        n, notional = db.execute("SELECT sum(liquidations), sum(notional) FROM liquidations_per_minute").fetchone()
        assert (n, notional) == (state.liquidations, state.liquidated_notional)
        peak = db.execute("SELECT minute_utc FROM liquidations_per_minute ORDER BY notional DESC LIMIT 1").fetchone()[0]
        assert peak.startswith(run_date(db)) and peak.endswith(":00Z")
        mean_ns, max_ns = db.execute("SELECT avg(oracle_age_ns), max(oracle_age_ns) FROM liquidation_oracle_lag").fetchone()
        assert max_ns / 1e9 == summary.oracle_lag_at_liquidation_max_s
        assert mean_ns / 1e9 == pytest.approx(summary.oracle_lag_at_liquidation_mean_s, abs=1e-9)  # float mean of ints
        assert db.execute("SELECT count(*) FROM liquidation_oracle_lag").fetchone()[0] == state.liquidations
        rows = db.execute("SELECT time_utc, price, price_ticks, quantity, lots, buyer_fee_quote, buyer_fee FROM trades").fetchall()
        assert all(p == t / 10 and q == n / 1000 and f == fee / 1e6 for _, p, t, q, n, f, fee in rows)
    with clearing.open_log(log) as run:
        frame = run.frame("trades")
        assert list(frame["time_utc"].dt.strftime("%Y-%m-%dT%H:%M:%S.%f").str[:23] + "Z") == [r[0] for r in rows]
        assert "buyer_fee_quote" not in frame and "price_ticks" not in frame  # the exact decimals replace them
        minutes = run.frame("liquidations_per_minute")
        assert str(minutes["minute_utc"].dtype) == "datetime64[ns, UTC]" and minutes["notional"].sum() == Decimal(notional).scaleb(-6)
        fund = run.frame("insurance_fund_path")
        assert fund["balance"].iloc[-1] == Decimal(balance).scaleb(-6) and fund["amount"].sum() == fund["balance"].iloc[-1]


def run_date(db):
    return db.execute("SELECT substr(epoch_utc, 1, 10) FROM runs").fetchone()[0]


def test_funding_settlements_balance_per_settlement(tmp_path):
    path = tmp_path / "funding.sqlite"
    assert main(["run", CRASH, "--seed", "1", "--out", str(path), *SMALL, "--set", "funding.interval_s=300"]) == 0
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT ts_ns, accounts, received, paid, rate_ppb, received_quote FROM funding_settlements").fetchall()
        paid = dict(db.execute("SELECT ts_ns, count(*) FROM funding_paid GROUP BY ts_ns").fetchall())
    assert len(rows) == len(paid) >= 3 and all(r[0] % (300 * 10**9) == 0 for r in rows)  # every 5 minutes
    assert all(received == paid_ and accounts > 0 and rate is not None and q == received / 1e6
               for _, accounts, received, paid_, rate, q in rows)  # fmt: skip


def test_serve_opens_the_log_read_only_in_datasette_with_its_units_and_queries(log, tmp_path):
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    meta_file = tmp_path / "meta.json"
    assert main(["serve", str(log), "--metadata", str(meta_file)]) == 0
    meta = json.loads(meta_file.read_text())["databases"][log.stem]
    assert {"trades", "insurance_fund_path", "liquidations_per_minute", "funding_settlements"} <= set(meta["tables"])
    assert "quote units" in meta["tables"]["liquidations"]["columns"]["notional_quote"]
    assert len(meta["queries"]) == 5
    with socket.socket() as s:  # a free port on this machine
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    before = log.read_bytes()
    errors = (tmp_path / "serve.err").open("wb")
    server = subprocess.Popen([sys.executable, "-m", "clearing", "serve", str(log), "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=errors)  # fmt: skip
    base = f"http://127.0.0.1:{port}/{log.stem}"

    def get(path):
        with urllib.request.urlopen(f"{base}{path}", timeout=10) as response:
            return json.loads(response.read())

    try:
        for _ in range(120):
            try:
                rows = get("/liquidations_per_minute.json?_shape=array")
                break
            except OSError:
                time.sleep(0.25)
        else:
            pytest.fail(f"datasette did not start: {(tmp_path / 'serve.err').read_text()}")
        with sqlite3.connect(log) as db:
            assert sum(r["liquidations"] for r in rows) == db.execute("SELECT count(*) FROM liquidations").fetchone()[0]
        peak = get("/peak_liquidation_minutes.json?_shape=array")
        assert peak[0]["minute_utc"] == max(rows, key=lambda r: r["notional"])["minute_utc"]
        cascade = get("/liquidations_downstream_of_liquidation_fills.json?_shape=array")[0]
        assert 0 <= cascade["breaches_after_liquidation_fills"] <= cascade["breaches"]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/databases.json", timeout=10) as response:
            assert json.loads(response.read())[0]["is_mutable"] is False
    finally:
        server.terminate()
        server.wait(timeout=20)
        errors.close()
    assert log.read_bytes() == before  # read-only: not a byte changed
    assert main(["serve", str(log), "--port", "0"]) == 2
