"""The grid in the engine: per-lot scenario tables, exact products, and the incremental cache.

The engine's grid must agree with the per-account model of `clearing.core.portfolio.grid`
(which the Deribit examples of test_revaluation_margin pin) to the rounding of each lot's
P/L to a minor unit; its matrix product must be exact (the float path equals the integer
one); and `ScenarioCache` must return exactly `grid_requirements` whatever changed in between.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clearing.core.portfolio.grid import NS_PER_DAY, GridParams, grid_requirement
from clearing.core.portfolio.revaluation import (
    Reduction,
    ScenarioCache,
    ScenarioTable,
    grid_requirements,
    grid_scenarios,
    linear_lot_pnl,
    option_lot_pnl,
    scenario_pnl,
)

BTC = GridParams()
# One lot = 0.001 BTC, quote minor units of 10^-6 USDT, tick 0.1 USDT: 100 minor units per lot per tick.
UNIT = 100
PRICE_TICKS = 600_000  # 60,000 USDT


def test_the_standard_table_has_27_scenarios_and_the_extended_one_follows_at_its_weight():
    assert grid_scenarios(BTC).moves.size == 27
    extended = grid_scenarios(BTC._replace(extended_weight=0.5))
    assert extended.moves.size == 35
    assert extended.weights[27:].tolist() == [0.5] * 8 and extended.vol_dirs[27:].tolist() == [1.0] * 8


def test_a_perpetual_lot_loses_16_percent_of_its_value_in_the_worst_scenario():
    lot_value = PRICE_TICKS * UNIT  # 60 USDT = 60,000,000 minor units
    table = linear_lot_pnl([lot_value], grid_scenarios(BTC))
    assert table.min() == -9_600_000 and table.max() == 9_600_000
    tables = {0: ScenarioTable(np.array([0]), table, ())}
    assert grid_requirements(np.array([[10], [-3]], np.int64), tables).tolist() == [96_000_000, 28_800_000]


def _short_strangle_table(days: float) -> tuple[ScenarioTable, list[float]]:
    scen = grid_scenarios(BTC)
    strikes = [550_000.0, 650_000.0]  # 55,000 put, 65,000 call, in ticks
    tau = int(days * NS_PER_DAY)
    options = option_lot_pnl(float(PRICE_TICKS), strikes, [False, True], [0.6, 0.55], [tau, tau], [UNIT, UNIT], scen, BTC)
    perp = linear_lot_pnl([PRICE_TICKS * UNIT], scen)
    return ScenarioTable(np.array([0, 1, 2]), np.vstack([perp, options]), ()), strikes


@pytest.mark.parametrize("days", [0.5, 7.0, 45.0])
def test_the_engine_grid_matches_the_per_account_model_to_a_minor_unit_per_lot(days):
    table, strikes = _short_strangle_table(days)
    lots = np.array([[4, -20, -20]], np.int64)  # short strangle, 0.02 BTC a leg, a 0.004 BTC perp hedge
    engine = int(grid_requirements(lots, {0: table})[0])
    # The per-account model in quote units: sizes in BTC, prices in USDT.
    model = grid_requirement(
        60_000.0, 0.004, [-0.02, -0.02], [s / 10 for s in strikes], [False, True], [0.6, 0.55],
        [int(days * NS_PER_DAY)] * 2, BTC,
    )  # fmt: skip
    assert abs(engine - model.maintenance * 1e6) <= 0.5 * np.abs(lots).sum() + 1e-6 * model.maintenance * 1e6


def test_a_short_strangle_needs_more_with_less_time_to_expiry_for_the_same_move():
    short = int(grid_requirements(np.array([[0, -10, -10]]), {0: _short_strangle_table(1.0)[0]})[0])
    long_dated = int(grid_requirements(np.array([[0, -10, -10]]), {0: _short_strangle_table(60.0)[0]})[0])
    assert short > 0 and long_dated > 0 and short != long_dated


def test_the_float_product_is_exact_and_equals_the_integer_one():
    rng = np.random.default_rng(7)
    lots = rng.integers(-50_000, 50_000, (200, 30))
    pnl = np.rint(rng.normal(0, 1e7, (30, 27)))
    exact = lots @ pnl.astype(np.int64)
    assert np.array_equal(scenario_pnl(lots, pnl), exact.astype(np.float64))
    assert (np.abs(lots).max() * 30 * np.abs(pnl).max()) < 2**53  # the float path was taken


def test_products_beyond_float_precision_take_the_integer_path_and_past_int64_are_refused():
    pnl = np.array([[float(2**40)]])
    big = np.array([[2**15]], np.int64)  # 2^55: beyond 2^53, within int64
    assert scenario_pnl(big, pnl)[0, 0] == float(2**55)
    with pytest.raises(ValueError, match="too large for an exact scenario margin"):
        scenario_pnl(np.array([[2**30]], np.int64), pnl)


def test_an_inter_commodity_credit_nets_two_underlyings_in_proportion():
    scen = grid_scenarios(BTC)
    a = ScenarioTable(np.array([0]), linear_lot_pnl([1_000_000], scen), ())
    b = ScenarioTable(np.array([1]), linear_lot_pnl([1_000_000], scen), ())
    pair = np.array([[1, -1]], np.int64)  # long one, short the other: the same scenario cancels
    assert grid_requirements(pair, {0: a, 1: b}, 0).tolist() == [320_000]
    assert grid_requirements(pair, {0: a, 1: b}, 500_000).tolist() == [160_000]
    assert grid_requirements(pair, {0: a, 1: b}, 1_000_000).tolist() == [0]


def _tables(rng: np.random.Generator, version: int, markets: int = 6) -> dict[int, ScenarioTable]:
    # Two underlyings over `markets` columns; a table's values depend on its version.
    out = {}
    for u, cols in ((0, np.arange(0, markets // 2)), (1, np.arange(markets // 2, markets))):
        pnl = np.rint(rng.normal(0, 1000, (cols.size, 27)))
        out[u] = ScenarioTable(cols, pnl, (u, version))
    return out


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_the_cache_returns_exactly_the_full_computation_whatever_changed(data):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    n = 40
    positions = rng.integers(-5, 6, (n, 6)) * (rng.random((n, 6)) < 0.4)
    tables = _tables(rng, 0)
    credit = data.draw(st.sampled_from([0, 300_000]))
    cache = ScenarioCache(Reduction("worst", credit))
    cache.update(positions, tables, None)
    for step in range(data.draw(st.integers(1, 6))):
        what = data.draw(st.sampled_from(["positions", "table", "both", "nothing"]))
        changed = np.zeros(0, np.int64)
        if what in ("positions", "both"):
            changed = rng.choice(n, size=data.draw(st.integers(1, 5)), replace=False)
            positions[changed] = rng.integers(-5, 6, (changed.size, 6)) * (rng.random((changed.size, 6)) < 0.5)
        if what in ("table", "both"):
            u = data.draw(st.sampled_from([0, 1]))
            fresh = _tables(rng, step + 1)
            tables = {**tables, u: fresh[u]}
        cache.update(positions, tables, changed)
        rows = np.sort(rng.choice(n, size=data.draw(st.integers(1, n)), replace=False))
        assert np.array_equal(cache.requirements(positions, rows), grid_requirements(positions[rows], tables, credit))


def test_a_table_change_on_one_underlying_revalues_only_its_holders():
    rng = np.random.default_rng(1)
    positions = np.zeros((100, 6), np.int64)
    positions[:, 0] = 1  # everyone holds underlying 0
    positions[:3, 4] = 2  # three hold underlying 1
    tables = _tables(rng, 0)
    cache = ScenarioCache()
    cache.update(positions, tables, None)
    cache.requirements(positions, np.arange(100))
    cache.update(positions, {**tables, 1: _tables(rng, 1)[1]}, np.zeros(0, np.int64))
    assert np.flatnonzero(cache.stale[1]).tolist() == [0, 1, 2] and not cache.stale[0].any()


def test_a_long_option_never_needs_more_than_its_premium():
    scen = grid_scenarios(BTC._replace(extended_weight=1.0))
    tau = 10 * NS_PER_DAY
    table = option_lot_pnl(float(PRICE_TICKS), [700_000.0], [True], [0.7], [tau], [UNIT], scen, BTC)
    from clearing.core.options.pricing import black76_price

    premium = float(black76_price(float(PRICE_TICKS), 700_000.0, 0.7, tau, True)) * UNIT
    assert -table.min() <= premium + 0.5
