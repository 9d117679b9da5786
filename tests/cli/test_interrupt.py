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
    with start(out) as process:  # the pipes are closed whatever happens
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


PREFIX = ["--set", "duration_s=3600", "--set", "population.accounts=2000", "--set", "population.entry_window_s=600",
          "--progress", "never"]  # fmt: skip


def _rows(path):
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        return conn.execute("SELECT seq, ts_ns, kind, version, causes, payload, hash FROM events ORDER BY seq").fetchall()


@pytest.fixture(scope="module")
def whole(tmp_path_factory):
    path = tmp_path_factory.mktemp("whole") / "whole.sqlite"
    assert main(["run", str(SCENARIOS / "synthetic-crash.toml"), "--out", str(path), *PREFIX]) == 0
    return _rows(path)


def _interrupted(tmp_path, sig, delay):
    # A run stopped by `sig` after `delay` seconds: its exit code, status and rows.
    out = tmp_path / f"i-{sig}-{delay:.3f}.sqlite"
    with subprocess.Popen([sys.executable, "-m", "clearing", "run", str(SCENARIOS / "synthetic-crash.toml"), "--out",
                           str(out), *PREFIX], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) as process:  # fmt: skip
        time.sleep(delay)
        process.send_signal(sig)
        _out, stderr = process.communicate(timeout=120)
    if not out.exists():  # stopped before the log was created: nothing is left
        return process.returncode, None, [], stderr
    with sqlite3.connect(f"file:{out}?mode=ro", uri=True) as conn:
        status = conn.execute("SELECT status FROM runs").fetchone()[0]
    return process.returncode, status, _rows(out), stderr


def _check_prefix(whole, code, status, rows, stderr):
    assert "Traceback" not in stderr and "internal error" not in stderr, stderr
    if status == "complete":  # the signal came after the run: the log is whole (a shell says 130 for -2 too)
        assert code in (0, 130, -signal.SIGINT) and rows == whole, code
        return
    # 130, or killed by the SIGINT itself when it came while the program was still loading (what a shell reports as 130)
    assert code in (130, -signal.SIGINT), (code, stderr)
    assert status in (None, "incomplete"), status
    assert rows == whole[: len(rows)]  # row by row: seq, time, kind, payload and hash


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["int", "term"])
def test_an_interrupted_log_is_an_exact_prefix_of_the_whole_run(whole, tmp_path, sig):
    for delay in (1.6, 2.9):
        _check_prefix(whole, *_interrupted(tmp_path, sig, delay))


@pytest.mark.slow
def test_fifty_interrupts_at_random_times_each_leave_an_exact_prefix(whole, tmp_path):
    import random

    rng = random.Random(16)
    for i in range(50):
        sig = signal.SIGINT if i % 2 else signal.SIGTERM
        _check_prefix(whole, *_interrupted(tmp_path, sig, rng.uniform(0.8, 6.0)))


def test_ctrl_c_during_report_is_one_line_and_leaves_no_file(whole, tmp_path):
    log = tmp_path / "log.sqlite"
    assert main(["run", str(SCENARIOS / "synthetic-crash.toml"), "--out", str(log), *PREFIX]) == 0
    page = tmp_path / "r.html"
    with subprocess.Popen([sys.executable, "-m", "clearing", "report", str(log), "--out", str(page)], cwd=ROOT,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) as process:  # fmt: skip
        time.sleep(1.5)
        process.send_signal(signal.SIGINT)
        _out, stderr = process.communicate(timeout=120)
    if process.returncode == 0:
        pytest.skip("the report was done before the signal")
    assert process.returncode in (130, -signal.SIGINT) and "Traceback" not in stderr and "Exception ignored" not in stderr, stderr
    assert not page.exists() and not list(tmp_path.glob("*.partial"))


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["int", "term"])
def test_a_signal_while_the_program_loads_is_a_quiet_130(tmp_path, sig):
    # Every 50 ms of the first second (imports, the parser, the scenario): never a traceback, never exit 3.
    for i in range(1, 13):
        with subprocess.Popen([sys.executable, "-m", "clearing", "run", str(SCENARIOS / "synthetic-crash.toml"), "--out",
                               str(tmp_path / f"s{i}.sqlite"), *PREFIX], cwd=ROOT, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True) as process:  # fmt: skip
            time.sleep(0.05 * i)
            process.send_signal(sig)
            _out, stderr = process.communicate(timeout=120)
        # Before the interpreter reaches our code (a loaded CI machine), the OS's default action ends the
        # process by the signal itself: quiet too, and no log can exist yet. Or, a Ctrl-C while CPython itself
        # still imports its `site` module, CPython's own fatal error (exit 1): nothing of ours ran, no log exists.
        if process.returncode == 1 and stderr.startswith("Fatal Python error: init_import_site"):
            assert not (tmp_path / f"s{i}.sqlite").exists()
            continue
        assert process.returncode in (130, -signal.SIGINT, -sig), (i, process.returncode, stderr)
        if process.returncode < 0:
            assert not (tmp_path / f"s{i}.sqlite").exists()
        assert "Traceback" not in stderr and "internal error" not in stderr, stderr
