"""`clearing optimise`'s parsing: the search space, the objective and bounds, and the Pareto front, by hand."""

from __future__ import annotations

from decimal import Decimal

import pytest

from clearing.apps.optimise import (
    Constraint,
    Objective,
    Study,
    finished_trials,
    pareto_front,
    parse_constraint,
    parse_objective,
    parse_space,
)
from clearing.apps.optimise.space import suggest
from clearing.apps.optimise.study import open_study
from clearing.errors import ConfigError

optuna = pytest.importorskip("optuna")


def test_a_space_of_integers_decimals_logs_and_lists():
    fund, rate, heartbeat, policy, fee = parse_space([
        "insurance_fund.initial=1000000:50000000", "market.maintenance_margin_rate=0.002:0.02",
        "oracle.heartbeat_s=1:3600:log", "oracle.policy=push,pull", "market.taker_fee_rate=0:0.001:0.0001",
    ])  # fmt: skip
    assert fund.integer and (fund.low, fund.high) == (1_000_000, 50_000_000)
    assert not rate.integer and rate.step == Decimal("0.00001")  # a thousandth of the range, down to a power of ten
    assert heartbeat.integer and heartbeat.log
    assert policy.choices == ("push", "pull")
    assert fee.step == Decimal("0.0001") and not fee.integer
    assert [d.describe() for d in (rate, heartbeat, policy)] == [
        "market.maintenance_margin_rate=0.002:0.02:0.00001", "oracle.heartbeat_s=1:3600:log", "oracle.policy=push,pull"]


@pytest.mark.parametrize(("option", "message"), [
    ("x", "expected dotted.key=LOW:HIGH"),
    ("a=2:1", "LOW must be below HIGH"),
    ("a=0:1:log", "a log range must be positive"),
    ("a=0:1:-0.1", "STEP must be positive"),
    ("a=0:one", "'one' is not a number"),
    ("a=push", "two or more distinct values"),
    ("a=1:2:3:4", "expected LOW:HIGH"),
    ("a=0:inf", "not a finite number"),
])  # fmt: skip
def test_a_bad_dimension_is_refused_naming_it(option, message):
    with pytest.raises(ConfigError, match=message):
        parse_space([option])


def test_a_key_given_twice_or_no_space_is_refused():
    with pytest.raises(ConfigError, match="given twice"):
        parse_space(["a=1:2", "a=3:4"])
    with pytest.raises(ConfigError, match="at least one --space"):
        parse_space([])


def test_drawn_values_are_exact_override_text_on_their_grid():
    rate, log, whole, step = parse_space(["r=0.002:0.02", "h=0.5:3600:log", "n=10:100:5", "f=0:0.001:0.0001"])
    trial = optuna.trial.FixedTrial({"r": 0.005120000000000001, "h": 12.3456, "n": 35, "f": 0.00030000000000000003})
    assert suggest(trial, rate) == "0.00512"  # float noise off, on the 0.00001 grid
    assert suggest(trial, log) == "12.3"  # three significant figures
    assert suggest(trial, whole) == "35"
    assert suggest(trial, step) == "0.0003"  # not 0.00030000000000000003


def test_objectives_and_constraints():
    assert parse_objective("margin") == ("margin", False)
    assert parse_objective("fee_pool") == ("fee_pool", True)  # revenue: more is better
    assert parse_objective("bad_debt:max") == ("bad_debt", True)
    assert parse_constraint("bad_debt<=100000") == Constraint("bad_debt", 100_000.0, True)
    assert parse_constraint("insurance_fund_min >= 5e5") == Constraint("insurance_fund_min", 500_000.0, False)
    for bad, message in [("nope", "unknown metric 'nope'"), ("margin:up", "direction is min or max"),
                         ("bad_debt<100", "expected METRIC<=BOUND"), ("bad_debt<=x", "'x' is not a number")]:  # fmt: skip
        with pytest.raises(ConfigError, match=message):
            (parse_objective if ":" in bad or bad == "nope" else parse_constraint)(bad)


def test_the_pareto_front_is_the_feasible_trials_nothing_beats_checked_by_enumeration(tmp_path):
    bound = Constraint("bad_debt", 50.0, True)
    study = Study(("s.toml",), tuple(parse_space(["x=0:1"])), Objective("margin", False), (bound,), 1, 0, (), 1, None)
    o = open_study(study, tmp_path)
    points = [(1, 45), (1, 48), (2, 30), (2, 45), (3, 30), (4, 5), (5, 0), (5, 5), (0.5, 70), (2, 30)]
    for m, b in points:  # told as `run_study` tells them
        t = o.ask()
        t.set_user_attr("params", {"x": str(m)})
        t.set_user_attr("violations", [bound.violation(b)])
        t.set_constraint(bound.describe(), bound.violation(b))
        o.tell(t, [m, b])
    trials = finished_trials(tmp_path)
    feasible = [t for t in trials if t.feasible]

    def beats(o, t):
        a, b = (o.objective, o.worst["bad_debt"]), (t.objective, t.worst["bad_debt"])
        return a != b and a[0] <= b[0] and a[1] <= b[1]

    by_hand = [t.number for t in feasible if not any(beats(o, t) for o in feasible)]
    front = pareto_front(trials, False)
    assert sorted(t.number for t in front) == sorted(by_hand) == [0, 2, 5, 6, 9]  # (0.5, 70) breaks the bound
    assert [t.objective for t in front] == [1, 2, 2, 4, 5]  # least margin first
    assert [t.feasible for t in trials] == [b <= 50 for _m, b in points]
