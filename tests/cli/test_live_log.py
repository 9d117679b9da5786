"""Readers of a log that is still being written: each sees one consistent prefix, says it is incomplete, never crashes."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time

from tests.cli.test_interrupt import PREFIX
from tests.conftest import ROOT, SCENARIOS

CRASH = str(SCENARIOS / "synthetic-crash.toml")


def _events(path):
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as conn:
            return conn.execute("SELECT count(*) FROM events").fetchone()[0]
    except sqlite3.Error:
        return 0


def _clearing(*argv):
    return subprocess.run([sys.executable, "-m", "clearing", *argv], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_every_reader_of_a_log_being_written_reads_a_prefix_and_says_so(tmp_path):
    out = tmp_path / "live.sqlite"
    with subprocess.Popen([sys.executable, "-m", "clearing", "run", CRASH, "--out", str(out), *PREFIX, "--set",
                           "duration_s=400000", "--set", "population.accounts=300"], cwd=ROOT,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as process:  # fmt: skip
        try:
            deadline = time.monotonic() + 120
            while _events(out) < 12000 and time.monotonic() < deadline:
                time.sleep(0.2)
            assert _events(out) >= 12000 and process.poll() is None
            # Paused mid-run, its -wal open (so the readers' work stays bounded; readers alongside appends are in
            # tests/unit/test_eventlog.py).
            process.send_signal(signal.SIGSTOP)
            verified = _clearing("verify", str(out))
            assert verified.returncode == 0 and "incomplete: the first" in verified.stdout, verified
            for argv in (["replay", str(out)], ["cascades", str(out)], ["events", str(out), "--kind", "liquidations"],
                         ["report", str(out), "--out", str(tmp_path / "r.html")], ["diff", str(out), str(out)]):  # fmt: skip
                result = _clearing(*argv)
                assert result.returncode == 0, (argv, result.stderr)
                assert "reading an incomplete log" in result.stderr and "Traceback" not in result.stderr, (argv, result.stderr)
            process.send_signal(signal.SIGCONT)
            time.sleep(0.5)
            assert process.poll() is None  # the run goes on after it was read
        finally:
            process.send_signal(signal.SIGCONT)
            process.send_signal(signal.SIGINT)
            process.wait(120)
    assert process.returncode == 130
    assert _clearing("verify", str(out)).returncode == 0
