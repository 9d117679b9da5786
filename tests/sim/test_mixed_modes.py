"""Mixed margin modes in one run: traders drawn once, split by `population.margin_modes`, compared per mode."""

from __future__ import annotations

import numpy as np
import pytest

from clearing.apps.replay import fold
from clearing.apps.run import run_scenario
from clearing.core.invariants import violations
from clearing.core.state import MarginMode, Role
from clearing.errors import ConfigError
from clearing.scenario import load_scenario
from clearing.scenario.params import compile_params
from clearing.scenario.participants import PopulationConfig
from clearing.sim.accounts import leg_accounts, trader_groups
from tests.conftest import ROOT
from tests.regression.test_head_hashes import TWO_MARKETS

SCENARIO = ROOT / "scenarios" / "synthetic-crash.toml"
MIXED = (*TWO_MARKETS, "population.legs=[1, -1]", "population.margin_modes={isolated=0.4, cross=0.3, portfolio=0.3}")


def test_mode_counts_round_by_largest_remainder():
    assert PopulationConfig(accounts=10, margin_modes={"cross": 1 / 3, "isolated": 1 / 3, "portfolio": 1 / 3}).mode_counts() == [
        ("isolated", 4), ("cross", 3), ("portfolio", 3)]  # fmt: skip
    assert PopulationConfig(accounts=7, margin_mode="cross").mode_counts() == [("cross", 7)]
    assert PopulationConfig(accounts=5, margin_modes={"isolated": 1.0, "portfolio": 0.0}).mode_counts() == [("isolated", 5)]
    with pytest.raises(ValueError, match="sum to 0.9"):
        PopulationConfig(margin_modes={"isolated": 0.5, "cross": 0.4})


def test_each_group_is_laid_out_as_its_mode_wants_and_the_modes_interleave_in_entry_order():
    # 4 isolated traders (two legs: accounts 0-3 and 4-7), 3 cross (8-10) and 3 portfolio (11-13).
    params = compile_params(load_scenario(SCENARIO, [*MIXED, "population.accounts=10"]))
    groups = trader_groups(params.population)
    assert groups.tolist() == [0, 1, 2, 0, 1, 2, 0, 1, 2, 0]  # never all of one mode first: traders enter in index order
    btc, eth = leg_accounts(params.population, 0)
    assert btc.tolist() == [0, 8, 11, 1, 9, 12, 2, 10, 13, 3]
    assert eth.tolist() == [4, 8, 11, 5, 9, 12, 6, 10, 13, 7]


@pytest.fixture(scope="module")
def mixed_run(tmp_path_factory):
    path = tmp_path_factory.mktemp("mixed") / "run.sqlite"
    return path, run_scenario(load_scenario(SCENARIO, list(MIXED)), 0, path)


def test_one_run_compares_the_modes_on_the_same_path(mixed_run):
    path, live = mixed_run
    result = fold(path)
    assert result.summary == live and violations(result.state) == []
    state = result.state
    traders = state.role == Role.TRADER
    counts = {MarginMode(m).label: int(n) for m, n in zip(*np.unique(state.margin_mode[traders], return_counts=True), strict=True)}
    assert counts == {"isolated": 320, "cross": 120, "portfolio": 120}  # 160 isolated traders hold two accounts each
    assert list(live.modes) == ["isolated", "cross", "portfolio"]
    assert [m.traders for m in live.modes.values()] == [320, 120, 120]
    assert sum(m.liquidations for m in live.modes.values()) == live.liquidations
    total = sum(int(m.liquidated_notional.replace(".", "")) for m in live.modes.values())
    assert total == int(live.liquidated_notional.replace(".", ""))
    assert state.portfolio is not None  # portfolio margin is configured because some traders use it


def test_one_mode_keeps_the_summary_and_the_scenario_hash():
    plain = load_scenario(SCENARIO, list(TWO_MARKETS))
    assert "margin_modes" not in plain.canonical_json()
    with pytest.raises(ConfigError, match="margin_modes shares sum"):
        load_scenario(SCENARIO, ["population.margin_modes={isolated=0.7}"])
