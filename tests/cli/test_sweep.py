"""`clearing sweep`: a grid times seeds in parallel, resumable, with results, CSV and plots."""

import csv
import json
import os
import sqlite3
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from clearing.apps import sweep
from clearing.apps.run import run_scenario
from clearing.cli import main
from clearing.errors import ConfigError
from clearing.scenario import load_scenario
from tests.cli.test_cli import CRASH, clearing

# A short crash (liquidations in every run, a few seconds each).
TINY = ["--set", "population.accounts=120", "--set", "duration_s=1200", "--set", "population.entry_window_s=100",
        "--set", "price.shocks.0.start_s=300", "--set", "price.shocks.1.start_s=600"]  # fmt: skip
GRID = ["--grid", "oracle.heartbeat_s=10,600", "--grid", "oracle.latency_ms=0,5000"]


def rows(out):
    with sqlite3.connect(out / "results.sqlite") as db:
        db.row_factory = sqlite3.Row
        return [dict(r) for r in db.execute("SELECT * FROM runs ORDER BY params, replication")]


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep") / "s"
    assert main(["sweep", CRASH, *TINY, *GRID, "--seeds", "2", "--workers", "2", "--out", str(out), "--progress", "never"]) == 0
    return out


def test_every_grid_point_runs_once_per_seed_with_its_results_logs_and_plots(swept):
    runs = rows(swept)
    assert len(runs) == 8 and {r["status"] for r in runs} == {"complete"}
    points = {(r["oracle.heartbeat_s"], r["oracle.latency_ms"]) for r in runs}
    assert points == {(10, 0), (10, 5000), (600, 0), (600, 5000)}  # numbers: SQL sorts 10 before 600 (and 60 before 3600)
    # Replication r has one seed at every grid point; the two replications have different seeds.
    seeds = {r["replication"]: {x["seed"] for x in runs if x["replication"] == r["replication"]} for r in runs}
    assert all(len(s) == 1 for s in seeds.values()) and seeds[0] != seeds[1]
    assert seeds[0] == {sweep.replication_seed(0, 0)} and len({r["run_id"] for r in runs}) == 8
    assert all(r["liquidations"] > 0 for r in runs)
    for r in runs:  # each log is the run's own: its header names the run
        with sqlite3.connect(r["log"]) as db:
            assert db.execute("SELECT run_id, status, head_hash FROM runs").fetchone() == (
                r["run_id"],
                "complete",
                r["head_hash"],
            )
    with (swept / "results.csv").open() as f:
        table = list(csv.DictReader(f))
    assert len(table) == 8 and "summary" not in table[0] and {t["run_id"] for t in table} == {r["run_id"] for r in runs}
    for name in ("oracle_heartbeat_s.png", "oracle_latency_ms.png", "oracle_heartbeat_s_paired.png", "oracle_latency_ms_paired.png"):
        assert (swept / name).read_bytes().startswith(b"\x89PNG")
    assert json.loads((swept / "sweep.json").read_text())["grid"] == [["oracle.heartbeat_s", ["10", "600"]],
                                                                      ["oracle.latency_ms", ["0", "5000"]]]  # fmt: skip
    assert not list(swept.rglob("*.partial"))


def test_a_sweep_run_is_the_run_clearing_run_makes(swept, tmp_path):
    r = next(
        r for r in rows(swept) if r["oracle.heartbeat_s"] == 600 and r["oracle.latency_ms"] == 5000 and r["replication"] == 1
    )
    scenario = load_scenario(CRASH, [*TINY[1::2], "oracle.heartbeat_s=600", "oracle.latency_ms=5000"])
    summary = run_scenario(scenario, r["seed"], tmp_path / "direct.sqlite")
    assert (summary.run_id, summary.head_hash, summary.liquidations) == (r["run_id"], r["head_hash"], r["liquidations"])
    assert float(summary.bad_debt) == r["bad_debt"] and json.loads(r["summary"])["state_digest"] == summary.state_digest


def test_a_sweep_resumes_skipping_the_runs_already_done(swept, capsys):
    before = rows(swept)
    with sqlite3.connect(swept / "results.sqlite") as db:
        db.execute("DELETE FROM runs WHERE replication = 1 AND \"oracle.heartbeat_s\" = 10")
    capsys.readouterr()
    assert main(["sweep", CRASH, *TINY, *GRID, "--seeds", "2", "--workers", "2", "--out", str(swept), "--progress", "never"]) == 0
    assert "runs: 2 done, 6 already done, 0 failed" in capsys.readouterr().out

    def same(table):
        return [{k: v for k, v in r.items() if k != "wall_s"} for r in table]

    assert same(rows(swept)) == same(before)  # the two re-run give the same rows, the others were not touched


