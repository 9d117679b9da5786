"""Every output names every market by its symbol: summary, report, cascades, diff and the SQL views of a two-market log."""

import json
import re
import sqlite3
from decimal import Decimal

import pytest

from clearing.cli import main
from tests.cli.test_cli import CRASH

BTC, ETH = "BTCUSDT-PERP", "ETHUSDT-PERP"
# The synthetic crash with an ETH perpetual beside BTC, both falling; each trader long one, short the other.
TWO_MARKETS = [
    "--set", "duration_s=1500", "--set", "population.accounts=300", "--set", "checkpoint_interval_s=300",
    "--set", "price.shocks=[{start_s=600, duration_s=300, change=-0.3}]",
    "--set", 'markets=[{symbol="ETHUSDT-PERP", tick_size="0.01", lot_size="0.01", price={initial="3000", '
             "volatility=0.1, shocks=[{start_s=600, duration_s=300, change=-0.25}]}}]",
    "--set", "population.legs=[1.0, -1.0]", "--set", "funding.interval_s=600",
]  # fmt: skip


def run(path, mode, capsys):
    assert main(["run", CRASH, "--seed", "6", "--out", str(path), *TWO_MARKETS, "--set", f"population.margin_mode={mode}",
                 "--json"]) == 0  # fmt: skip
    return json.loads(capsys.readouterr().out)


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    out = tmp_path_factory.mktemp("markets")
    isolated, cross = out / "isolated.sqlite", out / "cross.sqlite"
    for path, mode in ((isolated, "isolated"), (cross, "cross")):
        assert main(["run", CRASH, "--seed", "6", "--out", str(path), *TWO_MARKETS, "--set",
                     f"population.margin_mode={mode}", "--progress", "never"]) == 0  # fmt: skip
    return isolated, cross


def output(capsys, *args):
    capsys.readouterr()
    assert main(list(args)) == 0
    return capsys.readouterr().out


def test_the_summary_has_each_market_by_symbol_with_its_own_numbers(logs, tmp_path, capsys):
    isolated, _cross = logs
    live = run(tmp_path / "again.sqlite", "isolated", capsys)
    markets = live["markets"]
    assert list(markets) == [BTC, ETH] and [m["market"] for m in markets.values()] == [0, 1]
    btc, eth = markets[BTC], markets[ETH]
    for key in ("mark", "index", "last_trade", "open_interest", "open_interest_notional", "liquidations",
                "liquidated_notional", "funding_paid"):  # fmt: skip
        assert btc[key] != eth[key], key
    assert Decimal(eth["mark"]).as_tuple().exponent == -2 and Decimal(btc["mark"]).as_tuple().exponent == -1
    # Isolated legs: each liquidation closes one market; the markets add up to the totals.
    assert btc["liquidations"] + eth["liquidations"] == live["liquidations"] > 0
    assert Decimal(btc["liquidated_notional"]) + Decimal(eth["liquidated_notional"]) == Decimal(live["liquidated_notional"])
    # The totals are unchanged by the markets: the same keys as before, and the replay prints the same.
    replayed = json.loads(output(capsys, "replay", str(isolated), "--json"))
    assert {k: v for k, v in replayed.items() if not k.startswith("checkpoints_")} == {
        k: v for k, v in live.items() if k != "log"
    }
    text = output(capsys, "replay", str(isolated))
    header = next(line for line in text.splitlines() if line.startswith("market "))
    assert header.split() == ["market", BTC, ETH]
    row = next(line for line in text.splitlines() if line.startswith("  liquidations "))
    assert row.split()[1:] == [str(btc["liquidations"]), str(eth["liquidations"])]


def test_the_report_has_a_panel_set_per_symbol_and_each_market_s_liquidations(logs, tmp_path, capsys):
    isolated, _cross = logs
    out = tmp_path / "r.html"
    shown = json.loads(output(capsys, "report", str(isolated), "--out", str(out), "--json"))
    summary = json.loads(output(capsys, "replay", str(isolated), "--json"))
    assert list(shown["markets"]) == [BTC, ETH]
    for symbol, m in shown["markets"].items():
        expected = summary["markets"][symbol]
        assert (m["liquidations"], m["liquidated_notional"], m["mark"]) == (
            expected["liquidations"], expected["liquidated_notional"], expected["mark"])  # fmt: skip
    page = out.read_text()
    # The interactive panels' titles (tests/cli/test_report_browser.py checks that they draw): prices and basis
    # per symbol, open interest with a line per symbol, liquidated notional per step by market.
    titles = re.findall(r'"text":"([^"]*)"', page)
    for symbol in (BTC, ETH):
        assert f"Prices: {symbol} (index, oracle, mark, last trade)" in titles and f"Basis to the index: {symbol}" in titles
    assert "Liquidated notional per minute, by market" in titles and "Open interest: long notional at the mark" in titles
    assert re.findall(r'"name":"((?:BTC|ETH)USDT-PERP)"', page).count(ETH) == 3  # oracle age, by market, open interest
    assert "<h2>Markets</h2>" in page and f"<th>{BTC}</th><th>{ETH}</th>" in page
    text = output(capsys, "report", str(isolated), "--out", str(out), "--overwrite")
    for symbol in (BTC, ETH):
        line = next(line for line in text.splitlines() if line.startswith(symbol))
        assert f"{summary['markets'][symbol]['liquidations']} liquidations" in line


