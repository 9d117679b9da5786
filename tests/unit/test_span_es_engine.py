"""SPAN's risk arrays and filtered expected shortfall as the engine computes them (scenario tables).

The engine's reduction of scenario P/L (`clearing.core.portfolio.revaluation.Reduction`)
is tested on McMillan's published risk arrays (a long S&P future, a long Dec 410 call and
the covered write: $10,000, $3,990 and $6,620), on a calendar spread (the intra-commodity
charge on the matched delta), on short options (the short option minimum), and against the
pure expected-shortfall model (`clearing.core.portfolio.es`); the stress scenarios are the
joint returns of bar files joined on their times. Sources: docs/references.md
[mcmillan-span], [cme-span-intra], [cme-span-som], [lch-pairs].
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clearing.core.portfolio.es import expected_shortfall, filtered_scenarios, joint_returns_ppm
from clearing.core.portfolio.es import scenario_pnl as es_pnl
from clearing.core.portfolio.revaluation import (
    Reduction,
    ScenarioCache,
    ScenarioTable,
    scenario_requirements,
    table_charges,
)
from tests.unit.test_revaluation_margin import CALL_410, FUTURE  # McMillan's published arrays, P/L in dollars

SPAN = Reduction("span")


def _mcmillan() -> dict[int, ScenarioTable]:
    return {0: ScenarioTable(np.array([0, 1]), np.array([FUTURE, CALL_410], np.float64), ())}


def test_mcmillans_requirements_through_the_engines_reduction():
    positions = np.array([[1, 0], [0, 1], [1, -1]], np.int64)  # long future, long call, covered write
    assert scenario_requirements(positions, _mcmillan(), SPAN).tolist() == [10_000, 3_990, 6_620]


def test_a_calendar_spread_pays_the_intra_commodity_charge_on_its_matched_delta():
    # A perpetual (tier 0) and a dated future (tier 1) on one underlying at 50,000 ticks, 100 minor units a tick a lot:
    # scanning nets the spread to 0 (the arrays move together), the charge is 0.5 % of the matched delta's notional.
    row = [float(100 * 50_000 * m / 3) for m in (0, 0, 1, 1, -1, -1, 2, 2, -2, -2, 3, 3, -3, -3)] + [0.0, 0.0]
    tiers = np.array([[100.0, 0.0], [0.0, 100.0]])
    table = ScenarioTable(np.array([0, 1]), np.rint(np.array([row, row])), (), tiers, (5_000, 50_000), np.zeros(2, np.int64))
    spread = np.array([[-3, 3]], np.int64)
    assert scenario_requirements(spread, {0: table}, SPAN).tolist() == [3 * 100 * 50_000 * 5_000 // 10**6]
    assert scenario_requirements(np.array([[3, 0]]), {0: table}, SPAN).tolist() == [3 * 100 * 50_000]  # one tier: no charge
    intra, _som = table_charges(np.array([[-3, 2]]), table)
    assert intra.tolist() == [math.ceil(2 * 100 * 50_000 * 0.005)]  # only the matched 2 lots


def test_the_short_option_minimum_floors_each_underlying_on_its_own():
    # CME: max(scan + intra, SOM) per combined commodity. A scan of 1,000 on one underlying and three
    # short options with a minimum of 40 each on another need 1,000 + 120, not max(1,000, 120).
    linear = ScenarioTable(np.array([0]), np.array([[-1000.0] + [0.0] * 15]), (), np.zeros((1, 1)), (0, 1), np.zeros(1, np.int64))
    shorts = ScenarioTable(np.array([1]), np.zeros((1, 16)), (), np.zeros((1, 1)), (0, 1), np.array([40]))
    assert scenario_requirements(np.array([[1, -3]]), {0: linear, 1: shorts}, SPAN).tolist() == [1_120]


def test_the_short_option_minimum_floors_a_far_out_of_the_money_short():
    # A short option whose worst scenario loses 5 a lot, against a minimum of 40 a short lot.
    table = ScenarioTable(np.array([0]), np.array([[0.0] * 15 + [-5.0]]), (), np.zeros((1, 1)), (0, 1), np.array([40]))
    assert scenario_requirements(np.array([[-3], [3]]), {0: table}, SPAN).tolist() == [120, 15]


def test_the_engines_expected_shortfall_is_the_pure_models_on_a_linear_book():
    rng = np.random.default_rng(4)
    returns = rng.normal(0, 0.01, (300, 2))
    scen = filtered_scenarios(returns, 0.97)
    lot = [2_000_000.0, 1_500_000.0]  # one lot's quote value on each underlying
    tables = {u: ScenarioTable(np.array([u]), np.rint(lot[u] * scen[:, u])[None, :], ()) for u in (0, 1)}
    positions = np.array([[3, -2], [0, 5], [-1, 0]], np.int64)
    engine = scenario_requirements(positions, tables, Reduction("es", 0, 6, scen.shape[0]))
    for row, got in zip(positions, engine, strict=True):
        pure = expected_shortfall(-es_pnl([1.0, 1.0], row * np.array(lot), scen), 1 - 6 / 300)
        assert abs(int(got) - pure) <= 6  # half a minor unit a lot per scenario, at most 6 lots
    assert (engine > 0).all()


def test_the_stress_block_floors_expected_shortfall():
    filtered = [10.0, -20.0, 5.0, -1.0]
    stress = [-500.0, 100.0]
    table = ScenarioTable(np.array([0]), np.array([filtered + stress]), ())
    assert scenario_requirements(np.array([[1]]), {0: table}, Reduction("es", 0, 1, 4)).tolist() == [500]
    assert scenario_requirements(np.array([[1]]), {0: table}, Reduction("es", 0, 2, 4)).tolist() == [200]  # (500 - 100) / 2
    no_stress = ScenarioTable(np.array([0]), np.array([filtered]), ())
    assert scenario_requirements(np.array([[1]]), {0: no_stress}, Reduction("es", 0, 2, 4)).tolist() == [11]


def test_joint_returns_keep_only_the_shared_times():
    times = [np.array([0, 60, 120, 180]), np.array([60, 120, 180, 240])]
    closes = [np.array([100, 110, 99, 99]), np.array([50, 40, 40, 60])]
    assert joint_returns_ppm(times, closes, 60).tolist() == [[-100_000, -200_000], [0, 0]]
    assert joint_returns_ppm(times, closes, 180).shape == (0, 2)
    with pytest.raises(ValueError, match="horizon"):
        joint_returns_ppm(times, closes, 0)


def test_a_gap_drops_the_returns_it_would_stretch():
    # Minute 120 is missing: no return spans it, and the 60 -> 180 pair is two minutes, not one.
    times = [np.array([0, 60, 180, 240])]
    closes = [np.array([100, 101, 103, 104])]
    assert joint_returns_ppm(times, closes, 60).tolist() == [[10_000], [9_708]]
    assert joint_returns_ppm(times, closes, 120).tolist() == [[19_801]]  # 60 -> 180: 101 -> 103


def _tables(rng: np.random.Generator, version: int, scenarios: int) -> dict[int, ScenarioTable]:
    out = {}
    for u, cols in ((0, np.arange(0, 3)), (1, np.arange(3, 6))):
        pnl = np.rint(rng.normal(0, 1000, (cols.size, scenarios)))
        tiers = np.rint(rng.normal(0, 50, (cols.size, 2)))
        som = rng.integers(0, 300, cols.size)
        out[u] = ScenarioTable(cols, pnl, (u, version), tiers, (20_000, 1_000), som)
    return out


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_the_cache_returns_exactly_the_full_computation_under_span_and_es(data):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    rule = data.draw(st.sampled_from([Reduction("span", 0), Reduction("span", 400_000), Reduction("es", 0, 3, 12)]))
    n = 30
    positions = rng.integers(-5, 6, (n, 6)) * (rng.random((n, 6)) < 0.4)
    tables = _tables(rng, 0, 16)
    cache = ScenarioCache(rule)
    cache.update(positions, tables, None)
    for step in range(data.draw(st.integers(1, 5))):
        changed = rng.choice(n, size=data.draw(st.integers(0, 4)), replace=False)
        positions[changed] = rng.integers(-5, 6, (changed.size, 6))
        if data.draw(st.booleans()):
            tables = {**tables, 1: _tables(rng, step + 1, 16)[1]}
        cache.update(positions, tables, changed)
        rows = np.sort(rng.choice(n, size=data.draw(st.integers(1, n)), replace=False))
        assert np.array_equal(cache.requirements(positions, rows), scenario_requirements(positions[rows], tables, rule))
