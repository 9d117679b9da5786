"""A run with a dated future and options replays exactly, and the same seed writes the same bytes."""

from __future__ import annotations

import pytest

from clearing.apps.replay import fold
from clearing.apps.run import run_scenario
from clearing.core.invariants import violations
from clearing.scenario import load_scenario
from tests.conftest import ROOT
from tests.regression.test_head_hashes import OPTIONS


@pytest.fixture(scope="module")
def options_run(tmp_path_factory):
    scenario = load_scenario(ROOT / "scenarios" / "options-crash.toml", list(OPTIONS))
    path = tmp_path_factory.mktemp("options") / "run.sqlite"
    return scenario, path, run_scenario(scenario, 4, path)


def test_replay_of_an_options_run_reproduces_every_checkpoint_and_the_end(options_run):
    _scenario, path, live = options_run
    result = fold(path)
    assert result.summary == live
    assert result.checkpoints == 4 and result.checkpoints_skipped == 0  # at 300, 600 and 900 s, and the final one at 1,200 s
    state = result.state
    assert violations(state) == []
    assert state.settlement_prices.keys() == {2}  # the future expired at 1,100 s; the options live on
    assert len(state.surfaces) == 1 and len(state.contracts) == 31


def test_an_options_run_writes_the_same_bytes_for_the_same_seed(options_run, tmp_path):
    scenario, path, live = options_run
    again = tmp_path / "again.sqlite"
    assert run_scenario(scenario, 4, again).head_hash == live.head_hash
    assert again.read_bytes() == path.read_bytes()
    assert run_scenario(scenario, 5, tmp_path / "other.sqlite").head_hash != live.head_hash
