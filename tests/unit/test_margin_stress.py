"""Time to liquidation along a stress path (`clearing margin --stress`), against the hand computation.

Long 3 BTC at 60,000 and 40 ETH at 3,000 (300,000 of notional) on 60,000 of cash; both fall
30 % in 60 minutes, 0.5 % of the notional a minute: equity is 60,000 - 1,500 t. Cross margin
(0.5 % of the falling notional) is breached when equity reaches 0.5 % of 300,000 (1 - 0.005 t),
first at minute 40; the grid (16 %) when 60,000 - 1,500 t < 48,000 (1 - 0.005 t), at minute 10.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import pytest

from clearing.apps.margin import load_book
from clearing.apps.margin.stress import depletion, distribution, isolated_cash, monte_carlo_path, shock_path, tape_path
from clearing.cli import main
from clearing.errors import ConfigError
from tests.conftest import ROOT

BOOK = ROOT / "scenarios" / "portfolios" / "directional-cross.toml"


def test_the_liquidation_minute_of_each_model_under_a_scripted_fall():
    book = load_book(BOOK)
    path = shock_path(book, ("BTCUSDT-PERP", "ETHUSDT-PERP"), -0.3, 60)
    cross, grid, span = (depletion(book, path, m) for m in ("cross", "grid", "span"))
    assert (cross.minute, grid.minute) == (40, 10)
    assert cross.equity.tolist() == [60_000_000_000 - 1_500_000_000 * t for t in range(41)]
    assert cross.per_minute == 1_500_000_000 and cross.per_percent == pytest.approx(3_000_000_000)
    assert 10 < span.minute < 40  # SPAN's 10 %: 60,000 - 1,500 t < 30,000 (1 - 0.005 t), at t = 23
    assert span.minute == 23


def test_isolated_sub_accounts_share_the_cash_by_maintenance_and_the_first_to_fail_counts():
    book = load_book(BOOK)
    shares = isolated_cash(book)
    assert sum(shares) == book.cash_minor and shares == (36_000_000_000, 24_000_000_000)  # 180,000 : 120,000
    d = depletion(book, shock_path(book, ("ETHUSDT-PERP",), -0.3, 60), "isolated")
    # ETH's sub-account: 24,000 - 120,000 x 0.005 t against 600 (1 - 0.005 t): first below at t = 40.
    assert d.minute == 40


def test_a_tape_path_keeps_the_last_close_through_a_quiet_minute(tmp_path):
    start = 1_709_251_200_000
    rows = ["ts,open,high,low,close,volume"] + [f"{start + 60_000 * i},{c},{c},{c},{c},1"
                                                 for i, c in [(0, 60000), (1, 59000), (3, 57000), (4, 56000)]]  # fmt: skip
    (tmp_path / "btc.csv").write_text("\n".join(rows) + "\n")
    book = load_book(BOOK, data_dir=tmp_path)
    path = tape_path(book, {"BTCUSDT-PERP": "btc.csv"}, datetime.fromtimestamp(start / 1000, UTC), 4)
    assert np.allclose(path.factors[0], [1, 59 / 60, 59 / 60, 57 / 60, 56 / 60])
    with pytest.raises(ConfigError, match="'BTCUSDT-Q' is not an underlying"):
        tape_path(book, {"BTCUSDT-Q": "btc.csv"}, datetime.fromtimestamp(start / 1000, UTC), 4)


def test_the_command_reports_each_models_liquidation_minute(tmp_path, capsys):
    assert main(["margin", str(BOOK), "--model", "cross", "--model", "grid", "--stress", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)["stress"]
    assert out["models"]["cross"]["liquidated_at_minute"] == 40 and out["models"]["grid"]["liquidated_at_minute"] == 10
    assert main(["margin", str(ROOT / "scenarios" / "portfolios" / "basis-trade.toml"), "--model", "cross", "--stress"]) == 2
    assert "needs a [stress] table" in capsys.readouterr().err


@pytest.mark.parametrize(("table", "message"), [
    ("minutes = 10\n", "give one of: files and start"),
    ('shock = -0.2\nminutes = 10\n', "a shock needs the underlyings"),
    ('files = { "BTCUSDT-PERP" = "x.csv" }\n', "a tape path needs its start"),
])  # fmt: skip
def test_a_bad_stress_table_is_refused_in_one_line(tmp_path, table, message):
    path = tmp_path / "b.toml"
    path.write_text(f'scenario = "{(ROOT / "scenarios" / "option-portfolios.toml").as_posix()}"\n[[positions]]\n'
                    f'symbol = "BTCUSDT-PERP"\nquantity = "1"\n[stress]\n{table}')  # fmt: skip
    with pytest.raises(ConfigError, match=message):
        load_book(path)


def _long_btc_book(tmp_path, stress, cash="20000", vol=2.0):
    # Long 3 BTC at 60,000 on `cash` under cross margin's 0.5 %, with a Monte Carlo model of BTC alone.
    path = tmp_path / "long.toml"
    path.write_text(f'scenario = "{(ROOT / "scenarios" / "option-portfolios.toml").as_posix()}"\ncash = "{cash}"\n'
                    '[[positions]]\nsymbol = "BTCUSDT-PERP"\nquantity = "3"\n'
                    f'[monte_carlo]\nunderlyings = ["BTCUSDT-PERP"]\nvols = [{vol}]\ncorrelation = [[1.0]]\n'
                    f"[stress]\n{stress}")  # fmt: skip
    return load_book(path)


def test_monte_carlo_paths_liquidate_a_long_at_the_first_minute_below_its_hand_computed_price(tmp_path):
    # Equity 10,000 + 180,000 (f - 1) falls below 0.5 % of 180,000 f when f < 170,000 / 179,100: each path's
    # liquidation minute is its first passage below that factor (paths crossing within 1e-6 of it left out).
    book = _long_btc_book(tmp_path, "paths = 200\nminutes = 300\n", cash="10000")
    path = monte_carlo_path(book, 200, 300, seed=7)
    d = distribution(book, path, "cross")
    f = path.factors[0]
    below = f < 170_000 / 179_100
    expected = np.where(below.any(axis=1), below.argmax(axis=1), -1)
    near = (np.abs(f - 170_000 / 179_100) < 1e-6).any(axis=1)
    assert 10 <= (expected >= 0).sum() <= 190  # the test has both kinds of path
    assert (d.liquidated_at[~near] == expected[~near]).all()
    assert d.liquidated_by()[-1] == pytest.approx((d.liquidated_at >= 0).mean())
    assert d.quantile(0.01) == int(np.sort(d.liquidated_at[d.liquidated_at >= 0])[1])  # the 2nd of 200 paths is 1 %
    assert d.quantile(0.99) is None  # fewer than 99 % of the paths are liquidated


def test_monte_carlo_paths_are_the_model_s_correlated_minute_returns_from_the_seed():
    book = load_book(BOOK)._replace(stress=None)  # BTC and ETH: vols 0.6 and 0.75, correlation 0.85
    a, b, c = (monte_carlo_path(book, 4000, 30, seed) for seed in (1, 1, 2))
    assert all(np.array_equal(a.factors[u], b.factors[u]) for u in a.factors)
    assert not np.array_equal(a.factors[0], c.factors[0])
    steps = {u: np.diff(np.log(f), axis=1).ravel() for u, f in a.factors.items()}
    minute = 1 / (365 * 24 * 60)
    assert np.std(steps[book.symbols.index("BTCUSDT-PERP")]) == pytest.approx(0.6 * minute**0.5, rel=0.02)
    btc, eth = (book.symbols.index(s) for s in ("BTCUSDT-PERP", "ETHUSDT-PERP"))
    assert sorted(steps) == [btc, eth]
    assert np.corrcoef(steps[btc], steps[eth])[0, 1] == pytest.approx(0.85, abs=0.01)
    assert all((f[:, 0] == 1).all() for f in a.factors.values())


def test_the_command_reports_the_distribution_over_monte_carlo_paths(tmp_path, capsys):
    book = _long_btc_book(tmp_path, "paths = 50\nminutes = 120\n")
    argv = ["margin", str(book.path), "--model", "cross", "--model", "isolated", "--stress", "--json", "--seed", "3"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)["stress"]
    assert out["paths"] == 50 and out["minutes"] == 120 and "seed 3" in out["path"]
    cross = out["models"]["cross"]
    assert len(cross["liquidated_share_by_minute"]) == 121 and cross["liquidated_share_by_minute"][-1] == cross["liquidated_share"]
    assert cross == out["models"]["isolated"]  # one position: its isolated sub-account is the cross account
    assert main(argv) == 0 and json.loads(capsys.readouterr().out)["stress"] == out
    no_mc = tmp_path / "no-mc.toml"
    no_mc.write_text(book.path.read_text().split("[monte_carlo]")[0] + "[stress]\npaths = 50\n")
    assert main(["margin", str(no_mc), "--model", "cross", "--stress"]) == 2
    assert "needs a [monte_carlo] table" in capsys.readouterr().err


def test_an_isolated_long_option_is_given_its_premium_and_never_liquidated(tmp_path):
    path = tmp_path / "put.toml"
    path.write_text(f'scenario = "{(ROOT / "scenarios" / "option-portfolios.toml").as_posix()}"\ncash = "5000"\n'
                    '[[positions]]\nsymbol = "BTCUSDT-PERP"\nquantity = "1"\n'
                    '[[positions]]\nsymbol = "BTC-7D-55000-P"\nquantity = "1"\n')  # fmt: skip
    book = load_book(path)
    put = book.symbols.index("BTC-7D-55000-P")
    premium = book.prices_ticks[put] * book.params.markets[put].unit_value  # one lot is 0.01 BTC: 100 lots
    shares = isolated_cash(book)
    assert sum(shares) == book.cash_minor and shares[1] == 100 * premium  # the perpetual's maintenance takes the rest
    d = depletion(book, shock_path(book, ("BTCUSDT-PERP",), 0.3, 60), "isolated")  # the put loses as BTC rises
    assert d.minute is None
