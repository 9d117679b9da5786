"""A run stopped by SIGINT, SIGTERM or SIGKILL leaves a log that verifies, marked incomplete."""

import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from clearing.cli import main
from tests.conftest import ROOT, SCENARIOS

LONG = ["--set", "duration_s=200000", "--set", "population.accounts=2000", "--set", "price.step_ms=100"]


def start(out):
    return subprocess.Popen(
        [sys.executable, "-m", "clearing", "run", str(SCENARIOS / "synthetic-crash.toml"), "--out", str(out), *LONG],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def wait_for_rows(out, rows=30_000, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = sqlite3.connect(f"file:{out}?mode=ro", uri=True, timeout=0.1)
            count = conn.execute("SELECT count(*) FROM events").fetchone()[0]
            conn.close()
            if count >= rows:
                return
        except sqlite3.OperationalError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"{out} did not reach {rows} rows in {timeout} s")


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT, signal.SIGTERM], ids=["kill", "int", "term"])
def test_stopped_run_leaves_an_incomplete_log_that_verifies(tmp_path, capsys, sig):
    out = tmp_path / "stopped.sqlite"
    process = start(out)
    try:
        wait_for_rows(out)
        process.send_signal(sig)
        _stdout, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    if sig == signal.SIGKILL:
        assert process.returncode == -signal.SIGKILL
    else:
        assert process.returncode == 130 and "incomplete" in stderr and "Traceback" not in stderr, stderr
    assert main(["verify", str(out), "--json"]) == 0
    report = capsys.readouterr().out
    assert '"status": "incomplete"' in report
    assert main(["replay", str(out), "--json"]) == 0
    assert '"status": "incomplete"' in capsys.readouterr().out
