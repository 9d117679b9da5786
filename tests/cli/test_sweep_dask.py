"""`clearing sweep --scheduler`: the same sweep on a Dask cluster (a LocalCluster on 127.0.0.1)."""

import sqlite3

import pytest

from clearing.cli import main
from tests.cli.test_cli import CRASH
from tests.cli.test_sweep import TINY

distributed = pytest.importorskip("distributed")


def results(out):
    with sqlite3.connect(out / "results.sqlite") as db:
        return db.execute("SELECT run_id, seed, head_hash, liquidations, bad_debt FROM runs ORDER BY run_id").fetchall()


def test_a_dask_cluster_gives_the_results_of_the_local_pool(tmp_path):
    grid = ["--grid", "oracle.latency_ms=0,5000", "--seeds", "2", "--no-logs", "--progress", "never"]
    with distributed.LocalCluster(
        host="127.0.0.1", n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:  # fmt: skip
        assert main(["sweep", CRASH, *TINY, *grid, "--scheduler", cluster.scheduler_address, "--out", str(tmp_path / "d")]) == 0
    assert main(["sweep", CRASH, *TINY, *grid, "--workers", "2", "--out", str(tmp_path / "l")]) == 0
    on_dask = results(tmp_path / "d")
    assert len(on_dask) == 4 and on_dask == results(tmp_path / "l")


def test_an_unreachable_scheduler_is_one_line_exit_2(tmp_path, capsys):
    code = main(["sweep", CRASH, *TINY, "--grid", "oracle.latency_ms=0", "--scheduler", "tcp://127.0.0.1:9",
                 "--out", str(tmp_path / "d"), "--progress", "never"])  # fmt: skip
    assert code == 2 and "cannot connect" in capsys.readouterr().err
