"""Fuzzing (issue 16 item 6): scenario files, overrides, command lines and logs that hypothesis makes never end in a
traceback.

A scenario file made from a shipped one by deleting, replacing or adding keys either loads (and
a short horizon of it runs to completion) or is refused with one line naming the file and a
field; a `--set` override is either applied or refused with a one-line `ConfigError`; a command line
ends with exit code 0, 2 (bad input) or 1 (verification), never 3; a log with a flipped byte, an
edited, deleted or inserted row, or an edited schema is refused by `verify` (exit 1 or 2) unless
the flip fell where SQLite keeps nothing (then it verifies as the original did).
"""

from __future__ import annotations

import json
import math
import shutil
import sqlite3
import tomllib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clearing.apps.run import run_unlogged
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
    "UPDATE events SET payload = substr(payload, 1, 2) || CASE substr(payload, 3, 1) WHEN '7' THEN '8' ELSE '7' END "
    "|| substr(payload, 4) WHERE seq = {seq}",
    "DELETE FROM events WHERE seq = {seq}",
    "INSERT INTO events SELECT seq + 1000000, ts_ns, kind, version, causes, payload, hash FROM events WHERE seq = {seq}",
    "UPDATE events SET hash = zeroblob(8) WHERE seq = {seq}",
    "UPDATE events SET causes = CASE causes WHEN '[]' THEN '[1]' ELSE '[]' END WHERE seq = {seq}",
    "UPDATE events SET ts_ns = ts_ns + 1 WHERE seq = {seq}",
    "UPDATE events SET kind = CASE kind WHEN 3 THEN 18 ELSE 3 END WHERE seq = {seq}",
    "UPDATE events SET kind = 999 WHERE seq = {seq}",
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
@given(offset=st.one_of(st.integers(0, 65535), st.integers(0, 10**7)), bit=st.integers(0, 7))  # the first page: the schema
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


SCHEMA_EDITS = {
    # A flipped type byte makes a view's SQL a blob: verify reads it as the text it holds (and finds it altered).
    "blob": "UPDATE sqlite_master SET sql = CAST(replace(sql, 'ts_ns', 'ts_ns ') AS BLOB) WHERE name = 'trade_executed'",
    # A flipped byte leaves bytes that are not UTF-8 in a view's SQL, where SQLite's parser then stops.
    "not utf-8": "UPDATE sqlite_master SET sql = CAST(CAST(replace(sql, 'SELECT', 'SEL') AS BLOB) || X'C1' AS TEXT) "
                 "WHERE name = 'trade_executed'",
    "not utf-8, parsed": "UPDATE sqlite_master SET sql = CAST(CAST(sql AS BLOB) || X'2D2DC1' AS TEXT) "
                         "WHERE name = 'trade_executed'",
}  # fmt: skip


@pytest.mark.parametrize("edit", SCHEMA_EDITS)
def test_a_view_whose_sql_was_flipped_is_found_in_one_line(small_log: Path, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str], edit: str) -> None:  # fmt: skip
    bad = tmp_path / "bad.sqlite"
    shutil.copy(small_log, bad)
    conn = sqlite3.connect(bad)
    conn.execute("PRAGMA writable_schema = ON")
    conn.execute(SCHEMA_EDITS[edit])
    conn.commit()
    conn.close()
    code = main(["verify", str(bad)])
    err = capsys.readouterr().err
    assert code in (1, 2) and "internal error" not in err and err.count("\n") == 1, (code, err)
    assert "bad.sqlite" in err and ("trade_executed" in err or "schema" in err or "UTF-8" in err), err


# Whole scenario files ---------------------------------------------------------------------------------------------


def _toml_value(value: object) -> str:
    # A value as TOML writes it (what the test makes: scalars, lists and inline tables of them).
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else "inf" if value > 0 else "-inf"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(value)


