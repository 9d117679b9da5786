"""Prices that liquidations can move (`[price_discovery]`): cascades deepen with the weight and the leverage,
and a fork with the liquidation engine off gives the path without them."""

from __future__ import annotations

import pytest

from clearing.apps.cascades import analyse_log
from clearing.apps.fork import fork_log
from clearing.apps.run import run_scenario
from clearing.errors import ConfigError
from clearing.log.reader import EventLogReader
from clearing.scenario import load_scenario
from tests.conftest import ROOT

SCENARIO = ROOT / "scenarios" / "synthetic-crash.toml"
# The crash (a 30 % fall from 3,600 s) meets makers who can hold little inventory: liquidation flow moves the book.
BASE = ["population.accounts=8000", "duration_s=5400", "checkpoint_interval_s=1800", "market_makers.inventory_limit=1500000",
        "market_makers.skew_bps=50"]  # fmt: skip
LEVERED = "population.leverage_weights=[0.02,0.03,0.05,0.2,0.2,0.2,0.2,0.1]"


def run(tmp_path, name, *extra):
    path = tmp_path / f"{name}.sqlite"
    summary = run_scenario(load_scenario(SCENARIO, [*BASE, *extra]), 1, path)
    return path, summary, analyse_log(path)


def index_path(path):
    with EventLogReader(path) as reader:
        return [(e.ts_ns, e.price_ticks) for _seq, e in reader.events(kinds=["index_price_updated"])]


def test_without_a_weight_the_index_is_the_path_and_the_scenario_is_unchanged():
    base = load_scenario(SCENARIO, BASE)
    assert load_scenario(SCENARIO, [*BASE, "price_discovery.weight=0"]).hash() == base.hash()
    assert load_scenario(SCENARIO, [*BASE, "price_discovery.weight=0.3"]).hash() != base.hash()


def cascaded(cascades):
    by = cascades.notional_by_generation()
    return sum(by[1:])  # the notional of every liquidation another one's flow caused


@pytest.mark.slow
def test_cascades_deepen_with_the_weight_and_with_leverage(tmp_path):
    runs = {w: run(tmp_path, f"w{w}", f"price_discovery.weight={w}") for w in (0, 0.4, 0.8)}
    notionals = [float(runs[w][1].liquidated_notional) for w in (0, 0.4, 0.8)]
    assert notionals[0] < min(notionals[1], notionals[2])  # an endogenous index liquidates more than the tape alone
    assert runs[0][2].generations == 1 and cascaded(runs[0][2]) == 0  # exogenous: no liquidation causes another
    for w in (0.4, 0.8):
        assert runs[w][2].generations > 1 and cascaded(runs[w][2]) > 0.25 * notionals[1] * 10**6
    levered = run(tmp_path, "levered", "price_discovery.weight=0.4", LEVERED)
    assert float(levered[1].liquidated_notional) > notionals[1]


def per_second(path, end_s):
    points, out, last, j = index_path(path), [], 0, 0
    for second in range(end_s + 1):
        while j < len(points) and points[j][0] <= second * 10**9:
            last, j = points[j][1], j + 1
        out.append(last)
    return out


@pytest.mark.slow
def test_an_index_move_cites_the_venue_prices_that_made_it_and_the_counterfactual_fork_stays_higher(tmp_path):
    path, summary, cascades = run(tmp_path, "w", "price_discovery.weight=0.8")
    with EventLogReader(path) as reader:
        cited = [e for _seq, e in reader.events(kinds=["index_price_updated"]) if e.causes]
    assert cited and cascades.amplification() > 1.0
    at = 3_600 * 10**9  # the crash starts: from here the engine is off in the fork
    fork = fork_log(path, at, ["liquidation.engine=off"], tmp_path / "off.sqlite")
    assert fork.summary.liquidations < summary.liquidations
    with EventLogReader(tmp_path / "off.sqlite") as reader:
        assert not [e for _seq, e in reader.events(kinds=["liquidation_completed"]) if e.ts_ns > at]
    original, without = per_second(path, 5400), per_second(tmp_path / "off.sqlite", 5400)
    assert original[:3600] == without[:3600]  # the same run up to the fork
    assert original[3600:] != without[3600:]  # from there the liquidation flow is what differs, and it moved the index


def test_options_refuse_an_endogenous_index():
    with pytest.raises(ConfigError, match="price_discovery.weight: options are priced"):
        load_scenario(ROOT / "scenarios" / "options-crash.toml", ["price_discovery.weight=0.2"])
