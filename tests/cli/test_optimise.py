"""`clearing optimise`: Optuna over the sweep machinery; the least margin whose worst run keeps bad debt under a bound."""

from __future__ import annotations

import json
import sqlite3
from decimal import Decimal

import pytest

from clearing.cli import main
from tests.cli.test_cli import CRASH
from tests.cli.test_sweep import TINY

optuna = pytest.importorskip("optuna")

RATE = ["--space", "market.maintenance_margin_rate=0.002:0.02"]
ARGS = [CRASH, *TINY, *RATE, "--constraint", "bad_debt<=2000", "--batch", "2", "--workers", "2", "--progress", "never"]


def study(out, trials, capsys, *extra):
    assert main(["optimise", *ARGS, *extra, "--trials", str(trials), "--out", str(out), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture(scope="module")
def four(tmp_path_factory):
    out = tmp_path_factory.mktemp("opt") / "s"
    assert main(["optimise", *ARGS, "--trials", "4", "--out", str(out), "--json"]) == 0
    return out


def _result(out, capsys):
    # Re-open the finished study: asking for no more trials than it has runs nothing.
    return study(out, 4, capsys)


def test_each_trial_is_cleared_and_the_best_is_the_least_margin_that_holds_the_bound(four, capsys):
    r = _result(four, capsys)
    trials = r["trials"]
    assert len(trials) == 4 and {t["state"] for t in trials} <= {"complete", "failed"}
    complete = [t for t in trials if t["state"] == "complete"]
    assert complete, r
    held = [t for t in complete if t["worst"]["bad_debt"] <= 2000]
    assert all(t["feasible"] == (t in held) for t in complete)
    if held:
        assert r["best"]["number"] == min(held, key=lambda t: t["objective"])["number"]
    for t in trials:
        if t["state"] == "failed":  # a rate the population's 100x leverage leaves no room above
            assert "leaves no room above maintenance margin" in t["error"]
    assert (four / "pareto.png").is_file() and (four / "study.db").is_file()
    with sqlite3.connect(four / "results.sqlite") as db:
        assert db.execute("SELECT count(*) FROM runs WHERE status = 'complete'").fetchone()[0] == len(complete)


def test_margin_is_the_traders_requirement_once_in_linear_in_the_maintenance_rate(four, capsys):
    # The same population (seed, sizes, entry prices) at each rate: each account's requirement is its notional times
    # the rate, rounded up to a minor unit, so margin / rate is one notional within 120 accounts' rounding.
    complete = [t for t in _result(four, capsys)["trials"] if t["state"] == "complete"]
    notional = [t["objective"] / float(Decimal(t["params"]["market.maintenance_margin_rate"])) for t in complete]
    assert max(notional) - min(notional) < 0.00012 / 0.002 + 1e-6
    assert min(notional) > 100_000  # 120 traders' positions: a real amount, not zero


def test_a_study_stopped_and_resumed_proposes_what_one_run_at_once_does(four, tmp_path, capsys):
    first = study(tmp_path / "r", 2, capsys)
    assert [t["number"] for t in first["trials"]] == [0, 1]
    resumed = study(tmp_path / "r", 4, capsys)
    at_once = _result(four, capsys)
    assert [(t["params"], t["objective"]) for t in resumed["trials"]] == [(t["params"], t["objective"]) for t in at_once["trials"]]


def test_a_directory_holding_another_study_is_refused_in_one_line(four, capsys):
    argv = ["optimise", *ARGS, "--space", "oracle.heartbeat_s=10:600", "--trials", "4", "--out", str(four)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "holds a study with other space; use a new --out" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(("extra", "message"), [
    (["--objective", "nope"], "unknown metric 'nope'"),
    (["--constraint", "bad_debt=1"], "expected METRIC<=BOUND"),
    (["--space", "oracle.heartbeat_s=9:1"], "LOW must be below HIGH"),
    (["--set", "population.accounts=-1"], "population.accounts"),
    (["--trials", "0"], "--trials 0: expected at least 1"),
])  # fmt: skip
def test_bad_input_is_one_line_exit_2_and_nothing_written(tmp_path, capsys, extra, message):
    out = tmp_path / "bad"
    assert main(["optimise", CRASH, *RATE, *extra, "--out", str(out), "--progress", "never"]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_a_dask_cluster_runs_the_study_the_local_pool_runs(tmp_path, capsys):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        host="127.0.0.1", n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:  # fmt: skip
        on_dask = study(tmp_path / "d", 2, capsys, "--scheduler", cluster.scheduler_address)
    local = study(tmp_path / "l", 2, capsys)
    assert [(t["params"], t["objective"], t["worst"]) for t in on_dask["trials"]] == [
        (t["params"], t["objective"], t["worst"]) for t in local["trials"]]


def test_a_batch_interrupted_midway_is_not_counted_and_the_resumed_study_is_the_one_run_at_once(
    tmp_path, capsys, monkeypatch
):  # fmt: skip
    from clearing.apps.optimise import study as study_module

    args = [CRASH, *TINY, "--space", "market.maintenance_margin_rate=0.002:0.008", "--batch", "2", "--workers", "2",
            "--progress", "never", "--trials", "4", "--json"]  # fmt: skip
    assert main(["optimise", *args, "--out", str(tmp_path / "a")]) == 0
    at_once = json.loads(capsys.readouterr().out)
    real, calls = study_module.run_sweep, []

    def interrupted_second_batch(*a, **k):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt  # Ctrl-C while the second batch's runs are in flight
        return real(*a, **k)

    monkeypatch.setattr(study_module, "run_sweep", interrupted_second_batch)
    assert main(["optimise", *args, "--out", str(tmp_path / "i")]) == 130
    assert "run again to resume" in capsys.readouterr().err
    monkeypatch.setattr(study_module, "run_sweep", real)
    assert main(["optimise", *args, "--out", str(tmp_path / "i")]) == 0
    resumed = json.loads(capsys.readouterr().out)
    assert [t["number"] for t in resumed["trials"]] == [0, 1, 4, 5]  # 2 and 3 were stopped: failed, not counted
    assert [(t["params"], t["objective"]) for t in resumed["trials"]] == [(t["params"], t["objective"]) for t in at_once["trials"]]
    assert all(t["state"] == "complete" for t in resumed["trials"])