def _toml(document: dict[str, object], prefix: str = "") -> str:
    # A document as TOML text: scalars first, then tables and arrays of tables, recursively.
    lines: list[str] = []
    tables = []
    for key, value in document.items():
        if isinstance(value, dict) or (isinstance(value, list) and value and all(isinstance(v, dict) for v in value)):
            tables.append((key, value))
        else:
            lines.append(f"{json.dumps(key)} = {_toml_value(value)}")
    for key, value in tables:
        name = f"{prefix}{json.dumps(key)}"
        if isinstance(value, dict):
            lines.append(f"\n[{name}]")
            lines.append(_toml(value, name + "."))
        else:
            for item in value:
                lines.append(f"\n[[{name}]]")
                lines.append(_toml(item, name + "."))
    return "\n".join(lines)


def _leaves(document: object, path: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    # Every path to a value in a document (a table's keys, a list's indexes).
    if isinstance(document, dict):
        return [path] * bool(path) + [p for k, v in document.items() for p in _leaves(v, (*path, k))]
    if isinstance(document, list):
        return [path] + [p for i, v in enumerate(document) for p in _leaves(v, (*path, i))]
    return [path]


SCENARIO_FILES = ("synthetic-crash.toml", "coin-margined-crash.toml", "options-crash.toml")
SCALARS = st.one_of(
    st.integers(-(2**66), 2**66), st.floats(allow_nan=True, allow_infinity=True), st.booleans(),
    st.text(alphabet="abcxyz019.-+e:TZ ", max_size=10), st.sampled_from(["0.005", "-1", "1e400", "", "push", "gbm", "2024-03-01T00:00:00Z"]),
)  # fmt: skip
VALUES_IN_FILES = st.one_of(SCALARS, st.lists(SCALARS, max_size=4), st.dictionaries(st.sampled_from(["a", "start_s"]), SCALARS, max_size=2))
MUTATIONS = st.lists(st.tuples(st.sampled_from(["delete", "replace", "add"]), st.integers(0, 10**6), VALUES_IN_FILES),
                     min_size=1, max_size=3)  # fmt: skip


def _mutated(document: dict[str, object], mutations: list[tuple[str, int, object]]) -> tuple[dict[str, object], list[str]]:
    # The document with each mutation made at a path chosen by its number; the keys touched, for the messages.
    touched = []
    for action, pick, value in mutations:
        paths = _leaves(document)
        path = paths[pick % len(paths)]
        *parents, last = path
        holder: object = document
        for step in parents:
            holder = holder[step]  # type: ignore[index]
        touched += [str(p) for p in path if isinstance(p, str)]
        if action == "delete":
            del holder[last]  # type: ignore[attr-defined]
        elif action == "replace":
            holder[last] = value  # type: ignore[index]
        elif isinstance(holder, dict):
            holder[f"extra_{pick % 7}"] = value
            touched.append(f"extra_{pick % 7}")
    return document, touched


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(source=st.sampled_from(SCENARIO_FILES), mutations=MUTATIONS)
def test_a_generated_scenario_file_runs_or_is_refused_naming_its_field(tmp_path: Path, source: str,
                                                                       mutations: list[tuple[str, int, object]]) -> None:  # fmt: skip
    original = tomllib.loads((SCENARIOS / source).read_text())
    keys = {str(p) for path in _leaves(original) for p in path if isinstance(p, str)}
    document, touched = _mutated(original, mutations)
    path = tmp_path / "fuzzed.toml"
    path.write_text(_toml(document))
    try:
        scenario = load_scenario(path)
    except ConfigError as e:
        message = str(e)
        assert "\n" not in message.strip() and str(path) in message, message
        # It names a field: one the mutations touched, or one that a change elsewhere made wrong.
        assert any(key in message for key in [*touched, *keys]) or "TOML" in message, (touched, message)
        return
    # Valid: a short horizon of it runs (unless shortening it is what makes it invalid).
    horizon = [f"duration_s={min(scenario.duration_s, 120)}", f"population.accounts={min(scenario.population.accounts, 60)}"]
    try:
        short = load_scenario(path, horizon)
    except ConfigError as e:
        assert "\n" not in str(e).strip()
        return
    try:
        summary = run_unlogged(short, 1)
    except ConfigError as e:  # refused before the run starts (`check_limits`: money within int64, memory)
        assert "\n" not in str(e).strip() and ("int64" in str(e) or "memory" in str(e) or "integers" in str(e)), str(e)
        return
    assert summary.status == "complete"
