"""`clearing run --check-invariants`: exact conservation checked every batch of events; the first violation names its seq."""

from __future__ import annotations

from pathlib import Path

import pytest

from clearing.apps.lifecycle import RunLifecycle
from clearing.cli import main
from clearing.errors import DataError, InvariantViolation
from clearing.log.writer import ChainSink
from clearing.scenario import load_scenario
from clearing.sim.world import build_world
from tests.conftest import SCENARIOS

SHORT = ["duration_s=300", "population.accounts=400"]


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.toml")), ids=lambda p: p.stem)
def test_every_shipped_scenario_keeps_every_law_through_its_first_minutes(path: Path) -> None:
    scenario = load_scenario(path, SHORT)
    try:
        run = RunLifecycle(scenario, 0)
    except DataError as e:  # a tape scenario, without CLEARING_DATA_DIR (CI sets it: .ci/run)
        pytest.skip(str(e))
    state = run.execute(ChainSink(run.genesis()), check_every=250)
    assert state.events_applied > 250  # checked more than once


def test_the_first_broken_law_stops_the_run_naming_its_seq() -> None:
    scenario = load_scenario(SCENARIOS / "synthetic-crash.toml", SHORT)
    run = RunLifecycle(scenario, 0)
    world = build_world(scenario, 0, ChainSink(run.genesis()), run.inputs, check_every=100)

    def thief():  # money out of nowhere at t = 60 s
        yield world.env.timeout(60 * 10**9)
        world.state.cash[0] += 1

    world.env.process(thief())
    with pytest.raises(InvariantViolation, match=r"after seq \d+: money: cash .* != deposits"):
        world.run()
    assert world.env.now >= 60 * 10**9


def test_the_command_checks_and_writes_the_log_an_unchecked_run_writes(tmp_path, capsys) -> None:
    argv = ["run", str(SCENARIOS / "synthetic-crash.toml"), "--set", "duration_s=1200", "--set", "population.accounts=1000",
            "--progress", "never", "--json"]  # fmt: skip
    assert main([*argv, "--out", str(tmp_path / "a.sqlite"), "--check-invariants"]) == 0
    assert main([*argv, "--out", str(tmp_path / "b.sqlite")]) == 0
    checked, plain = capsys.readouterr().out.splitlines()
    assert checked == plain.replace("b.sqlite", "a.sqlite") and (tmp_path / "a.sqlite").read_bytes() == (
        tmp_path / "b.sqlite").read_bytes()  # fmt: skip
