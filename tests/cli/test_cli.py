"""The command line as a user meets it: outputs, exit codes, one-line errors."""

import csv
import io
import json
import sqlite3
import subprocess
import sys

import pytest

from clearing.cli import main
from clearing.cli.common import parse_time
from clearing.errors import ConfigError
from clearing.log import schema
from tests.conftest import ROOT, SCENARIOS, bumped, kind_code, tampering

SMALL = ["--set", "population.accounts=300", "--set", "duration_s=1500", "--set", "population.entry_window_s=200",
         "--set", "price.shocks.0.start_s=600", "--set", "price.shocks.1.start_s=900",
         "--set", "checkpoint_interval_s=300"]  # fmt: skip
CRASH = str(SCENARIOS / "synthetic-crash.toml")


def clearing(*args):
    return subprocess.run([sys.executable, "-m", "clearing", *args], capture_output=True, text=True, cwd=ROOT, timeout=120)


@pytest.fixture(scope="module")
def log(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "small.sqlite"
    assert main(["run", CRASH, "--seed", "4", "--out", str(path), *SMALL]) == 0
    return path


def test_run_json_has_the_documented_fields(tmp_path, capsys):
    out = tmp_path / "r.sqlite"
    assert main(["run", CRASH, "--seed", "4", "--out", str(out), "--json", *SMALL]) == 0
    summary = json.loads(capsys.readouterr().out)
    for key in ("run_id", "events", "sim_seconds", "liquidations", "liquidated_notional", "bad_debt",
                "insurance_fund_end", "state_digest", "head_hash"):  # fmt: skip
        assert key in summary
    assert summary["sim_seconds"] == 1500.0 and summary["status"] == "complete"
    assert summary["log"] == str(out)


def test_replay_prints_the_same_summary_as_the_run(log, tmp_path, capsys):
    out = tmp_path / "r.sqlite"
    main(["run", CRASH, "--seed", "4", "--out", str(out), "--json", *SMALL])
    live = json.loads(capsys.readouterr().out)
    assert main(["replay", str(out), "--json"]) == 0
    replayed = json.loads(capsys.readouterr().out)
    assert {k: v for k, v in replayed.items() if not k.startswith("checkpoints_")} == {
        k: v for k, v in live.items() if k != "log"
    }
    assert replayed["checkpoints_verified"] == 5


def test_replay_until_accepts_seconds_and_iso_times(log, capsys):
    assert main(["replay", str(log), "--until", "600", "--json"]) == 0
    by_seconds = json.loads(capsys.readouterr().out)
    assert main(["replay", str(log), "--until", "2024-03-01T00:10:00Z", "--json"]) == 0
    by_iso = json.loads(capsys.readouterr().out)
    assert by_seconds == by_iso and by_seconds["sim_seconds"] <= 600 and by_seconds["status"] == "partial"


def test_default_output_path_and_no_silent_overwrite(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["run", CRASH, "--seed", "2", *SMALL]) == 0
    path = tmp_path / "replays" / "synthetic-crash-2.sqlite"
    assert path.exists()
    before = path.read_bytes()
    capsys.readouterr()
    assert main(["run", CRASH, "--seed", "2", *SMALL]) == 2
    assert "already exists" in capsys.readouterr().err
    assert path.read_bytes() == before
    assert main(["run", CRASH, "--seed", "2", "--overwrite", *SMALL]) == 0


def test_verify_reports_intact_and_tampered(log, tmp_path, capsys):
    assert main(["verify", str(log)]) == 0
    assert "intact" in capsys.readouterr().out
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(log.read_bytes())
    with tampering(bad) as conn:
        seq = conn.execute(f"SELECT min(seq) FROM events WHERE kind = {kind_code('deposited')} AND seq > 10").fetchone()[0]
        conn.execute(f"UPDATE events SET payload = {bumped('deposited', 'amount')} WHERE seq = ?", (seq,))
    assert main(["verify", str(bad)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("clearing: verification failed:") and f"seq {seq}:" in err and "\n" not in err
    assert main(["replay", str(bad)]) == 1


def test_events_export_jsonl_and_csv(log, capsys):
    assert main(["events", str(log), "--kind", "liquidation_completed", "--until", "1200"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = [json.loads(line) for line in lines]
    assert rows and all(r["kind"] == "liquidation_completed" and r["ts_ns"] <= 1200 * 10**9 for r in rows)
    assert list(rows[0])[:3] == ["seq", "kind", "ts_ns"]
    assert main(["events", str(log), "--kind", "trade_executed", "--format", "csv", "--since", "600"]) == 0
    table = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert table and {"seq", "time_utc", "buyer", "seller", "lots", "price_ticks", "liquidation"} <= set(table[0])
    assert all(int(r["ts_ns"]) >= 600 * 10**9 for r in table)
    assert main(["events", str(log), "--kind", "market_listed,accounts_opened", "--format", "csv"]) == 0
    mixed = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["kind"] for r in mixed][:3] == ["market_listed", "accounts_opened", "accounts_opened"]
    assert {r["kind"] for r in mixed} == {"market_listed", "accounts_opened"}


def test_parse_time_forms():
    from datetime import UTC, datetime

    epoch = datetime(2020, 3, 12, tzinfo=UTC)
    assert parse_time("90", epoch) == 90 * 10**9
    assert parse_time("1.5", epoch) == 1_500_000_000
    assert parse_time("2020-03-12T01:00:00Z", epoch) == 3600 * 10**9
    assert parse_time("2020-03-12T01:00:00", epoch) == 3600 * 10**9
    for bad in ("yesterday", "-5", "2020-03-11T23:00:00Z", "2020-03-12T01:00:00+02:00", "nan"):
        with pytest.raises(ConfigError):
            parse_time(bad, epoch)


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["run", "missing.toml"], 2, "missing.toml: no such scenario file"),
        (["run", CRASH, "--set", "oracle.latency_ms=-5"], 2, "oracle.latency_ms: Input should be greater than or equal to 0"),
        (["run", CRASH, "--set", "oracle.nope=1"], 2, "oracle.nope: Extra inputs are not permitted"),
        (["run", CRASH, "--seed", "x"], 2, "expected a whole number"),
        (["verify", "missing.sqlite"], 2, "missing.sqlite: no such file"),
        (["replay", "README.md"], 2, "README.md: not a SQLite database"),
        (["events", "pyproject.toml"], 2, "not a SQLite database"),
        (["frobnicate"], 2, "invalid choice"),
    ],
)
def test_bad_input_is_one_line_exit_2_no_traceback(args, code, message, tmp_path):
    result = clearing(*args)
    assert result.returncode == code, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not list(tmp_path.iterdir()) and not (ROOT / "replays" / "synthetic-crash-0.sqlite-wal").exists()


def test_bad_toml_is_named_with_line(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("name = 'x'\nduration_s = = 3\n")
    result = clearing("run", str(bad), "--out", str(tmp_path / "x.sqlite"))
    assert result.returncode == 2 and "bad.toml: invalid TOML" in result.stderr and "line 2" in result.stderr
    assert not (tmp_path / "x.sqlite").exists()


def test_newer_schema_and_tampered_logs_through_the_entry_point(log, tmp_path):
    newer = tmp_path / "newer.sqlite"
    newer.write_bytes(log.read_bytes())
    conn = sqlite3.connect(newer)
    conn.execute(f"PRAGMA user_version = {schema.LAYOUT_VERSION + 1}")
    conn.commit()
    conn.close()
    for command in ("verify", "replay", "events"):
        result = clearing(command, str(newer))
        assert result.returncode == 2 and "upgrade clearing" in result.stderr and "Traceback" not in result.stderr


def test_overwrite_refuses_to_replace_a_file_that_is_not_a_log(tmp_path, capsys):
    precious = tmp_path / "thesis.sqlite"
    precious.write_text("not a log")
    assert main(["run", CRASH, "--out", str(precious), "--overwrite", *SMALL]) == 2
    assert "not a SQLite database" in capsys.readouterr().err
    assert precious.read_text() == "not a log"


def test_csv_booleans_read_like_the_payload(log, capsys):
    assert main(["events", str(log), "--kind", "trade_executed", "--format", "csv"]) == 0
    values = {row["liquidation"] for row in csv.DictReader(io.StringIO(capsys.readouterr().out))}
    assert values == {"true", "false"}


def test_an_internal_error_is_one_line_exit_3(log, monkeypatch, capsys):
    def broken(path):
        raise TypeError("simulated bug")

    monkeypatch.setattr("clearing.cli.logs.verify_log", broken)
    assert main(["verify", str(log)]) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "internal error" in err and "TypeError: simulated bug" in err


def test_replay_checks_a_complete_log_against_its_header(log, tmp_path, capsys):
    cut = tmp_path / "cut.sqlite"
    cut.write_bytes(log.read_bytes())
    with tampering(cut) as conn:
        conn.execute("DELETE FROM events WHERE seq > (SELECT max(seq) - 3 FROM events)")
    assert main(["replay", str(cut)]) == 1
    assert "cut at its tail: the header records" in capsys.readouterr().err


def test_single_kind_csv_of_an_old_log_reads_upcast_fields(capsys):
    golden = ROOT / "tests" / "data" / "golden-v1.sqlite"
    assert main(["events", str(golden), "--kind", "trade_executed", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert rows and {r["maker_order"] for r in rows} == {"0"} and {r["taker_side"] for r in rows} == {"0"}


def test_global_options_are_accepted_after_the_subcommand_and_logs_are_json_lines_with_run_ids(tmp_path, capsys):
    out, log_file = tmp_path / "r.sqlite", tmp_path / "runs.jsonl"
    assert main(["run", CRASH, "--out", str(out), "--set", "duration_s=60", "--set", "population.accounts=10",
                 "-v", "--data-dir", str(tmp_path), "--log-file", str(log_file), "--log-format", "json"]) == 0  # fmt: skip
    err = capsys.readouterr().err
    records = [json.loads(line) for line in log_file.read_text().splitlines()]
    assert [r["event"] for r in records] == ["run_started", "run_finished"]
    assert list(records[1])[:3] == ["timestamp", "level", "event"] and records[1]["run_id"] == sqlite3.connect(out).execute(
        "SELECT run_id FROM runs").fetchone()[0]
    assert [json.loads(line)["event"] for line in err.splitlines()] == ["run_started", "run_finished"]  # -v: JSON on stderr
    assert main(["verify", str(out), "--log-file", str(tmp_path / "no" / "x.jsonl")]) == 2
    assert "--log-file" in capsys.readouterr().err


def test_completion_scripts_come_from_the_parser(capsys):
    assert main(["completion", "bash"]) == 0
    script = capsys.readouterr().out
    assert "export" in script and "validate" in script
    assert subprocess.run(["bash", "-n"], input=script, text=True).returncode == 0
    with pytest.raises(SystemExit) as e:
        main(["completion", "fish"])
    assert e.value.code == 2
