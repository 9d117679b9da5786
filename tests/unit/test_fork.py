"""The scenario's `[fork]` section: hashing, validation, refusals, and the world applying it."""

import json
import shutil

import pytest
from pydantic import ValidationError

from clearing.apps.diff import metric_delta, scenario_changes
from clearing.apps.run import run_in_memory
from clearing.errors import ConfigError
from clearing.scenario import FORKABLE_KEYS, Scenario, fork_refusal, load_scenario
from tests.builders import payload_dict
from tests.conftest import SCENARIOS, small_scenario

CRASH = SCENARIOS / "synthetic-crash.toml"


def with_fork(scenario, **fork):
    data = json.loads(scenario.canonical_json())
    data["fork"] = fork
    return Scenario.model_validate(data)


def test_a_scenario_without_a_fork_hashes_as_before():
    sc = load_scenario(CRASH)
    assert sc.fork is None and '"fork"' not in sc.canonical_json()
    assert Scenario.model_validate_json(sc.canonical_json()).hash() == sc.hash()
    forked = with_fork(sc, at_s=100, set={"oracle.latency_ms": 5000})
    assert forked.hash() != sc.hash() and '"fork"' in forked.canonical_json()
    assert Scenario.model_validate_json(forked.canonical_json()) == forked


def test_the_fork_section_loads_from_toml_with_dotted_or_quoted_keys(tmp_path):
    path = tmp_path / "f.toml"
    shutil.copy(CRASH, tmp_path / "crash.toml")  # an included file lives beside the scenario
    path.write_text(
        'include = ["crash.toml"]\nname = "f"\n[fork]\nat_s = 600\n[fork.set]\noracle.heartbeat_s = 60\n"liquidation.slippage" = "0.002"\n'
    )
    sc = load_scenario(path)
    assert sc.fork is not None and sc.fork.set == {"oracle.heartbeat_s": 60, "liquidation.slippage": "0.002"}
    after = sc.after_fork()
    assert after.fork is None and after.oracle.heartbeat_s == 60 and str(after.liquidation.slippage) == "0.002"
    assert after.oracle.latency_ms == sc.oracle.latency_ms


@pytest.mark.parametrize(
    ("fork", "message"),
    [
        ({"at_s": 7200, "set": {"oracle.heartbeat_s": 60}}, "fork.at_s 7200.0 is not inside the run"),
        ({"at_s": 0, "set": {"oracle.heartbeat_s": 60}}, "greater than 0"),
        ({"at_s": 10, "set": {}}, "at least 1 item"),
        ({"at_s": 10, "set": {"price.volatility": 2}}, "price.volatility is the index path, drawn up front"),
        ({"at_s": 10, "set": {"oracle.policy": "pull"}}, "oracle.policy decides which oracle processes run"),
        ({"at_s": 10, "set": {"oracle.heartbeat_s": 0}}, "oracle.heartbeat_s: Input should be greater than 0"),
        ({"at_s": 10, "set": {"oracle.latency_sigma": 1.0}}, "only latency_model lognormal reads it"),
        ({"at_s": 10, "set": {"liquidation.execution": "fund"}}, "would need the fund's account"),
        ({"at_s": 10, "set": {"liquidation.liquidators": 4}}, "number of liquidator processes"),
        ({"at_s": 10, "set": {"epoch": "2020-01-01T00:00:00Z"}}, "describes the whole run"),
    ],
)
def test_invalid_forks_are_refused(fork, message):
    with pytest.raises(ValidationError, match=message):
        with_fork(load_scenario(CRASH), **fork)


def test_a_model_switch_may_come_with_its_parameter():
    sc = with_fork(load_scenario(CRASH), at_s=10, set={"oracle.latency_model": "lognormal", "oracle.latency_sigma": 0.5})
    assert sc.after_fork().oracle.latency_model == "lognormal"


def test_every_forkable_key_is_a_scenario_key_and_every_other_key_says_why():
    sc = load_scenario(CRASH).model_dump()
    for key in FORKABLE_KEYS:
        node = sc
        for part in key.split("."):
            node = node[part]
        assert fork_refusal(key) is None
    for key in ("market.tick_size", "markets.0.symbol", "collateral.0.haircut", "insurance_fund.initial", "mark.method",
                "funding.cap", "market_makers.levels", "noise_takers.count", "arbitrageurs.count", "portfolio.method",
                "liquidity_provider.collateral", "liquidation.service_time_ms", "liquidation.priority",
                "liquidation.fund_offload_notional", "oracle.cadence_ms", "oracle.observe_interval_ms", "oracle.source"):  # fmt: skip
        why = fork_refusal(key)
        assert why and why.startswith(f"{key} ") and "a fork cannot change it" in why, key


def test_the_world_applies_the_changes_at_the_fork_time_only():
    base = small_scenario()
    changed = with_fork(base, at_s=1000, set={"oracle.latency_ms": 7000, "liquidation.max_slippage": "0.0001"})
    _, parent = run_in_memory(base, 3)
    summary, sink = run_in_memory(changed, 3)
    at = 1000 * 10**9
    assert [r[:6] for r in sink.rows if r[1] < at] == [r[:6] for r in parent.rows if r[1] < at]
    lags = {
        payload_dict(r[5])["ts_ns"] - payload_dict(r[5])["ts_published_ns"] >= 7 * 10**9
        for r in sink.rows
        if r[2] == "oracle_price_delivered" and payload_dict(r[5])["ts_published_ns"] >= at
    }
    assert lags == {True}
    assert summary.liquidation_fills_backstop > 0  # a 1 bp limit leaves the rest to the backstop


def test_metric_delta_and_scenario_changes():
    assert metric_delta(3, 5) == 2 and metric_delta("1.500000", "1.250000") == "-0.250000"
    assert metric_delta(1.5, 2.0) == 0.5 and metric_delta("abc", "abd") is None
    assert metric_delta("1cfb38a3", "85f4c765") is None and metric_delta(True, False) is None
    a = load_scenario(CRASH)
    b = with_fork(a, at_s=10, set={"oracle.heartbeat_s": 60})
    assert scenario_changes(a.canonical_json(), b.canonical_json()) == {
        "fork.at_s": (None, 10.0), "fork.parent_run_id": (None, ""), "fork.set.oracle.heartbeat_s": (None, 60),
    }  # fmt: skip
    with pytest.raises(ConfigError):
        load_scenario(CRASH, ["fork.at_s=10", "fork.set.market.tick_size=1"])
