"""A run of the coin-margined crash: PnL, fees and funding in BTC, coin debts repaid, replayed exactly."""

from __future__ import annotations

import sqlite3
from collections import Counter

import pytest

from clearing import events as ev
from clearing.apps.replay import fold
from clearing.apps.run import run_scenario
from clearing.core.invariants import violations
from clearing.errors import ConfigError
from clearing.log.reader import EventLogReader
from clearing.scenario import load_scenario
from tests.conftest import ROOT
from tests.regression.test_head_hashes import COIN

SCENARIO = ROOT / "scenarios" / "coin-margined-crash.toml"


@pytest.fixture(scope="module")
def coin_run(tmp_path_factory):
    scenario = load_scenario(SCENARIO, list(COIN))
    path = tmp_path_factory.mktemp("coin") / "run.sqlite"
    return scenario, path, run_scenario(scenario, 2, path)


def kinds(path) -> Counter[str]:
    with sqlite3.connect(path) as db:
        return Counter(dict(db.execute("SELECT kind, count(*) FROM event_rows GROUP BY kind").fetchall()))


def test_a_coin_margined_run_settles_in_btc_and_replays_exactly(coin_run):
    _scenario, path, live = coin_run
    result = fold(path)
    assert result.summary == live
    state = result.state
    assert violations(state) == []
    assert state.inverse.keys() == {0} and state.assets[0].symbol == "BTC"
    counts = kinds(path)
    assert counts["liquidation_completed"] > 0 and counts["funding_paid"] > 0
    # The crash liquidates longs whose coin went below zero: each debt bought back in quote before the waterfall.
    assert counts["collateral_seized"] > 0
    assert live.markets["BTCUSD-PERP"].settles_in == "BTC"
    assert state.asset_pool[0] > 0 and state.asset_clearing[0] == 0  # coin fees and dust kept; funding cleared
    assert int(state.collateral[:, 0].sum()) + state.asset_pool[0] == int(state.asset_deposits[0])
    assert state.fee_pool == 0  # every fee was paid in BTC
    assert live.asset_pools == {"BTC": f"{state.asset_pool[0] / 10**8:.8f}"}


def test_coin_debts_are_repaid_by_negative_seizures(coin_run):
    _scenario, path, _live = coin_run
    with EventLogReader(path) as reader:
        rows = [ev.to_builtins(e) for _seq, e in reader.events(kinds=["collateral_seized"])]
    repaid = [r for r in rows if r["amount"] < 0]
    assert repaid and all(r["value"] < 0 for r in repaid)


def test_a_coin_margined_run_writes_the_same_bytes_for_the_same_seed(coin_run, tmp_path):
    scenario, path, live = coin_run
    again = tmp_path / "again.sqlite"
    assert run_scenario(scenario, 2, again).head_hash == live.head_hash
    assert again.read_bytes() == path.read_bytes()


def test_a_wrong_inverse_scenario_is_refused_with_a_clear_message():
    with pytest.raises(ConfigError, match="settlement_asset 'ETH' is not a listed collateral asset"):
        load_scenario(SCENARIO, ["market.settlement_asset=ETH"])
    with pytest.raises(ConfigError, match="must have no haircut"):
        load_scenario(SCENARIO, ['collateral=[{asset="BTC", decimals=8, price="60000", haircut="0.1"}]'])
    with pytest.raises(ConfigError, match="is not modelled for inverse perpetuals"):
        load_scenario(SCENARIO, ["liquidation.execution=fund"])
    with pytest.raises(ConfigError, match="portfolio margin of inverse perpetuals"):
        load_scenario(SCENARIO, ["population.margin_mode=portfolio"])
    with pytest.raises(ConfigError, match="not a whole number of coin units"):
        load_scenario(SCENARIO, ["market.tick_size=0.3", "price.initial=60000.3"])
    with pytest.raises(ConfigError, match="follows 'NOPE' is not a listed market"):
        load_scenario(SCENARIO, ["collateral.0.follows=NOPE"])
    with pytest.raises(ConfigError, match="inverse_perpetual needs settlement_asset"):
        load_scenario(SCENARIO, ["market.settlement_asset="])
