"""Margin calls before liquidation (`[margin_calls]`): who is called, what the answers do, replay, and off by default."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from clearing.apps.replay import fold
from clearing.apps.run import run_scenario
from clearing.core.invariants import violations
from clearing.core.risk import initial_requirements
from clearing.log.reader import EventLogReader
from clearing.scenario import load_scenario
from tests.conftest import ROOT

SCENARIO = ROOT / "scenarios" / "option-portfolios.toml"
SHORT = ["duration_s=9000", "population.accounts=300", "checkpoint_interval_s=3000"]
CALLS = [*SHORT, "margin_calls.enabled=true", "margin_calls.reaction_mean_s=120"]


def events(path, *kinds):
    with EventLogReader(path) as reader:
        return list(reader.events(kinds=list(kinds)))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    where = tmp_path_factory.mktemp("calls")
    with_calls = where / "calls.sqlite"
    without = where / "none.sqlite"
    return (with_calls, run_scenario(load_scenario(SCENARIO, CALLS), 5, with_calls),
            without, run_scenario(load_scenario(SCENARIO, SHORT), 5, without))  # fmt: skip


def test_calls_go_to_accounts_between_maintenance_and_initial_and_replay_checks_them(runs):
    path, live, _without, _ = runs
    result = fold(path)  # the replay recomputes each call's equity and requirement
    assert result.summary == live and violations(result.state) == []
    calls = events(path, "margin_called")
    assert calls, "a 25 % crash called nobody"
    for _seq, e in calls:
        assert e.requirement <= e.equity < e.initial
        assert e.initial == -((-e.requirement * 10**6) // 800_000)  # the grid's mm_factor 0.8
    assert live.margin_calls["calls"] == len(calls)
    assert sum(live.margin_calls[r] for r in ("top_up", "reduce", "none")) == len(calls)


def test_an_account_is_called_again_only_after_the_repeat_interval(runs):
    path = runs[0]
    last: dict[int, int] = {}
    for _seq, e in events(path, "margin_called"):
        if e.account in last:
            assert e.ts_ns - last[e.account] >= 3600 * 10**9
        last[e.account] = e.ts_ns


def test_answers_cite_their_call_and_top_ups_stay_within_outside_funds(runs):
    path = runs[0]
    calls = dict(events(path, "margin_called"))
    first_initial: dict[int, int] = {}
    for _seq, e in sorted(calls.items()):
        first_initial.setdefault(e.account, e.initial)
    topped: dict[int, int] = {}
    for _seq, e in events(path, "margin_topped_up"):
        call = calls[e.causes[0]]
        assert call.account == e.account and call.response == "top_up" and e.ts_ns == call.ts_ns + call.delay_ns
        topped[e.account] = topped.get(e.account, 0) + e.amount
    assert topped, "nobody topped up"
    for account, amount in topped.items():
        assert amount <= first_initial[account]  # outside funds: 1 x the initial requirement at the first call
    reductions = [e for _seq, e in events(path, "order_placed") if e.causes and e.causes[0] in calls]
    assert reductions and all(e.reduce_only and calls[e.causes[0]].response == "reduce" for e in reductions)


def test_calls_soften_the_crash_on_the_same_path(runs):
    _path, live, _without, without = runs
    assert live.margin_breaches < without.margin_breaches


def test_off_by_default_nothing_is_called(runs):
    _path, _live, without, summary = runs
    assert events(without, "margin_called", "margin_topped_up") == [] and summary.margin_calls == {}


def test_the_initial_requirement_uses_the_call_level_outside_the_grid():
    state = SimpleNamespace(grid_config=None, margin_mode=np.array([0, 0], np.int8))
    got = initial_requirements(state, np.array([0, 1]), np.array([1_000_000, 7]), 800_000)  # type: ignore[arg-type]
    assert got.tolist() == [1_250_000, 9]  # maintenance / 0.8, rounded up