def test_cascades_attribute_prices_per_symbol_and_label_the_graph_with_them(logs, tmp_path, capsys):
    isolated, _cross = logs
    shown = json.loads(output(capsys, "cascades", str(isolated), "--json"))
    assert list(shown["markets"]) == [BTC, ETH]
    assert [(m["market"], m["symbol"]) for m in shown["price_moves"]] == [(0, BTC), (1, ETH)]
    assert shown["markets"][BTC]["mark_fall_ticks"] != shown["markets"][ETH]["mark_fall_ticks"]
    # Ticks of two markets do not add up: the flat price attribution is null with several markets.
    assert shown["totals"]["mark_fall_ticks"] is None and shown["totals"]["liquidations"] > 0
    by_symbol = {s: sum(1 for x in shown["liquidations"] if x["symbol"] == s) for s in (BTC, ETH)}
    assert by_symbol[BTC] > 0 and by_symbol[ETH] > 0 and sum(by_symbol.values()) == len(shown["liquidations"])
    dot = tmp_path / "c.dot"
    text = output(capsys, "cascades", str(isolated), "--dot", str(dot))
    for symbol in (BTC, ETH):
        assert f"mark_fall ({symbol})" in text and f"liquidation_fall_share ({symbol})" in text
        assert re.search(rf'label="\d+\\naccount \d+\\n{symbol}\\ngen 0', dot.read_text())
    assert "(market " not in text


def test_diff_compares_each_market_by_symbol(logs, capsys):
    isolated, cross = logs
    shown = json.loads(output(capsys, "diff", str(isolated), str(cross), "--json"))
    assert "markets" not in shown["metrics"] and list(shown["markets"]) == [BTC, ETH]
    a = json.loads(output(capsys, "replay", str(isolated), "--json"))["markets"]
    b = json.loads(output(capsys, "replay", str(cross), "--json"))["markets"]
    for symbol in (BTC, ETH):
        row = shown["markets"][symbol]["liquidations"]
        assert (row["a"], row["b"], row["delta"]) == (a[symbol]["liquidations"], b[symbol]["liquidations"],
                                                      b[symbol]["liquidations"] - a[symbol]["liquidations"])  # fmt: skip
        oi = shown["markets"][symbol]["open_interest"]
        assert Decimal(oi["delta"]) == Decimal(b[symbol]["open_interest"]) - Decimal(a[symbol]["open_interest"])
    # The isolated book liquidates on both markets; cross margin nets the legs.
    assert shown["markets"][ETH]["liquidations"]["delta"] != shown["markets"][BTC]["liquidations"]["delta"]
    text = output(capsys, "diff", str(isolated), str(cross))
    assert f"market {BTC}" in text and f"market {ETH}" in text


def test_the_sql_views_carry_the_symbol_and_list_the_markets(logs, capsys):
    isolated, _cross = logs
    summary = json.loads(output(capsys, "replay", str(isolated), "--json"))["markets"]
    conn = sqlite3.connect(isolated)
    listed = conn.execute("SELECT market, symbol, tick_size, lot_size, quote_decimals FROM markets ORDER BY market").fetchall()
    assert listed == [(0, BTC, "0.1", "0.001", 6), (1, ETH, "0.01", "0.01", 6)]
    per_symbol = dict(conn.execute("SELECT symbol, count(*) FROM liquidations GROUP BY symbol").fetchall())
    assert per_symbol == {s: m["liquidations"] for s, m in summary.items()}
    assert conn.execute("SELECT count(*) FROM trades WHERE symbol IS NULL").fetchone() == (0,)
    pairs = set(conn.execute("SELECT DISTINCT market, symbol FROM index_prices").fetchall())
    assert pairs == {(0, BTC), (1, ETH)}
    columns = [r[1] for r in conn.execute("PRAGMA table_info(oracle_updates)")]
    assert columns[columns.index("market") + 1] == "symbol"
    last = conn.execute("SELECT price_ticks FROM mark_prices WHERE symbol = ? ORDER BY seq DESC LIMIT 1", (ETH,)).fetchone()
    assert str(Decimal(last[0]) * Decimal("0.01")) == summary[ETH]["mark"]
