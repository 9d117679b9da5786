"""The collateral split of `clearing margin --split` against the engine and against brute force.

A book of three linear positions (long BTC, long ETH, short BTC future) with BTC isolated and
the rest in a cross pool: at the split's distance z every sub-account, its prices moved by z
in its worst direction and margined by the engine (`account_risk`), is exactly at its
requirement (just above at 0.999 z, below at 1.001 z); no split of the same total on a 1 % grid
keeps its weakest sub-account further away.
"""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from clearing import events as ev
from clearing.apps.margin import load_book
from clearing.apps.margin.book import underlying_index
from clearing.apps.margin.engine import book_state
from clearing.apps.margin.split import collateral_split, expected_loss, loss_split, sub_account
from clearing.cli import main
from clearing.core.risk import account_risk
from clearing.core.state import apply
from clearing.core.valuation import market_values, valuation_prices
from clearing.errors import ConfigError
from tests.conftest import ROOT

SCENARIO = (ROOT / "scenarios" / "option-portfolios.toml").as_posix()


@pytest.fixture
def book(tmp_path):
    (tmp_path / "book.toml").write_text(f'''scenario = "{SCENARIO}"
cash = "20000"
[[positions]]
symbol = "BTCUSDT-PERP"
quantity = "1"
[[positions]]
symbol = "ETHUSDT-PERP"
quantity = "10"
[[positions]]
symbol = "BTCUSDT-Q"
quantity = "-0.4"
''')
    return load_book(tmp_path / "book.toml")


def _margin_after_move(book, symbols, collateral, r):
    # (equity, requirement) of a cross account holding `symbols` with `collateral`, every underlying moved by r
    # in the direction that costs it most (equity change E r against maintenance change R r).
    index = {s: i for i, s in enumerate(book.symbols)}
    markets = [index[s] for s in symbols]
    lots = tuple(q if m in markets else 0 for m, q in enumerate(book.lots))
    b = book_state(book._replace(cash_minor=collateral), "cross", lots)
    s = b.state
    values = market_values(s, s.position[b.rows], valuation_prices(s))[0]
    worst = {}
    for m in markets:
        u = underlying_index(book.params, m)
        e = sum(int(values[k]) for k in markets if underlying_index(book.params, k) == u)
        worst[u] = -1 if e > 0 else 1
    for m in range(len(book.params.markets)):
        u = underlying_index(book.params, m)
        if u in worst:
            price = round(book.prices_ticks[m] * (1 + worst[u] * r))
            apply(s, ev.MarkPriceUpdated(ts_ns=s.now_ns, market=m, price_ticks=price, index_ticks=price, method="book"))
    equity, requirement = account_risk(s, b.rows)
    return int(equity[0]), int(requirement[0])


def test_every_sub_account_sits_at_its_requirement_after_a_move_of_the_split_distance(book):
    split = collateral_split(book, ("BTCUSDT-PERP",))
    assert [a.name for a in split.accounts] == ["BTCUSDT-PERP", "cross pool"]
    assert sum(a.collateral for a in split.accounts) == book.cash_minor
    for a in split.accounts:
        assert a.distance == pytest.approx(split.distance, rel=1e-6)
        equity, requirement = _margin_after_move(book, a.symbols, a.collateral, 0.999 * a.distance)
        assert equity >= requirement
        equity, requirement = _margin_after_move(book, a.symbols, a.collateral, 1.001 * a.distance)
        assert equity < requirement


