"""`clearing margin`: books read and refused with clear messages, each model's requirement, VaR/ES and attribution.

The engine models are checked against hand numbers (a long perpetual book under the 0.5 %
maintenance rate, SPAN's 10 % scan range and Deribit's 16 % grid), VaR and ES against their
definitions on written scenarios, Monte Carlo against the lognormal quantile, and the Euler
components against their sum (they must add up to VaR and ES, to 10^-9 relative).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import norm

from clearing.apps.margin import analyse, as_dict, load_book
from clearing.apps.margin.engine import engine_requirement
from clearing.apps.margin.var import monte_carlo_returns, position_pnl, tail_measure
from clearing.cli import main
from clearing.errors import ConfigError, DataError
from tests.builders import write_minute_bars
from tests.conftest import ROOT

SCENARIO = (ROOT / "scenarios" / "option-portfolios.toml").as_posix()
SHIPPED = ROOT / "scenarios" / "portfolios"
START_MS = 1_709_251_200_000  # 2024-03-01, the scenario's epoch


def _book(tmp_path: Path, body: str, name: str = "book") -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(f'scenario = "{SCENARIO}"\n' + body)
    return path


def _bars(path: Path, closes: list[float]) -> None:
    write_minute_bars(path, START_MS, closes)


DIRECTIONAL = """
cash = "60000"
[[positions]]
symbol = "BTCUSDT-PERP"
quantity = "3"
[[positions]]
symbol = "ETHUSDT-PERP"
quantity = "40"
"""


def test_the_engine_models_of_a_long_perpetual_book_are_the_hand_numbers(tmp_path):
    book = load_book(_book(tmp_path, DIRECTIONAL))
    notional = 3 * 60_000 + 40 * 3_000  # quote
    got = {m: engine_requirement(book, m) for m in ("isolated", "cross", "span", "grid")}
    scale = 10**6
    assert got["isolated"].maintenance == got["cross"].maintenance == notional * 5 * scale // 1000  # 0.5 %
    assert got["span"].maintenance == notional * scale // 10  # the 10 % scan range, each market alone
    assert got["grid"].maintenance == notional * 16 * scale // 100  # -16 %
    assert got["grid"].initial == got["grid"].maintenance * 10 // 8  # / mm_factor 0.8
    assert "price -16.0%" in got["grid"].worst and "-1.00 scan ranges" in got["span"].worst


def test_marginal_requirements_are_the_requirement_less_the_book_without_the_position(tmp_path):
    book = load_book(_book(tmp_path, DIRECTIONAL))
    a = analyse(book, ("isolated", "grid"))
    assert a.marginal["grid"] == [3 * 60_000 * 16 * 10**4, 40 * 3_000 * 16 * 10**4]
    assert sum(a.marginal["isolated"]) == a.engine["isolated"].maintenance


def test_var_and_es_are_their_definitions_and_the_components_add_up():
    rng = np.random.default_rng(3)
    pnl = rng.normal(0, 100, (1000, 4)) + np.array([0, 5, -5, 10])
    t = tail_measure(pnl, 0.99)
    losses = np.sort(-pnl.sum(axis=1))[::-1]
    assert t.tail == 10 and t.var == pytest.approx(losses[9], rel=1e-12) and t.es == pytest.approx(losses[:10].mean(), rel=1e-12)
    assert abs(t.es_components.sum() - t.es) <= 1e-9 * abs(t.es) and abs(t.var_components.sum() - t.var) <= 1e-9 * abs(t.var)
    for i in range(4):
        rest = np.sort(-(pnl.sum(axis=1) - pnl[:, i]))[::-1]
        assert t.es_incremental[i] == pytest.approx(t.es - rest[:10].mean(), rel=1e-9)
    one = tail_measure(pnl[:, :1], 0.99)  # a single position: incremental and component are the measure
    assert one.es_incremental[0] == pytest.approx(one.es) and one.es_components[0] == pytest.approx(one.es)


def test_historical_var_reads_the_joint_returns_of_the_books_files(tmp_path):
    _bars(tmp_path / "btc.csv", [60_000 * (1 + 0.01 * math.sin(i)) for i in range(301)])
    path = _book(tmp_path, DIRECTIONAL.replace('quantity = "40"', 'quantity = "0"') + """
