"""No command destroys a file: outputs never replace their own input or an event log, nothing without --overwrite,
and two runs cannot write one path."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time

import pytest

from clearing.cli import main
from tests.cli.test_cli import CRASH, SMALL
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def log(tmp_path_factory):
    path = tmp_path_factory.mktemp("outputs") / "small.sqlite"
    assert main(["run", CRASH, "--seed", "4", "--out", str(path), *SMALL]) == 0
    return path


def _intact(log, capsys):
    capsys.readouterr()
    assert main(["verify", str(log)]) == 0
    capsys.readouterr()


@pytest.mark.parametrize("argv", [
    ["report", "{log}", "--out", "{log}"],
    ["report", "{log}", "--out", "{log}", "--overwrite"],
    ["cascades", "{log}", "--dot", "{log}"],
    ["cascades", "{log}", "--dot", "{log}", "--overwrite"],
])  # fmt: skip
def test_an_output_is_never_the_log_the_command_reads(log, capsys, argv):
    assert main([a.format(log=log) for a in argv]) == 2
    assert "which this command reads; choose another path" in capsys.readouterr().err
    _intact(log, capsys)


def test_an_existing_file_is_replaced_only_with_overwrite_and_an_event_log_never(log, tmp_path, capsys):
    page = tmp_path / "r.html"
    page.write_text("mine")
    assert main(["report", str(log), "--out", str(page)]) == 2
    assert "exists; pass --overwrite" in capsys.readouterr().err and page.read_text() == "mine"
    assert main(["report", str(log), "--out", str(page), "--overwrite"]) == 0 and page.read_text().startswith("<!")
    other = tmp_path / "other.sqlite"
    shutil.copy(log, other)
    for argv in (["report", str(log), "--out", str(other), "--overwrite"],
                 ["cascades", str(log), "--dot", str(other), "--overwrite"]):  # fmt: skip
        assert main(argv) == 2
        assert "is an SQLite database (an event log?); it is never written over" in capsys.readouterr().err
    _intact(other, capsys)
    dot = tmp_path / "g.dot"
    dot.write_text("mine")
    assert main(["cascades", str(log), "--dot", str(dot)]) == 2 and dot.read_text() == "mine"


def test_a_fork_never_writes_over_its_parent(log, capsys):
    assert main(["fork", str(log), "--at", "600", "--out", str(log), "--overwrite", "--progress", "never"]) == 2
    assert "which the fork reads" in capsys.readouterr().err
    _intact(log, capsys)


def test_a_second_run_to_a_path_being_written_is_refused(tmp_path, capsys):
    out = tmp_path / "busy.sqlite"
    first = subprocess.Popen([sys.executable, "-m", "clearing", "run", CRASH, "--out", str(out), "--progress", "never"],
                             cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    lock = out.with_name(out.name + ".lock")
    try:
        deadline = time.monotonic() + 60
        while not lock.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert lock.exists()
        assert main(["run", CRASH, "--out", str(out), "--overwrite", *SMALL]) == 2
        assert "another run is writing it" in capsys.readouterr().err
    finally:
        first.terminate()
        first.wait(60)
    assert not lock.exists()  # the lock goes with the run that held it
    assert main(["run", CRASH, "--out", str(out), "--overwrite", *SMALL]) == 0  # the interrupted log is replaced


def test_a_sweep_directory_holds_one_sweep(tmp_path, capsys):
    from tests.cli.test_sweep import TINY

    out = tmp_path / "s"
    base = ["sweep", CRASH, *TINY, "--seeds", "1", "--workers", "1", "--no-logs", "--progress", "never", "--out", str(out)]
    assert main([*base, "--grid", "oracle.latency_ms=0,5000"]) == 0
    assert main([*base, "--grid", "oracle.latency_ms=0,100"]) == 2
    assert "holds a sweep with other grid; use a new --out" in capsys.readouterr().err
    assert main([*base[:-1], str(tmp_path), "--grid", "oracle.latency_ms=0,5000"]) == 2  # a folder holding other things
    assert "holds no sweep" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [
    ["fork", "{log}", "--at", "1e300", "--out", "{tmp}/f.sqlite"],
    ["replay", "{log}", "--until", "9999-12-31T00:00:00Z"],
    ["events", "{log}", "--since", "1e300"],
    ["events", "{log}", "--until=-1e300"],
])  # fmt: skip
def test_an_out_of_range_time_is_one_line_exit_2(log, tmp_path, capsys, argv):
    assert main([a.format(log=log, tmp=tmp_path) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("clearing: error: time") and len(err.strip().splitlines()) == 1, err


def test_events_takes_a_view_name_for_its_kind_and_refuses_an_unknown_one(log, capsys):
    assert main(["events", str(log), "--format", "csv", "--kind", "trades", "--until", "300"]) == 0
    assert capsys.readouterr().out.startswith("seq,ts_ns,time_utc,causes,market,buyer,seller")
    assert main(["events", str(log), "--kind", "trade"]) == 2
    assert "--kind trade: no such event kind" in capsys.readouterr().err


def test_a_run_that_fails_on_a_malformed_data_file_leaves_no_file(tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    (data / "btcusdt_1m_2020-03-12.csv").write_text("ts,open,high,low,close,volume\n1583971200000,7938.39,oops,1,1,1\n")
    out = tmp_path / "bad.sqlite"
    argv = ["--data-dir", str(data), "run", str(ROOT / "scenarios" / "btcusdt-2020-03-12-1000.toml"), "--out", str(out)]
    assert main(argv) == 2
    assert "btcusdt_1m_2020-03-12.csv" in capsys.readouterr().err
    assert not out.exists() and not list(tmp_path.glob("bad.sqlite*"))  # no failed log blocking the next run


@pytest.mark.parametrize(("edit", "message"), [
    ("UPDATE runs SET scenario_name = 'other'", "scenario_name 'other' is not the scenario's"),
    ("UPDATE runs SET epoch_utc = '2030-01-01T00:00:00Z'", "epoch_utc 2030-01-01T00:00:00Z is not the scenario's epoch"),
    ("UPDATE runs SET scenario_json = replace(scenario_json, '\"seed\"', '\"seed\"')||' '", "scenario_json does not match"),
    ("CREATE TABLE shadow (x)", "table shadow was added"),
    ("CREATE TRIGGER sneaky AFTER INSERT ON events BEGIN SELECT 1; END", "trigger sneaky was added"),
    ("CREATE VIEW extra AS SELECT 1", "view extra was added"),
    ("DROP VIEW liquidations; CREATE VIEW liquidations AS SELECT seq, 0 AS bad_debt FROM liquidation_completed",
     "view liquidations was altered"),
    ("CREATE INDEX sneaky ON events (payload)", "index sneaky was added"),
    ("UPDATE runs SET state_digest = '" + "0" * 64 + "'", "state_digest is not the final checkpoint's"),
    ("UPDATE runs SET status = 'incomplete', state_digest = NULL", "status incomplete, but seq"),
    ("DELETE FROM events WHERE seq > (SELECT max(seq) - 7 FROM events); UPDATE runs SET status = 'incomplete', "
     "state_digest = NULL", "cut at its tail: the header records"),
    ("UPDATE runs SET resumed_at = '[5, 3]'", "resumed_at '[5, 3]' is not a rising list"),
])  # fmt: skip
def test_every_reader_refuses_an_altered_header_or_schema(log, tmp_path, capsys, edit, message):
    from tests.conftest import tampering

    bad = tmp_path / "bad.sqlite"
    shutil.copy(log, bad)
    with tampering(bad) as conn:
        for statement in edit.split("; ") if not edit.startswith("CREATE TRIGGER") else [edit]:
            conn.execute(statement)
    for argv in (["verify", str(bad)], ["replay", str(bad)], ["cascades", str(bad)], ["events", str(bad)],
                 ["report", str(bad), "--out", str(tmp_path / "r.html")], ["diff", str(log), str(bad)],
                 ["fork", str(bad), "--at", "600", "--out", str(tmp_path / "f.sqlite"), "--progress", "never"]):  # fmt: skip
        assert main(argv) == 1, argv
        err = capsys.readouterr().err
        assert err.splitlines()[-1].startswith("clearing: verification failed:") and message in err, (argv, err)
    assert not (tmp_path / "r.html").exists() and not (tmp_path / "f.sqlite").exists()
