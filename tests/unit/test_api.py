"""The package root is the public API: each name resolves, and a run replays through it."""

import subprocess
import sys

import pytest

import clearing
from tests.conftest import SCENARIOS


def test_every_api_name_resolves_and_unknown_names_fail():
    for name in clearing.__all__:
        assert getattr(clearing, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        _ = clearing.nothing


def test_importing_the_package_loads_no_layer():
    code = "import sys, clearing; print(sorted(m for m in sys.modules if m.startswith('clearing.')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_run_written_through_the_api_replays_to_the_same_head(tmp_path):
    scenario = clearing.load_scenario(SCENARIOS / "synthetic-crash.toml", ["duration_s=600", "population.accounts=100"])
    ran = clearing.run_scenario(scenario, 3, tmp_path / "run.sqlite")
    replayed = clearing.replay(tmp_path / "run.sqlite")
    assert (replayed.head_hash, replayed.events) == (ran.head_hash, ran.events)
    assert clearing.verify_log(tmp_path / "run.sqlite").head_hash == ran.head_hash