[history]
files = { "BTCUSDT-PERP" = ["btc.csv"] }
""")  # fmt: skip
    book = load_book(path, data_dir=tmp_path)
    a = analyse(book, ("var",), confidence=0.95)
    closes = np.array([round(60_000 * (1 + 0.01 * math.sin(i)) * 10) for i in range(301)])  # ticks of 0.1
    r = ((closes[1:] - closes[:-1]) * 10**6 // closes[:-1]) / 1e6
    losses = np.sort(-(3 * 60_000 * 10**6 * r))[::-1]
    k = math.ceil(0.05 * 300)
    assert a.tails["historical"].es == pytest.approx(losses[:k].mean(), rel=1e-12)
    assert a.tails["historical"].var == pytest.approx(losses[k - 1], rel=1e-12)


def test_monte_carlo_var_of_a_long_is_the_lognormal_quantile(tmp_path):
    path = _book(tmp_path, DIRECTIONAL.replace('quantity = "40"', 'quantity = "0"') + """
[monte_carlo]
underlyings = ["BTCUSDT-PERP"]
vols = [0.8]
correlation = [[1.0]]
paths = 200000
horizon_minutes = 1440
""")  # fmt: skip
    book = load_book(path)
    t = tail_measure(position_pnl(book, monte_carlo_returns(book, seed=1)), 0.99)
    h = 1 / 365
    quantile = 1 - math.exp(0.8 * math.sqrt(h) * norm.ppf(0.01) - 0.32 * h)
    assert t.var == pytest.approx(3 * 60_000 * 10**6 * quantile, rel=0.02)


def test_monte_carlo_keeps_the_correlation(tmp_path):
    path = _book(tmp_path, DIRECTIONAL + """
