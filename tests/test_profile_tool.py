"""`tools/profile_run.py` (the per-process profile of docs/performance.md) splits a run's time by SimPy process."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import ROOT, SCENARIOS


def test_the_profile_names_the_runs_processes_and_the_shared_parts() -> None:
    child = subprocess.run([sys.executable, "tools/profile_run.py", str(SCENARIOS / "synthetic-crash.toml"), "--set",
                            "duration_s=300", "--set", "population.accounts=200", "--json"], cwd=ROOT, capture_output=True,
                           text=True, check=True)  # fmt: skip
    result = json.loads(child.stdout)
    assert result["events"] > 1_000 and result["log"] is True
    processes, shared = result["processes"], result["shared"]
    # The exchange's own processes, each a generator function of clearing.sim, with a share of the run.
    for name in ("market_maker.market_maker_process", "takers.noise_taker_process", "oracle_feed._sample",
                 "oracle_feed._rounds"):  # fmt: skip
        assert 0 < processes[name] < 1, name
    assert not any(name.endswith(("emit", "apply", "append")) for name in processes)  # functions, not processes
    assert 0 < shared["reducers (apply)"] < 1 and 0 < shared["log: hash chain and row"] < 1
    assert max(processes.values()) <= 1


def test_a_wrong_scenario_is_one_line_and_exit_2(tmp_path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\nduration_s = -1\n')
    child = subprocess.run([sys.executable, "tools/profile_run.py", str(bad)], cwd=ROOT, capture_output=True, text=True)
    assert child.returncode == 2 and child.stderr.count("\n") == 1 and "duration_s" in child.stderr
