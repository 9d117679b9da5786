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
from clearing.apps.margin.stress import depletion, isolated_cash, shock_path, tape_path
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
    ("minutes = 10\n", "give either files and start"),
    ('shock = -0.2\nminutes = 10\n', "a shock needs the underlyings"),
    ('files = { "BTCUSDT-PERP" = "x.csv" }\n', "a tape path needs its start"),
])  # fmt: skip
def test_a_bad_stress_table_is_refused_in_one_line(tmp_path, table, message):
    path = tmp_path / "b.toml"
    path.write_text(f'scenario = "{(ROOT / "scenarios" / "option-portfolios.toml").as_posix()}"\n[[positions]]\n'
                    f'symbol = "BTCUSDT-PERP"\nquantity = "1"\n[stress]\n{table}')  # fmt: skip
    with pytest.raises(ConfigError, match=message):
        load_book(path)
