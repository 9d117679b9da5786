"""The collateral split of `clearing margin --split` against the engine and against brute force.

A book of three linear positions (long BTC, long ETH, short BTC future) with BTC isolated and
the rest in a cross pool: at the split's distance z every sub-account, its prices moved by z
in its worst direction and margined by the engine (`account_risk`), is exactly at its
requirement (just above at 0.999 z, below at 1.001 z); no split of the same total on a 1 % grid
keeps its weakest sub-account further away.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from clearing import events as ev
from clearing.apps.margin import load_book
from clearing.apps.margin.book import underlying_index
from clearing.apps.margin.engine import book_state
from clearing.apps.margin.split import collateral_split, sub_account
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
    import json

    from clearing.cli import main

    assert main(["margin", str(book.path), "--model", "cross", "--split", "BTCUSDT-PERP", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)["split"]
    assert set(out["accounts"]) == {"BTCUSDT-PERP", "cross pool"}
    assert out["all_cross_distance"] > out["distance"] >= out["proportional_distance"]
    assert main(["margin", str(book.path), "--split", "XRP"]) == 2
