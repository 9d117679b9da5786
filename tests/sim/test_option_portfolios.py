"""Portfolio types under the grid in a run: strategies' legs, delta hedges, the incremental requirement, replay.

`scenarios/option-portfolios.toml` shortened: each strategy's traders hold exactly its legs;
hedged short strangles get hedge trades; the margin monitor's cached grid requirements equal
the pure computation at the end; a replay of the log reproduces the live summary and the
log's bytes are the same for the same seed.
"""

from __future__ import annotations

import numpy as np
import pytest

from clearing.apps.replay import fold
from clearing.apps.run import run_scenario
from clearing.core.agents.hedge import hedge_trades
from clearing.core.invariants import violations
from clearing.core.portfolio.revaluation import ScenarioCache
from clearing.core.risk import account_risk
from clearing.core.scenario_margin import table_cache_update, table_maintenance
from clearing.core.state import Role
from clearing.core.valuation import delta_exposure
from clearing.errors import ConfigError
from clearing.log.reader import EventLogReader
from clearing.scenario import load_scenario
from clearing.scenario.params import compile_params
from clearing.sim.accounts import trader_strategies
from tests.conftest import ROOT

SCENARIO = ROOT / "scenarios" / "option-portfolios.toml"
SHORT = ["duration_s=9000", "population.accounts=200", "checkpoint_interval_s=3000"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    path = tmp_path_factory.mktemp("portfolios") / "run.sqlite"
    return path, run_scenario(load_scenario(SCENARIO, SHORT), 3, path)


def test_each_strategy_holds_its_own_legs(run):
    path, live = run
    result = fold(path)
    assert result.summary == live and violations(result.state) == []
    params = compile_params(load_scenario(SCENARIO, SHORT))
    s = result.state
    symbols = {m.symbol: i for i, m in enumerate(s.markets)}
    strategy = trader_strategies(params.population)
    first = int(np.flatnonzero(s.role == Role.TRADER)[0])
    entered = [m for m in range(s.n_markets) if m in {mk for mk, _ in params.population.legs}]
    assert sorted(entered) == sorted({symbols[x] for x in ("BTCUSDT-PERP", "ETHUSDT-PERP", "BTCUSDT-Q", "BTC-1D-55000-P",
                                                           "BTC-1D-65000-C", "BTC-7D-65000-C", "BTC-7D-55000-P")})  # fmt: skip
    with EventLogReader(path) as reader:
        opened = {}
        for _seq, e in reader.events(kinds=["trade_executed"]):
            for account in (e.buyer, e.seller):
                if first <= account < first + params.population.accounts:
                    opened.setdefault(account - first, set()).add(e.market)
    for k, x in enumerate(params.population.strategies):
        legs = {m for m, _ in x.legs} | ({x.hedge_market} if x.hedge_market >= 0 else set())
        members = np.flatnonzero(strategy == k).tolist()
        assert members, x.name
        for i in members:
            assert opened.get(i, set()) <= legs, (x.name, i, opened.get(i))
            assert {m for m, _ in x.legs} <= opened.get(i, set()), (x.name, i)


def test_short_strangles_are_hedged_on_the_perpetual(run):
    path, _live = run
    params = compile_params(load_scenario(SCENARIO, SHORT))
    strangle = next(k for k, x in enumerate(params.population.strategies) if x.name == "short-strangle")
    first = int(np.flatnonzero(fold(path).state.role == Role.TRADER)[0])
    members = {first + i for i in np.flatnonzero(trader_strategies(params.population) == strangle).tolist()}
    with EventLogReader(path) as reader:
        hedges = [e for _seq, e in reader.events(kinds=["order_placed"]) if e.account in members and e.market == 0 and not e.liquidation]
    assert hedges, "no re-hedge order in 2.5 h with a 25 % crash"


def test_the_cached_grid_requirements_equal_the_full_computation(run):
    path, _live = run
    s = fold(path).state
    traders = np.flatnonzero((s.role == Role.TRADER) & s.position.any(axis=1))
    cache = ScenarioCache()
    table_cache_update(s, cache, None)
    _equity, cached = account_risk(s, traders, cache=cache)
    _equity, pure = account_risk(s, traders)
    assert np.array_equal(cached, pure)
    assert np.array_equal(pure, table_maintenance(s, s.position[traders]))
    held_options = s.position[traders][:, [m for m, c in s.contracts.items() if c.instrument == "option"]].any(axis=1)
    assert (pure[held_options] > 0).all()  # every option book needs margin; a future/perpetual basis may net to 0


def test_a_hedge_trade_brings_the_delta_within_one_lot(run):
    path, _live = run
    s = fold(path).state
    traders = np.flatnonzero((s.role == Role.TRADER) & s.position.any(axis=1))
    for account, lots in hedge_trades(s, traders, 0, 0, force=True):
        before = float(delta_exposure(s, np.array([account]), 0)[0])
        after = before + lots * float(s.unit_value[0])
        assert abs(after) <= 0.5 * float(s.unit_value[0]) + 1e-6


def test_same_seed_same_bytes(run, tmp_path):
    _path, live = run
    again = run_scenario(load_scenario(SCENARIO, SHORT), 3, tmp_path / "again.sqlite")
    assert again.head_hash == live.head_hash


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ('population.strategies=[{name="x", share=1.0, legs={"NOPE"=1.0}}]', "'NOPE' is not a listed market's symbol"),
        ('population.strategies=[{name="x", share=0.5, legs={"BTCUSDT-PERP"=1.0}}]', "shares sum to 0.5"),
        ('population.strategies=[{name="x", share=1.0, legs={"BTCUSDT-PERP"=1.0}, hedge="BTCUSDT-PERP"}]',
         "a hedge needs an option leg"),
        ('population.strategies=[{name="x", share=1.0, legs={"BTC-1D-55000-P"=1.0}, hedge="BTC-1D-65000-C"}]',
         "is not a perpetual or future"),
    ],
)
def test_bad_strategies_are_refused_with_a_clear_message(override, message):
    with pytest.raises(ConfigError, match=message):
        load_scenario(SCENARIO, [override])


