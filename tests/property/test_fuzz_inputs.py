"""Fuzzing (issue 16 item 6): overrides, command lines and logs that hypothesis makes never end in a traceback.

A `--set` override is either applied or refused with a one-line `ConfigError`; a command line
ends with exit code 0, 2 (bad input) or 1 (verification), never 3; a log with a flipped byte, an
edited, deleted or inserted row, or an edited schema is refused by `verify` (exit 1 or 2) unless
the flip fell where SQLite keeps nothing (then it verifies as the original did).
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clearing.cli import main
from clearing.errors import ConfigError
from clearing.scenario import load_scenario
from tests.conftest import SCENARIOS, tampering

CRASH = SCENARIOS / "synthetic-crash.toml"
KEYS = ("duration_s", "population.accounts", "population.leverage", "market.maintenance_margin_rate", "oracle.heartbeat_s",
        "oracle.policy", "price.initial", "price.step_ms", "liquidation.liquidators", "insurance_fund.initial",
        "market.tick_size", "population.entry_window_s", "price.shocks.0.change", "funding.interval_s", "include",
        "nope", "market", "price.shocks.9.start_s", "oracle.sources")  # fmt: skip
VALUES = st.one_of(
    st.integers(-(2**70), 2**70).map(str), st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(alphabet='abc019.-+e"[]{}=, ', max_size=12), st.sampled_from(["true", "[]", "[1, 2]", '"0.005"', '"push"',
                                                                         "{a = 1}", '"1e400"', "-0", '""']),
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(key=st.sampled_from(KEYS), value=VALUES)
def test_an_override_is_applied_or_refused_in_one_line(key: str, value: str) -> None:
    try:
        load_scenario(CRASH, [f"{key}={value}"])
    except ConfigError as e:
        assert "\n" not in str(e).strip()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(argv=st.lists(st.sampled_from(["run", "replay", "verify", "events", "fork", "report", "cascades", "margin",
                                      "sweep", "optimise", "resume", "diff", "--at", "1e300", "--until", "-5", "--kind",
                                      "nope", "--out", "--set", "x=1", "--seed", "-1", "--json", "--format", "csv",
                                      str(CRASH), "/nonexistent.sqlite", "--grid", "a=1", "--space", "b=2:1"]),
                   min_size=1, max_size=6))  # fmt: skip
def test_a_command_line_never_ends_in_a_traceback(argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if argv[0] in ("run", "sweep", "optimise") and "--out" not in argv:
        return  # would run a whole scenario into replays/: covered by the run tests
    argv = [a if a != "--out" else f"--out={tmp_path / 'o'}" for a in argv]
    try:
        code = main(argv)
    except SystemExit as e:  # argparse: a usage error, exit 2
        code = e.code
    err = capsys.readouterr().err
    assert code in (0, 1, 2), (argv, code, err)
    assert "Traceback" not in err and "internal error" not in err, (argv, err)


@pytest.fixture(scope="module")
def small_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("fuzz") / "small.sqlite"
    assert main(["run", str(CRASH), "--out", str(path), "--set", "duration_s=300", "--set", "population.accounts=100",
                 "--progress", "never"]) == 0  # fmt: skip
    return path


EDITS = [
    "UPDATE events SET payload = substr(payload, 1, 20) || CASE substr(payload, 21, 1) WHEN 'x' THEN 'y' ELSE 'x' END "
    "|| substr(payload, 22) WHERE seq = {seq}",
    "DELETE FROM events WHERE seq = {seq}",
    "INSERT INTO events SELECT seq + 1000000, ts_ns, kind, version, causes, payload, hash FROM events WHERE seq = {seq}",
    "UPDATE events SET hash = zeroblob(32) WHERE seq = {seq}",
    "UPDATE events SET ts_ns = ts_ns + 1 WHERE seq = {seq}",
    "UPDATE events SET kind = CASE kind WHEN 'deposited' THEN 'trade_executed' ELSE 'deposited' END WHERE seq = {seq}",
    "UPDATE runs SET seed = seed + 1",
    "CREATE INDEX sneaky ON events (payload)",
    "DROP VIEW trade_executed",
]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edit=st.sampled_from(EDITS), seq=st.integers(1, 400))
def test_an_edited_log_is_refused(small_log: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], edit: str,
                                  seq: int) -> None:  # fmt: skip
    bad = tmp_path / "bad.sqlite"
    shutil.copy(small_log, bad)
    with tampering(bad) as conn:
        changed = conn.execute(edit.format(seq=seq)).rowcount
    code = main(["verify", str(bad)])
    err = capsys.readouterr().err
    if changed == 0 and "INDEX" not in edit and "VIEW" not in edit:
        return  # the row did not exist: nothing was edited
    if "DROP VIEW" in edit:
        assert code in (0, 1), err  # a view is not data (the rows are checked by the chain)
        return
    assert code in (1, 2) and "internal error" not in err, (edit, seq, code, err)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(offset=st.integers(0, 10**7), bit=st.integers(0, 7))
def test_a_flipped_byte_is_refused_or_harmless(small_log: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                offset: int, bit: int) -> None:  # fmt: skip
    bad = tmp_path / "flip.sqlite"
    shutil.copy(small_log, bad)
    data = bytearray(bad.read_bytes())
    data[offset % len(data)] ^= 1 << bit
    bad.write_bytes(bytes(data))
    code = main(["verify", str(bad), "--json"])
    captured = capsys.readouterr()
    assert code in (0, 1, 2) and "internal error" not in captured.err, (offset, bit, code, captured.err)
    if code == 0:  # the flip fell where SQLite keeps nothing the log is made of
        assert main(["verify", str(small_log), "--json"]) == 0
        assert capsys.readouterr().out.replace(str(small_log), str(bad)) == captured.out
    with sqlite3.connect(small_log) as conn:  # the original is untouched
        assert conn.execute("SELECT status FROM runs").fetchone()[0] == "complete"
