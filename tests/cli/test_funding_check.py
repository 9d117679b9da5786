"""`clearing funding LOG`: the run's funding rates beside the venue's real settlements, from the data directory."""

from __future__ import annotations

import json
import sqlite3

import pytest

from clearing.cli import main
from clearing.data.funding_rates import read_settlements
from clearing.errors import DataError
from tests.cli.test_cli import CRASH

EPOCH_MS = 1_709_251_200_000  # synthetic-crash's epoch, 2024-03-01T00:00:00Z
HEADER = "symbol,calc_time,funding_interval_hours,last_funding_rate\n"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    path = tmp_path_factory.mktemp("funding") / "f.sqlite"
    assert main(["run", CRASH, "--out", str(path), "--set", "duration_s=1900", "--set", "population.accounts=100",
                 "--set", "funding.interval_s=600", "--progress", "never"]) == 0  # fmt: skip
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        rates = conn.execute("SELECT ts_ns, rate_ppb FROM funding_rate_set ORDER BY seq").fetchall()
    return path, rates


def test_each_real_settlement_is_set_beside_the_runs_rate_at_that_time(run, tmp_path, capsys):
    path, rates = run
    assert [ts for ts, _ in rates] == [600 * 10**9, 1200 * 10**9, 1800 * 10**9]
    data = tmp_path / "data"
    data.mkdir()
    (data / "funding_rates_usdm_crashdays.csv").write_text(
        HEADER + f"ETHUSDT,{EPOCH_MS + 600_000},8,0.5\n"  # another symbol: not read
        f"BTCUSDT,{EPOCH_MS},8,0.00020000\n"  # at the start: it paid for the time before the run
        f"BTCUSDT,{EPOCH_MS + 600_003},8,0.00010000\n"  # published a few ms after the time, as Binance does
        f"BTCUSDT,{EPOCH_MS + 1_200_000},8,-0.00300000\n"
        f"BTCUSDT,{EPOCH_MS + 99_000_000},8,0.00010000\n"  # after the run
    )  # fmt: skip
    assert main(["--data-dir", str(data), "funding", str(path), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert [r["time_utc"] for r in shown["settlements"]] == ["2024-03-01T00:10:00Z", "2024-03-01T00:20:00Z"]
    assert [r["real_ppb"] for r in shown["settlements"]] == [100_000, -3_000_000]
    assert [r["simulated_ppb"] for r in shown["settlements"]] == [rates[0][1], rates[1][1]]
    assert shown["settlements"][1]["difference_ppb"] == rates[1][1] + 3_000_000
    summary = shown["summary"]
    assert (summary["symbol"], summary["compared"], summary["real_settlements"]) == ("BTCUSDT", 2, 2)
    assert summary["max_abs_difference_ppb"] == max(abs(rates[0][1] - 100_000), abs(rates[1][1] + 3_000_000))
    assert main(["--data-dir", str(data), "funding", str(path)]) == 0
    table = capsys.readouterr().out
    assert "-0.3000 %" in table and "BTCUSDT: 2 of 2 real settlements compared" in table


def test_a_bad_settlements_file_or_symbol_is_one_line_exit_2(run, tmp_path, capsys, monkeypatch):
    path, _ = run
    monkeypatch.delenv("CLEARING_DATA_DIR", raising=False)  # no other data directory to fall back on
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")  # nor ./data
    data = tmp_path / "data"
    data.mkdir()
    bad = data / "funding_rates_usdm_crashdays.csv"
    bad.write_text(HEADER + "BTCUSDT,12,8,lots\n")
    assert main(["--data-dir", str(data), "funding", str(path)]) == 2
    err = capsys.readouterr().err
    assert "funding_rates_usdm_crashdays.csv:2: last_funding_rate 'lots' is not a number" in err and err.count("\n") == 1
    assert main(["--data-dir", str(data), "funding", str(path), "--market", "NOPE"]) == 2
    assert "--market NOPE" in capsys.readouterr().err
    assert main(["--data-dir", str(tmp_path / "empty"), "funding", str(path)]) == 2
    assert "not found" in capsys.readouterr().err


def test_settlements_are_read_exactly_and_in_order(tmp_path):
    good = tmp_path / "f.csv"
    good.write_text(HEADER + "BTCUSDT,1000,8,-0.00300000\nBTCUSDT,2000,4,0.00012345\n")
    assert [s.rate_ppb for s in read_settlements("BTCUSDT", good)] == [-3_000_000, 123_450]
    assert read_settlements("SOLUSDT", good) == []
    for rows, message in (("BTCUSDT,2000,8,0.1\nBTCUSDT,1000,8,0.1\n", "is not after the previous"),
                          ("BTCUSDT,1000,0,0.1\n", "a positive interval"), ("BTCUSDT,1000,8\n", "expected 4 columns"),
                          ("BTCUSDT,x,8,0.1\n", "not a whole number")):  # fmt: skip
        good.write_text(HEADER + rows)
        with pytest.raises(DataError, match=message):
            read_settlements("BTCUSDT", good)
    good.write_text("a,b\n")
    with pytest.raises(DataError, match="expected the header"):
        read_settlements("BTCUSDT", good)