def test_plot_redraws_from_the_directory(swept, capsys):
    (swept / "oracle_latency_ms.png").unlink()
    capsys.readouterr()
    assert main(["sweep", "--plot", str(swept)]) == 0
    assert (swept / "oracle_latency_ms.png").read_bytes().startswith(b"\x89PNG")
    assert "plot:" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--grid", "oracle.heartbeat=1,2"], "oracle.heartbeat"),
        (["--grid", "oracle.heartbeat_s=1,-5"], "oracle.heartbeat_s"),
        (["--grid", "oracle.heartbeat_s"], "expected dotted.key=v1,v2"),
        (["--grid", "oracle.heartbeat_s=1,1"], "repeated"),
        (["--grid", "oracle.heartbeat_s=1", "--seeds", "0"], "--seeds 0"),
        (["--grid", "oracle.heartbeat_s=10,10.0"], "are the same scenario"),
        (["--grid", "oracle.heartbeat_s=10", "--out", "/proc/nope"], "cannot write the sweep there"),
        ([], "at least one --grid"),
    ],
)
def test_a_bad_grid_is_one_line_exit_2_and_nothing_written(tmp_path, args, message):
    out = tmp_path / "s"
    result = clearing("sweep", CRASH, *args, *(() if "--out" in args else ("--out", str(out))), "--progress", "never")
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert not out.exists()


def test_plot_of_a_directory_that_is_not_a_sweep_is_exit_2(tmp_path):
    result = clearing("sweep", "--plot", str(tmp_path))
    assert result.returncode == 2 and "not a sweep directory" in result.stderr


def test_a_failing_run_is_recorded_and_the_sweep_goes_on():
    task = sweep.Task("x", (("k", "v"),), 0, 1, '{"name": "broken"}', "", None)
    row = sweep.run_task(task)
    assert row["status"] == "failed" and "duration_s" in row["error"] and row["k"] == "v"


def test_memory_stays_flat_over_hundreds_of_runs(tmp_path):
    # 240 tiny runs through the local pool: the parent's resident memory after the last
    # run is within a few MB of what it was after the first 40.
    grid = [("oracle.heartbeat_s", [str(h) for h in range(1, 121)])]
    planned = sweep.plan(CRASH, grid, 2, 0, ["population.accounts=10", "duration_s=30"], tmp_path / "m", False, None)
    samples = []

    def rss(done, total):
        if done in (40, total):
            samples.append(
                int(next(x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith("VmRSS")).split()[1])
            )

    counts = sweep.run_sweep(planned, tmp_path / "m", {"grid": grid}, workers=2, progress=rss)
    assert counts == {"total": 240, "skipped": 0, "complete": 240, "failed": 0}
    assert samples[1] - samples[0] < 8_000, samples  # kB


def test_a_swept_key_the_oracle_policy_ignores_is_noted(tmp_path):
    # The synthetic crash's oracle pushes: a heartbeat acts. A cadence oracle ignores it.
    scenario = load_scenario(CRASH, ["oracle.policy=cadence"])
    assert sweep.inert_keys(scenario, ["oracle.heartbeat_s", "oracle.latency_ms"]) == [
        "oracle.heartbeat_s has no effect under oracle.policy = 'cadence' (only push reads it)"
    ]
    assert sweep.inert_keys(load_scenario(CRASH), ["oracle.heartbeat_s"]) == []


def test_logs_go_where_the_sweep_was_asked_for_whatever_the_workers_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    planned = sweep.plan(CRASH, [("oracle.latency_ms", ["0"])], 1, 0, TINY[1::2], Path("rel"), True, None)
    assert Path(planned[0].log_path).is_absolute() and planned[0].log_path.startswith(str(tmp_path / "rel" / "logs"))


def test_a_worker_that_dies_fails_its_run_not_the_sweep():
    # The worker process exits in the middle of the task (as when the OS kills it).
    task = sweep.Task("x", (("k", "v"),), 0, 1, "{}", "", None)
    with ProcessPoolExecutor(max_workers=1) as pool:
        rows = list(sweep.bounded([task], lambda t: pool.submit(os._exit, 1), 1))
    assert len(rows) == 1 and rows[0]["status"] == "failed" and rows[0]["run_id"] == "x"
    assert rows[0]["error"].startswith("the worker failed: BrokenProcessPool")


