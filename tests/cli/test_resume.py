"""`clearing resume LOG`: an interrupted run (SIGKILL, SIGTERM) continued to its end ends on the uninterrupted run's head."""

from __future__ import annotations

import json
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from clearing.cli import main
from tests.cli.test_interrupt import PREFIX
from tests.conftest import ROOT, SCENARIOS, bumped, kind_code, tampering

CRASH = str(SCENARIOS / "synthetic-crash.toml")


@pytest.fixture(scope="module")
def whole(tmp_path_factory):
    path = tmp_path_factory.mktemp("whole") / "whole.sqlite"
    assert main(["run", CRASH, "--out", str(path), *PREFIX]) == 0
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT events, head_hash FROM runs").fetchone()


def _stopped(tmp_path, sig, delay, name="stopped.sqlite", extra=()):
    out = tmp_path / name
    with subprocess.Popen([sys.executable, "-m", "clearing", "run", CRASH, "--out", str(out), *PREFIX, *extra], cwd=ROOT,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as process:  # fmt: skip
        # Start-up (about 2 s of imports) varies with the machine's load: wait for the log to exist, then let the run
        # write for a while before the signal.
        deadline = time.monotonic() + 60
        while not out.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(max(delay - 1.8, 0.2))
        process.send_signal(sig)
        process.wait(120)
    return out


def _resume_and_check(out, whole, capsys):
    with sqlite3.connect(f"file:{out}?mode=ro", uri=True) as conn:
        status, kept = conn.execute("SELECT status, (SELECT count(*) FROM events) FROM runs").fetchone()
    if status == "complete":  # the run finished before the signal
        assert main(["resume", str(out)]) == 2
        assert "nothing to resume" in capsys.readouterr().err
        return
    assert main(["resume", str(out), "--json", "--progress", "never"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["events"], shown["head_hash"]) == whole and shown["status"] == "complete"
    assert main(["verify", str(out)]) == 0
    said = capsys.readouterr().out
    assert "intact" in said and f"resumed at event {kept}," in said  # the header says the run was resumed, and after what
    with sqlite3.connect(f"file:{out}?mode=ro", uri=True) as conn:
        assert conn.execute("SELECT resumed_at FROM runs").fetchone()[0] == f"[{kept}]"


@pytest.mark.parametrize(("sig", "delay"), [(signal.SIGKILL, 2.2), (signal.SIGTERM, 1.8)], ids=["kill", "term"])
def test_a_resumed_log_ends_on_the_uninterrupted_run_s_head(whole, tmp_path, capsys, sig, delay):
    _resume_and_check(_stopped(tmp_path, sig, delay), whole, capsys)


def test_a_log_that_is_not_a_prefix_of_its_run_is_refused_and_kept(whole, tmp_path, capsys):
    out = _stopped(tmp_path, signal.SIGTERM, 2.5, extra=("--set", "duration_s=40000"))  # hours more than 2.5 s
    with sqlite3.connect(out) as conn:
        assert conn.execute("SELECT status FROM runs").fetchone()[0] == "incomplete"
    with tampering(out) as conn:
        conn.execute(f"UPDATE events SET payload = {bumped('deposited', 'amount')} "
                     f"WHERE seq = (SELECT min(seq) FROM events WHERE kind = {kind_code('deposited')})")  # fmt: skip
    before = out.read_bytes()
    assert main(["resume", str(out), "--progress", "never"]) == 1
    assert "is not a prefix of its run" in capsys.readouterr().err
    assert out.read_bytes() == before and not list(tmp_path.glob("*.partial"))


def test_a_complete_or_missing_log_is_not_resumed(tmp_path, capsys):
    assert main(["resume", str(tmp_path / "nowhere.sqlite")]) == 2
    capsys.readouterr()
    done = tmp_path / "done.sqlite"
    assert main(["run", CRASH, "--out", str(done), "--set", "duration_s=60", "--set", "population.accounts=50",
                 "--progress", "never"]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(["resume", str(done)]) == 2 and "nothing to resume" in capsys.readouterr().err


@pytest.mark.slow
def test_ten_runs_killed_at_random_times_each_resume_to_the_same_head(whole, tmp_path, capsys):
    rng = random.Random(2)
    for i in range(10):
        out = _stopped(tmp_path, signal.SIGKILL, rng.uniform(0.8, 4.0), f"k{i}.sqlite")
        if out.exists():
            _resume_and_check(out, whole, capsys)
        shutil.rmtree(tmp_path / "unused", ignore_errors=True)