def test_option_legs_opened_before_the_first_model_mark_trade_at_the_starting_model_price(tmp_path):
    # 2025-10-10's traders all enter at 0, before the option pricer's first mark: their option legs
    # open against the backstop at the model price the run started from, never at 0.
    scenario = load_scenario(ROOT / "scenarios" / "october-10-2025-portfolios.toml",
                             ["duration_s=300", "population.accounts=60", "checkpoint_interval_s=300"])  # fmt: skip
    path = tmp_path / "oct.sqlite"
    live = run_scenario(scenario, 0, path)
    result = fold(path)
    assert result.summary == live and violations(result.state) == []
    options = {m for m, c in result.state.contracts.items() if c.instrument == "option"}
    with EventLogReader(path) as reader:
        opened = [e for _seq, e in reader.events(kinds=["trade_executed"]) if e.ts_ns == 0 and e.market in options]
    assert opened and all(e.price_ticks > 0 for e in opened)
    assert set(live.modes) == {"isolated", "cross", "portfolio"}


def test_the_summary_counts_each_portfolio_type_from_its_strategy_assigned_event(run):
    path, live = run
    params = compile_params(load_scenario(SCENARIO, SHORT))
    s = fold(path).state
    first = int(np.flatnonzero(s.role == Role.TRADER)[0])
    strategy = trader_strategies(params.population)
    names = [x.name for x in params.population.strategies]
    assert list(live.strategies) == names == s.strategy_names
    liquidated: dict[int, int] = {}
    with EventLogReader(path) as reader:
        assigned = {e.name: e.accounts for _seq, e in reader.events(kinds=["strategy_assigned"])}
        for _seq, e in reader.events(kinds=["liquidation_completed"]):
            liquidated[e.account] = liquidated.get(e.account, 0) + 1
    for k, name in enumerate(names):
        members = (first + np.flatnonzero(strategy == k)).tolist()  # every trader here is portfolio-margined: one account
        assert list(assigned[name]) == members and live.strategies[name].traders == len(members)
        assert live.strategies[name].liquidations == sum(liquidated.get(a, 0) for a in members)
        assert live.strategies[name].accounts_liquidated == sum(1 for a in members if a in liquidated)
    assert sum(x.liquidations for x in live.strategies.values()) == sum(liquidated.values())