def test_an_unreachable_scheduler_writes_nothing(tmp_path):
    planned = sweep.plan(CRASH, [("oracle.latency_ms", ["0"])], 1, 0, TINY[1::2], tmp_path / "d", False, None)
    with pytest.raises(ConfigError, match="cannot connect"):
        sweep.run_sweep(planned, tmp_path / "d", {}, scheduler="tcp://127.0.0.1:9")
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize("command", ["run", "fork", "sweep"])
def test_an_output_under_a_file_is_one_line_exit_2(tmp_path, command):
    blocker = tmp_path / "afile"
    blocker.write_text("not a directory")
    args = {
        "run": ["run", CRASH, "--out", str(blocker / "x.sqlite")],
        "fork": ["fork", str(blocker), "--at", "10", "--out", str(blocker / "x.sqlite")],
        "sweep": ["sweep", CRASH, "--grid", "oracle.latency_ms=0", "--out", str(blocker / "s")],
    }[command]
    result = clearing(*args, "--progress", "never")
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr, (
        result.stderr
    )


def test_a_task_crosses_to_a_worker_as_json_bytes_with_its_runner_by_name(tmp_path, monkeypatch):
    from clearing.apps.sweep import execution

    submitted = []

    class Recording(ProcessPoolExecutor):
        def submit(self, fn, /, *args, **kwargs):
            submitted.append((fn, args, kwargs))
            return super().submit(fn, *args, **kwargs)

    monkeypatch.setattr(execution, "ProcessPoolExecutor", Recording)
    planned = sweep.plan(CRASH, [("oracle.latency_ms", ["0", "500"])], 1, 0, TINY[1::2], tmp_path / "d", False, None)
    rows = list(execution._local(planned, 1, execution.run_task))
    assert len(rows) == 2 and {r["status"] for r in rows} == {"complete"}
    for fn, args, kwargs in submitted:  # nothing but a module-level function, a name and bytes: no pickled object
        assert fn is execution.remote_run and not kwargs
        assert [type(a) for a in args] == [str, bytes] and args[0] == "clearing.apps.sweep.execution:run_task"
    assert execution.decode_task(submitted[0][1][1]) == planned[0]
    assert rows == [execution.run_task(t) | {"wall_s": r["wall_s"]} for t, r in zip(planned, rows, strict=True)]
    with pytest.raises(ValueError, match="expected clearing.apps"):
        execution.remote_run("os:system", b"{}")


def test_sweep_frame_gives_swept_values_as_numbers(swept):
    import clearing

    frame = clearing.sweep_frame(swept)
    assert len(frame) == 8 and frame["oracle.heartbeat_s"].dtype.kind in "iuf"
    assert list(frame["oracle.heartbeat_s"]) == sorted(frame["oracle.heartbeat_s"]) and set(frame["oracle.latency_ms"]) == {0, 5000}
    with pytest.raises(ConfigError, match="not a sweep directory"):
        clearing.sweep_frame(swept / "logs")


def test_paired_differences_subtract_each_runs_twin_at_the_baseline(swept):
    loaded = sweep.plots.load(swept)
    by = {(r["_params"]["oracle.heartbeat_s"], r["_params"]["oracle.latency_ms"], r["seed"]): r["liquidations"] for r in loaded.rows}
    diffs = sweep.paired_differences(loaded, "oracle.heartbeat_s", "liquidations")
    assert set(diffs) == {"600"} and len(diffs["600"]) == 4  # 2 latencies x 2 seeds, each against its own twin at 10
    expected = sorted(by[("600", lat, seed)] - by[("10", lat, seed)] for (_, lat, seed) in by if _ == "600")
    assert sorted(diffs["600"]) == expected


def test_sweep_json_and_constant_metrics_not_drawn(swept, capsys):
    capsys.readouterr()
    assert main(["sweep", CRASH, *TINY, *GRID, "--seeds", "2", "--out", str(swept), "--json", "--progress", "never"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["runs"] == {"total": 8, "skipped": 8, "complete": 0, "failed": 0} and len(shown["grid_points"]) == 4
    assert {p["oracle.heartbeat_s"] for p in shown["grid_points"]} == {10, 600} and len(shown["plots"]) == 4
    drawn = sweep.plots.metrics(sweep.plots.load(swept))
    constant = [m for m in drawn if not sweep.plots._varies(sweep.plots.load(swept), m)]
    assert "adl_notional" in constant  # no ADL in these runs: its panel is left out, the title says so