[monte_carlo]
underlyings = ["BTCUSDT-PERP", "ETHUSDT-PERP"]
vols = [0.6, 0.75]
correlation = [[1.0, 0.85], [0.85, 1.0]]
paths = 50000
""")  # fmt: skip
    r = monte_carlo_returns(load_book(path), seed=2)
    assert np.corrcoef(np.log1p(r[0]), np.log1p(r[1]))[0, 1] == pytest.approx(0.85, abs=0.01)


@pytest.mark.parametrize(("body", "message"), [
    ('[[positions]]\nsymbol = "DOGE"\nquantity = "1"\n', "positions.0: 'DOGE' is not a market"),
    ('[[positions]]\nsymbol = "BTCUSDT-PERP"\nquantity = "0.0005"\n', "positions.0: quantity 0.0005 is not a whole number of 0.001"),
    ('[[positions]]\nsymbol = "BTCUSDT-PERP"\nquantity = "1"\n[[collateral]]\nasset = "USDE"\namount = "1"\n',
     "collateral.0.asset: 'USDE' is not a collateral asset"),
    ('positions_csv = "nowhere.csv"\n', "nowhere.csv: no such positions file"),
    ('[[positions]]\nsymbol = "BTCUSDT-PERP"\nquantity = "1"\n[monte_carlo]\nunderlyings = ["BTCUSDT-PERP", "ETHUSDT-PERP"]\n'
     'vols = [0.5, 0.5]\ncorrelation = [[1.0, 1.5], [1.5, 1.0]]\n', "monte_carlo: .*entries in \\[-1, 1\\]"),
    ('[[positions]]\nsymbol = "BTCUSDT-PERP"\nquantity = "1"\nleverage = 3\n', "leverage: Extra inputs are not permitted"),
    ("", "holds no position"),
])  # fmt: skip
def test_a_bad_book_is_refused_in_one_line_naming_the_field(tmp_path, body, message):
    with pytest.raises(ConfigError, match=message):
        load_book(_book(tmp_path, body))


def test_a_bad_csv_row_is_named_by_file_and_line(tmp_path):
    (tmp_path / "p.csv").write_text("symbol,quantity\nBTCUSDT-PERP,1\nETHUSDT-PERP,lots\n")
    with pytest.raises(ConfigError, match=r"p.csv:3: quantity 'lots' is not a number"):
        load_book(_book(tmp_path, 'positions_csv = "p.csv"\n'))
    (tmp_path / "p.csv").write_text("BTCUSDT-PERP,1,2\n")
    with pytest.raises(ConfigError, match=r"p.csv:1: expected 2 columns"):
        load_book(_book(tmp_path, 'positions_csv = "p.csv"\n'))


def test_a_missing_history_file_is_a_data_error(tmp_path):
    path = _book(tmp_path, DIRECTIONAL.replace('quantity = "40"', 'quantity = "0"') + '[history]\nfiles = { "BTCUSDT-PERP" = ["gone.csv"] }\n')
    with pytest.raises(DataError, match="gone.csv"):
        analyse(load_book(path, data_dir=tmp_path), ("var",))


def test_the_command_prints_json_and_refuses_bad_input_with_exit_2(tmp_path, capsys):
    path = _book(tmp_path, DIRECTIONAL)
    assert main(["margin", str(path), "--model", "cross", "--model", "grid", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["models"]) == {"cross", "grid"} and out["models"]["grid"]["maintenance"] == "48000.000000"
    assert [p["symbol"] for p in out["positions"]] == ["BTCUSDT-PERP", "ETHUSDT-PERP"]
    assert main(["margin", str(path), "--model", "es"]) == 2
    assert "needs a [history] table" in capsys.readouterr().err
    assert main(["margin", str(path), "--preset", "venue/nowhere"]) == 2
    assert "no such preset" in capsys.readouterr().err
    assert main(["margin", str(tmp_path / "missing.toml")]) == 2


def test_a_venue_preset_changes_the_rate_based_requirement(tmp_path):
    path = _book(tmp_path, DIRECTIONAL)
    plain = engine_requirement(load_book(path), "cross").maintenance
    binance = engine_requirement(load_book(path, "venue/binance-usdm"), "cross").maintenance
    assert binance != plain


DATA = Path(os.environ.get("CLEARING_DATA_DIR", ROOT / "data"))


@pytest.mark.parametrize("name", sorted(p.stem for p in SHIPPED.glob("*.toml")))
def test_every_shipped_book_is_analysed_under_every_model_it_configures(name):
    book_path = SHIPPED / f"{name}.toml"
    needs = ["btcusdt_1m_2025-10-10.csv"] if name == "multi-asset" else []
    if any(not (DATA / f).is_file() for f in needs):
        pytest.skip(f"the data directory {DATA} lacks {needs}")
    book = load_book(book_path, data_dir=DATA)
    models = tuple(m for m in ("isolated", "cross", "span", "grid", "es", "var") if m != "es" or book.history)
    if book.history and any(not (DATA / f).is_file() for files in book.history.files.values() for f in files):
        pytest.skip(f"the data directory {DATA} lacks the history files")
    d = as_dict(analyse(book, models))
    assert {"isolated", "cross", "span", "grid"} <= set(d["models"]) and d["positions"]
    for name_, t in d["models"].items():
        if name_.startswith("var_"):
            assert float(t["es"]) >= float(t["var"])


def test_all_leaves_out_the_models_whose_history_files_are_missing_and_says_so(tmp_path, capsys):
    path = _book(tmp_path, DIRECTIONAL + '[history]\nfiles = { "BTCUSDT-PERP" = ["gone.csv"], "ETHUSDT-PERP" = ["gone.csv"] }\n')
    assert main(["--data-dir", str(tmp_path), "margin", str(path), "--json"]) == 0
    captured = capsys.readouterr()
    assert "es and historical VaR left out" in captured.err and "gone.csv" in captured.err
    assert set(json.loads(captured.out)["models"]) == {"isolated", "cross", "span", "grid"}
    assert main(["--data-dir", str(tmp_path), "margin", str(path), "--model", "es"]) == 2


def test_collateral_backs_every_model_at_its_price_less_the_haircut_rounded_down_twice(tmp_path, capsys):
    # 1.23456789 ETH at 3,000: 3,703.70367 gross, 10 % off and rounded down: 3,333.333303, on top of 100 of cash.
    (tmp_path / "s.toml").write_text(
        'name = "eth-collateral"\nepoch = "2024-03-01T00:00:00Z"\nduration_s = 3600\n[market]\nsymbol = "BTCUSDT-PERP"\n'
        '[price]\nmodel = "gbm"\ninitial = "60000"\n[[collateral]]\nasset = "ETH"\ndecimals = 8\nprice = "3000"\n'
        'haircut = "0.1"\n')  # fmt: skip
    path = tmp_path / "b.toml"
    path.write_text('scenario = "s.toml"\ncash = "100"\n[[positions]]\nsymbol = "BTCUSDT-PERP"\nquantity = "1"\n'
                    '[[collateral]]\nasset = "ETH"\namount = "1.23456789"\n')  # fmt: skip
    a = analyse(load_book(path), ("isolated", "cross", "grid"))
    (line,) = a.collateral
    assert (line.gross, line.value) == (3_703_703_670, 3_333_333_303)
    assert a.engine["cross"].equity == a.engine["grid"].equity == 100_000_000 + 3_333_333_303
    d = as_dict(a)
    assert d["collateral"] == [{"asset": "ETH", "amount": "1.23456789", "price": "3000.000000", "haircut": 0.1,
                                "value_before_haircut": "3703.703670", "value": "3333.333303"}]  # fmt: skip
    assert main(["margin", str(path), "--model", "cross"]) == 0
    assert "backing: cash 100.000000; 1.23456789 ETH at 3000.000000 less 10.00%: 3333.333303" in capsys.readouterr().out


def test_a_surface_prices_each_option_at_its_strike_and_expiry_as_the_engine_interpolates(tmp_path):
    # One expiry at 7 days (the put's own): the smile linear in k = ln(K / F) from 0.9 at -0.2 to 0.6 at 0 and 0.5
    # at 0.2. The 55,000 put on 60,000: k = ln(55/60) = -0.0870, vol 0.6 + 0.3 x 0.0870 / 0.2 = 0.7305.
    skew = '[surfaces."BTCUSDT-PERP"]\nexpiry_days = [7]\nlog_moneyness = [-0.2, 0.0, 0.2]\nvols = [[0.9, 0.6, 0.5]]\n'
    flat = '[surfaces."BTCUSDT-PERP"]\nexpiry_days = [7]\nlog_moneyness = [-0.2, 0.0, 0.2]\nvols = [[0.6, 0.6, 0.6]]\n'
    body = 'cash = "20000"\n[[positions]]\nsymbol = "BTC-7D-55000-P"\nquantity = "-1"\n'
    skewed = load_book(_book(tmp_path, body + skew, "skew"))
    put = skewed.symbols.index("BTC-7D-55000-P")
    assert skewed.vols[put] == pytest.approx(0.6 + 0.3 * -math.log(55 / 60) / 0.2, rel=1e-12)
    plain = load_book(_book(tmp_path, 'vols = { "BTCUSDT-PERP" = 0.6 }\n' + body, "plain"))
    flat_surface = load_book(_book(tmp_path, body + flat, "flat"))
    for model in ("cross", "span", "grid"):  # a flat surface is the flat vol; the skew makes the short put dearer
        assert engine_requirement(flat_surface, model).maintenance == engine_requirement(plain, model).maintenance
        assert engine_requirement(skewed, model).maintenance > engine_requirement(plain, model).maintenance
    assert skewed.prices_ticks[put] > plain.prices_ticks[put] == flat_surface.prices_ticks[put]


@pytest.mark.parametrize(("surface", "message"), [
    ('expiry_days = [7, 3]\nlog_moneyness = [0.0]\nvols = [[0.5], [0.5]]\n', "expiry_days must be strictly increasing"),
    ('expiry_days = [7]\nlog_moneyness = [-0.1, 0.1]\nvols = [[0.5]]\n', "expected 1 rows of 2 vols"),
    ('expiry_days = [7]\nlog_moneyness = [0.0]\nvols = [[0.0]]\n', "greater than 0"),
])  # fmt: skip
def test_a_bad_surface_is_refused_naming_it(tmp_path, surface, message):
    body = '[[positions]]\nsymbol = "BTCUSDT-PERP"\nquantity = "1"\n[surfaces."BTCUSDT-PERP"]\n' + surface
    with pytest.raises(ConfigError, match=message):
        load_book(_book(tmp_path, body))
    with pytest.raises(ConfigError, match="surfaces.BTC-7D-55000-P: not an underlying"):
        load_book(_book(tmp_path, '[[positions]]\nsymbol = "BTCUSDT-PERP"\nquantity = "1"\n[surfaces."BTC-7D-55000-P"]\n'
                                   'expiry_days = [7]\nlog_moneyness = [0.0]\nvols = [[0.5]]\n', "u"))  # fmt: skip


def test_the_command_offers_every_model_the_engine_computes():
    from clearing.apps.margin import MODELS
    from clearing.cli.margin import MODEL_CHOICES

    assert MODEL_CHOICES == MODELS
