"""The optimisers of `clearing margin` against brute force: every integer hedge on a small grid of lots.

A covered call (long 0.01 BTC of the perpetual, short 0.01 BTC of the 7-day 65,000 call) may
trade up to 5 lots of the 7-day 55,000 put and 4 lots of the perpetual. For every combination
the engine's own requirement (`scenario_requirements` on the book's tables) plus the hedge's
cost is computed; the solver's hedge must reach the best of them (to the minor unit; expected
shortfall's mean is rounded up, so within one minor unit there), and its cheapest hedge under
a target the cheapest combination under it. Rebalancing is checked the same way.
"""

from __future__ import annotations

import itertools
from decimal import Decimal

import numpy as np
import pytest

from clearing.apps.margin import load_book
from clearing.apps.margin.book import HedgeRow
from clearing.apps.margin.engine import book_state
from clearing.apps.margin.optimise import hedge_costs, lot_greeks, rebalance, smallest_hedge
from clearing.core.portfolio.revaluation import scenario_requirements
from clearing.core.scenario_margin import scenario_tables, table_rule
from clearing.errors import ConfigError
from tests.builders import write_minute_bars
from tests.conftest import ROOT

SCENARIO = (ROOT / "scenarios" / "option-portfolios.toml").as_posix()
START_MS = 1_709_251_200_000
HEDGES = (HedgeRow(symbol="BTC-7D-55000-P", max_quantity=Decimal("0.05"), spread=Decimal("0.002")),
          HedgeRow(symbol="BTCUSDT-PERP", max_quantity=Decimal("0.004"), spread=Decimal("0.01"), fee=Decimal("0.001")))  # fmt: skip


@pytest.fixture
def book(tmp_path):
    closes = [60_000 * (1 + 0.02 * np.sin(i / 7) - 0.0004 * i) for i in range(200)]
    write_minute_bars(tmp_path / "btc.csv", START_MS, [f"{c:.1f}" for c in closes])
    (tmp_path / "book.toml").write_text(f'''scenario = "{SCENARIO}"
cash = "5000"
[[positions]]
symbol = "BTCUSDT-PERP"
quantity = "0.01"
[[positions]]
symbol = "BTC-7D-65000-C"
quantity = "-0.01"
[history]
files = {{ "BTCUSDT-PERP" = ["btc.csv"] }}
horizon_minutes = 5
''')
    return load_book(tmp_path / "book.toml", data_dir=tmp_path)


def _enumerate(book, model):
    # (lots of each hedge, engine requirement, cost) for every combination within the limits.
    b = book_state(book, model)
    tables, rule = scenario_tables(b.state), table_rule(b.state)
    markets, limits, costs = hedge_costs(book, HEDGES)
    out = []
    for lots in itertools.product(*(range(-lim, lim + 1) for lim in limits)):
        positions = b.state.position[b.rows[:1]].copy()
        for market, q in zip(markets, lots, strict=True):
            positions[0, market] += q
        requirement = int(scenario_requirements(positions, tables, rule)[0])
        out.append((lots, requirement, float(np.abs(lots) @ np.array(costs))))
    return out


@pytest.mark.parametrize("model", ["grid", "es"])
def test_the_hedge_reaches_the_best_requirement_plus_cost_of_every_combination(book, model):
    h = smallest_hedge(book, model, HEDGES)
    best = min(r + c for _lots, r, c in _enumerate(book, model))
    slack = 1 if model == "es" else 0  # the engine rounds ES's mean up; the program does not
    assert h.status == "optimal" and h.after + h.cost <= best + slack + 1e-6
    assert h.after < h.before


@pytest.mark.parametrize("model", ["grid", "es"])
def test_the_cheapest_hedge_under_a_target_is_the_cheapest_combination_under_it(book, model):
    combos = _enumerate(book, model)
    before = next(r for lots, r, _c in combos if not any(lots))
    target = (before + min(r for _l, r, _c in combos)) // 2
    h = smallest_hedge(book, model, HEDGES, target)
    cheapest = min(c for _lots, r, c in combos if r <= target)
    assert h.after <= target + (1 if model == "es" else 0) and h.cost == pytest.approx(cheapest)


def test_rebalancing_to_a_delta_is_the_cheapest_combination_within_the_tolerance(book):
    markets, limits, costs = hedge_costs(book, HEDGES)
    delta_now = sum(q * lot_greeks(book, m)[0] for m, q in enumerate(book.lots) if q)
    per_lot = [lot_greeks(book, m)[0] for m in markets]
    r = rebalance(book, HEDGES, {"BTCUSDT-PERP": (0.0, None)}, (0.002, 1.0))
    feasible = [float(np.abs(lots) @ np.array(costs)) for lots in itertools.product(*(range(-lim, lim + 1) for lim in limits))
                if abs(delta_now + float(np.dot(lots, per_lot))) <= 0.002]  # fmt: skip
    assert feasible and r.status == "optimal" and r.cost == pytest.approx(min(feasible))
    assert abs(r.after["BTCUSDT-PERP"][0]) <= 0.002 + 1e-12


def test_an_unreachable_target_says_so_and_a_bad_request_is_refused(book):
    r = rebalance(book, HEDGES, {"BTCUSDT-PERP": (5.0, None)}, (0.001, 1.0))
    assert r.status != "optimal" and not r.trades and r.after == r.before
    with pytest.raises(ConfigError, match="not 'span'"):
        smallest_hedge(book, "span", HEDGES)
    with pytest.raises(ConfigError, match="'DOGE' is not a market"):
        smallest_hedge(book, "grid", (HedgeRow(symbol="DOGE", max_quantity=Decimal(1)),))
    with pytest.raises(ConfigError, match="not a whole number"):
        smallest_hedge(book, "grid", (HedgeRow(symbol="BTCUSDT-PERP", max_quantity=Decimal("0.0005")),))


def test_the_command_reports_the_hedge_and_the_rebalance(tmp_path, capsys):
    import json

    from clearing.cli import main

    book = ROOT / "scenarios" / "portfolios" / "covered-calls.toml"
    assert main(["margin", str(book), "--model", "grid", "--hedge", "grid", "--target", "5000", "--rebalance", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["hedge"]["status"] == "optimal" and float(out["hedge"]["requirement_after"]) <= 5000
    assert float(out["hedge"]["requirement_before"]) == float(out["models"]["grid"]["maintenance"])
    assert abs(out["rebalance"]["after"]["BTCUSDT-PERP"]["delta"] - 0.5) <= 0.01
    assert main(["margin", str(book), "--target", "5000"]) == 2
    assert "--target goes with --hedge" in capsys.readouterr().err
    assert main(["margin", str(book), "--hedge", "grid", "--target", "0.0000001"]) == 2
    assert main(["margin", str(ROOT / "scenarios" / "portfolios" / "basis-trade.toml"), "--rebalance"]) == 2
    assert "needs a [rebalance] table" in capsys.readouterr().err
