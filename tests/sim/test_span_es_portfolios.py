"""Portfolio types margined by SPAN's risk arrays and by filtered expected shortfall, in a run.

`scenarios/option-portfolios.toml` shortened, its method switched: every option book needs
margin; a basis trade (a dated future against the perpetual) pays SPAN's intra-commodity
charge; a short option needs at least SPAN's short option minimum; the monitor's cached
requirements equal the pure computation; a replay reproduces the live run. Under "es" the
stress scenarios come from bar files in the data directory, joined on their times, and are
recorded in the log's `es_margin_configured` with the files' hashes in its header.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from clearing.apps.replay import fold
from clearing.apps.run import run_scenario
from clearing.core.portfolio.revaluation import ScenarioCache, table_charges
from clearing.core.risk import account_risk
from clearing.core.scenario_margin import scenario_tables, table_cache_update, table_maintenance, table_rule
from clearing.core.state import Role
from clearing.errors import DataError
from clearing.log.reader import EventLogReader
from clearing.scenario import load_scenario
from clearing.scenario.params import compile_params
from clearing.sim.accounts import trader_strategies
from tests.builders import write_minute_bars
from tests.conftest import ROOT

SCENARIO = ROOT / "scenarios" / "option-portfolios.toml"
SHORT = ["duration_s=5400", "population.accounts=120", "checkpoint_interval_s=1800"]
START_MS = 1_704_067_200_000  # the scenario's epoch, 2024-01-01


@pytest.fixture(scope="module")
def span_run(tmp_path_factory):
    path = tmp_path_factory.mktemp("span") / "run.sqlite"
    scenario = load_scenario(SCENARIO, [*SHORT, "portfolio.method=span"])
    return path, scenario, run_scenario(scenario, 3, path)


def _members(scenario, s, name):
    params = compile_params(scenario)
    k = [x.name for x in params.population.strategies].index(name)
    first = int(np.flatnonzero(s.role == Role.TRADER)[0])
    return first + np.flatnonzero(trader_strategies(params.population) == k)


def test_a_span_log_replays_and_its_cache_equals_the_full_computation(span_run):
    path, _scenario, live = span_run
    result = fold(path)
    assert result.summary == live
    s = result.state
    assert s.table_method == "span" and s.span_config is not None
    traders = np.flatnonzero((s.role == Role.TRADER) & s.position.any(axis=1))
    cache = ScenarioCache(table_rule(s))
    table_cache_update(s, cache, None)
    _equity, cached = account_risk(s, traders, cache=cache)
    _equity, pure = account_risk(s, traders)
    assert np.array_equal(cached, pure) and np.array_equal(pure, table_maintenance(s, s.position[traders]))
    options = [m for m, c in s.contracts.items() if c.instrument == "option" and m not in s.settlement_prices]
    held = s.position[traders][:, options].any(axis=1)
    assert held.any() and (pure[held] > 0).all()


def test_span_charges_a_basis_trade_and_floors_short_options(span_run):
    path, scenario, _live = span_run
    s = fold(path).state
    tables = scenario_tables(s)
    btc = next(u for u, t in tables.items() if t.tiers is not None and t.tiers.shape[1] > 1)
    table = tables[btc]
    basis = [a for a in _members(scenario, s, "basis") if s.position[a].any()]
    assert basis
    intra, _som = table_charges(s.position[basis][:, table.markets], table)
    assert (intra > 0).all()  # the future's and the perpetual's deltas match across tiers
    _equity, requirement = account_risk(s, np.array(basis))
    scan = table_maintenance(s, s.position[basis])
    assert np.array_equal(requirement, scan) and (scan >= intra).all()
    strangles = [a for a in _members(scenario, s, "short-strangle") if (s.position[a][table.markets] < 0).any()]
    assert strangles
    _intra, som = table_charges(s.position[strangles][:, table.markets], table)
    assert (som > 0).all() and (table_maintenance(s, s.position[strangles]) >= som).all()


def _bars(path, closes):
    write_minute_bars(path, START_MS, closes)


@pytest.fixture(scope="module")
def es_run(tmp_path_factory):
    data = tmp_path_factory.mktemp("data")
    down = [60_000 * (1 - 0.002 * i) for i in range(120)]
    _bars(data / "btc-stress.csv", [f"{x:.1f}" for x in down])
    _bars(data / "eth-stress.csv", [f"{x / 20:.2f}" for x in down])
    scenario = load_scenario(SCENARIO, [
        *SHORT, "portfolio.method=es", "portfolio.es_step_s=60", "portfolio.es_window=200", "portfolio.es_tail=3",
        'portfolio.es.stress_files={"BTCUSDT-PERP" = ["btc-stress.csv"], "ETHUSDT-PERP" = ["eth-stress.csv"]}',
    ])  # fmt: skip
    path = data / "run.sqlite"
    return path, scenario, run_scenario(scenario, 3, path, data_dir=data)


def test_an_es_run_records_its_stress_scenarios_and_replays(es_run):
    path, _scenario, live = es_run
    with EventLogReader(path) as reader:
        config = [e for _seq, e in reader.events(kinds=["es_margin_configured"])]
        inputs = json.loads(reader.header.inputs_json)
    assert len(config) == 1 and config[0].stress_source == "btc-stress.csv, eth-stress.csv"
    assert len(config[0].stress_returns_ppm) == 119 and config[0].stress_returns_ppm[0][0] == -2_000
    assert set(inputs) >= {"btc-stress.csv", "eth-stress.csv"}
    result = fold(path)
    assert result.summary == live
    s = result.state
    traders = np.flatnonzero((s.role == Role.TRADER) & s.position.any(axis=1))
    cache = ScenarioCache(table_rule(s))
    table_cache_update(s, cache, None)
    assert np.array_equal(account_risk(s, traders, cache=cache)[1], account_risk(s, traders)[1])
    longs = traders[s.position[traders, 0] > 0]
    assert (account_risk(s, longs)[1] > 0).all()  # a long perpetual loses in the stress rows


def test_a_missing_stress_file_is_a_clear_error(tmp_path):
    scenario = load_scenario(SCENARIO, [*SHORT, "portfolio.method=es", 'portfolio.es.stress_files={"BTCUSDT-PERP" = ["nowhere.csv"]}'])
    with pytest.raises(DataError, match="nowhere.csv"):
        run_scenario(scenario, 3, tmp_path / "run.sqlite", data_dir=tmp_path)
    assert not (tmp_path / "run.sqlite").exists()


def test_before_the_window_fills_the_stress_rows_only_floor_the_linear_requirement(es_run):
    # With 3 samples of the window (es_tail 3 needs 4), a portfolio account needs at least its markets'
    # bracket maintenance (and its short options' standard margin), whatever the stress rows say.
    from clearing.core.margin import maintenance_amounts
    from clearing.core.scenario_margin import stress_floor_only
    from clearing.core.valuation import live_options, market_values, valuation_prices

    path, _scenario, _live = es_run
    s = fold(path, until_ns=200 * 10**9).state
    assert stress_floor_only(s)
    traders = np.flatnonzero((s.role == Role.TRADER) & s.position.any(axis=1))
    assert traders.size
    values = market_values(s, s.position[traders], valuation_prices(s))
    options = set(live_options(s))
    linear = sum(maintenance_amounts(np.abs(values[:, m]), s.brackets[m]) for m in range(s.n_markets) if m not in options)
    requirement = account_risk(s, traders)[1]
    assert (requirement >= linear).all() and (linear > 0).any()  # long options alone may need nothing


@pytest.mark.parametrize(("override", "message"), [
    ('portfolio.es.stress_files={"BTCUSDT-Q" = ["x.csv"]}', "'BTCUSDT-Q' is not an underlying"),
    ('portfolio.es.stress_files={"BTC-1D-55000-P" = ["x.csv"]}', "'BTC-1D-55000-P' is not an underlying"),
    ("portfolio.span.vol_scan=0.3", "portfolio.span is set but portfolio.method is 'grid'"),
    ("portfolio.es.ewma_lambda=0.94", "portfolio.es is set but portfolio.method is 'grid'"),
])  # fmt: skip
def test_misplaced_span_and_es_keys_are_refused(override, message):
    from clearing.errors import ConfigError

    extra = [] if "span" in override or "ewma" in override else ["portfolio.method=es"]
    with pytest.raises(ConfigError, match=message):
        load_scenario(SCENARIO, [*extra, override])


def test_stress_bars_of_another_interval_are_refused(tmp_path):
    rows = ["ts,open,high,low,close,volume"] + [f"{START_MS + 300_000 * i},60000,60000,60000,60000,1" for i in range(20)]
    (tmp_path / "five.csv").write_text("\n".join(rows) + "\n")
    scenario = load_scenario(SCENARIO, [*SHORT, "portfolio.method=es", 'portfolio.es.stress_files={"BTCUSDT-PERP" = ["five.csv"]}'])
    with pytest.raises(DataError, match="five.csv: bars of 300 s, expected 1-minute bars"):
        run_scenario(scenario, 3, tmp_path / "run.sqlite", data_dir=tmp_path)