def test_no_split_on_a_grid_keeps_the_weakest_sub_account_further(book):
    split = collateral_split(book, ("BTCUSDT-PERP", "ETHUSDT-PERP"))
    parts = [sub_account(book, a.name, [book.symbols.index(s) for s in a.symbols]) for a in split.accounts]
    total = book.cash_minor
    best = -np.inf
    for i, j in itertools.product(range(101), repeat=2):
        if i + j > 100:
            continue
        shares = (i, j, 100 - i - j)
        weakest = min((total * k // 100 - m) / d for k, (m, d) in zip(shares, parts, strict=True))
        best = max(best, weakest)
    assert split.distance >= best - 1e-12 and split.distance == pytest.approx(best, rel=0.05)


def test_a_split_is_refused_for_options_and_unheld_symbols(book, tmp_path):
    with pytest.raises(ConfigError, match="holds no 'SOLUSDT'"):
        collateral_split(book, ("SOLUSDT",))
    (tmp_path / "o.toml").write_text(f'scenario = "{SCENARIO}"\ncash = "1000"\n[[positions]]\nsymbol = "BTC-7D-65000-C"\n'
                                     'quantity = "-0.1"\n')  # fmt: skip
    with pytest.raises(ConfigError, match="takes linear positions"):
        collateral_split(load_book(tmp_path / "o.toml"), ())


def test_the_command_prints_the_split_and_its_alternatives(book, capsys):
    assert main(["margin", str(book.path), "--model", "cross", "--split", "BTCUSDT-PERP", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)["split"]
    assert set(out["accounts"]) == {"BTCUSDT-PERP", "cross pool"}
    assert out["all_cross_distance"] > out["distance"] >= out["proportional_distance"]
    assert main(["margin", str(book.path), "--split", "XRP"]) == 2


def _with_monte_carlo(book, vols=(0.9, 1.1)):
    from clearing.apps.margin.book import MonteCarloConfig

    mc = MonteCarloConfig(underlyings=("BTCUSDT-PERP", "ETHUSDT-PERP"), vols=vols, correlation=((1.0, 0.8), (0.8, 1.0)),
                          horizon_minutes=1440)  # fmt: skip
    return book._replace(monte_carlo=mc)


def _brute_force(sc, total):
    # Every level of every sub-account but the last, the last taking the rest: the least total expected loss.
    k_count = sc.need.shape[0]
    levels = [np.unique(np.concatenate([[0.0], np.ceil(np.maximum(sc.need[k], 0))])) for k in range(k_count - 1)]
    best = np.inf
    for combo in itertools.product(*levels):
        rest = total - sum(combo)
        if rest < 0:
            continue
        best = min(best, float(expected_loss(sc, np.array([*combo, rest])).sum()))
    return best


@pytest.mark.parametrize(("isolated", "paths"), [(("BTCUSDT-PERP",), 400), (("BTCUSDT-PERP", "ETHUSDT-PERP"), 60)])
def test_the_least_loss_split_is_the_least_of_every_split_at_the_needs(book, isolated, paths):
    from clearing.apps.margin.split import _groups, least_loss_levels, scenario_needs
    from clearing.apps.margin.var import monte_carlo_returns

    b = _with_monte_carlo(book)
    sc = scenario_needs(b, _groups(b, isolated), monte_carlo_returns(b, 3, paths))
    chosen = least_loss_levels(sc, b.cash_minor)
    assert chosen.sum() <= b.cash_minor
    found = float(expected_loss(sc, np.array([*chosen[:-1], b.cash_minor - chosen[:-1].sum()])).sum())
    assert found == pytest.approx(_brute_force(sc, b.cash_minor), rel=1e-12, abs=1e-9)
    split = loss_split(b, isolated, seed=3, paths=paths)
    assert sum(a.collateral for a in split.accounts) == b.cash_minor
    assert split.expected_loss <= split.proportional_loss + 1e-9 and split.expected_loss <= split.max_min_loss + 1e-9


def test_a_sub_account_is_liquidated_in_a_scenario_exactly_when_its_collateral_is_below_its_need(book):
    # The need against the engine: the ETH sub-account (10 ETH) with the need's collateral, its prices moved by the
    # scenario's return, is at its requirement within the rounding of a price to a tick.
    from clearing.apps.margin.split import _groups, scenario_needs

    groups = _groups(book, ("ETHUSDT-PERP",))
    eth = book.symbols.index("ETHUSDT-PERP")
    for r in (-0.3, -0.1, -0.02):
        sc = scenario_needs(book, groups, {0: np.array([r]), eth: np.array([r])})
        need = float(sc.need[0, 0])
        b = book_state(book._replace(cash_minor=round(need)), "cross", tuple(q if m == eth else 0 for m, q in enumerate(book.lots)))
        price = round(book.prices_ticks[eth] * (1 + r))
        apply(b.state, ev.MarkPriceUpdated(ts_ns=b.state.now_ns, market=eth, price_ticks=price, index_ticks=price, method="book"))
        equity, requirement = account_risk(b.state, b.rows)
        assert abs(int(equity[0]) - int(requirement[0])) <= 20_000  # 10 ETH x a 0.01 tick, and a minor unit
        assert sc.loss[0, 0] == pytest.approx(0.0125 * 10 * 3000e6 * (1 + r))  # the scenario's liquidation fee


def test_the_command_prints_the_least_loss_split(book, capsys):
    path = book.path
    text = path.read_text() + ('[monte_carlo]\nunderlyings = ["BTCUSDT-PERP", "ETHUSDT-PERP"]\nvols = [0.9, 1.1]\n'
                               'correlation = [[1.0, 0.8], [0.8, 1.0]]\n')  # fmt: skip
    path.write_text(text)
    argv = ["margin", str(path), "--model", "cross", "--split", "ETHUSDT-PERP", "--split-by", "loss", "--paths", "500", "--json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)["split"]
    assert out["objective"] == "loss" and out["scenarios"] == 500
    assert set(out["accounts"]) == {"ETHUSDT-PERP", "cross pool"}
    assert float(out["expected_loss"]) <= float(out["proportional_expected_loss"])
