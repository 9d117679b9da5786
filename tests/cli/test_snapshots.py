"""State snapshots (issue 18 item 7, decision 0030): `replay --until` starts from the last snapshot before the time.

A run keeps a snapshot of its state at the first checkpoint every `--snapshot-every` seconds;
the replay from one prints what the replay from the first event prints, for every kind of
state the scenarios make (options, portfolio margin, coin-margined markets, several markets);
a snapshot that is not its checkpoint's state fails `verify` (exit 1) and is passed over by
`replay`, which says so and starts from the snapshot before it (from the first event when none loads),
and a snapshot naming anything but the state's classes builds nothing.
"""

from __future__ import annotations

import json
import pickle
import shutil
import sqlite3
import sys
import zlib
from pathlib import Path

import msgspec
import pytest

from clearing import events as ev
from clearing.cli import main
from clearing.core.state import snapshot as snapshots
from clearing.log import schema
from clearing.log.reader import EventLogReader, RunHeader
from clearing.log.writer import EventLog, RunHeaderData
from tests.conftest import ROOT, SCENARIOS

GOLDEN_6 = ROOT / "tests" / "data" / "golden-layout6.sqlite"
SHORT = ["--set", "duration_s=1200", "--set", "population.accounts=300", "--set", "checkpoint_interval_s=120"]
EVERY = 2000  # events
SCENARIO_FILES = ["synthetic-crash", "options-crash", "option-portfolios", "coin-margined-crash"]


def _run(tmp_path: Path, name: str, *extra: str) -> Path:
    out = tmp_path / f"{name}.sqlite"
    assert main(["run", str(SCENARIOS / f"{name}.toml"), "--out", str(out), *SHORT, "--snapshot-every", str(EVERY),
                 "--progress", "never", "--json", *extra]) == 0  # fmt: skip
    return out


def _replay(capsys: pytest.CaptureFixture[str], log: Path, *args: str) -> tuple[int, dict[str, object]]:
    code = main(["replay", str(log), *args, "--json"])
    out, err = capsys.readouterr()
    print(err, file=sys.stderr, end="")  # kept for the test to read
    return code, json.loads(out) if code == 0 else {}


@pytest.fixture(scope="module")
def crash(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _run(tmp_path_factory.mktemp("snapshots"), "synthetic-crash")


@pytest.mark.parametrize("name", SCENARIO_FILES)
def test_the_replay_from_a_snapshot_is_the_replay_from_the_start(name: str, tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    log = _run(tmp_path, name)
    capsys.readouterr()
    with EventLogReader(log) as reader:
        kept = reader.snapshots()
        checkpoints = [seq for seq, _e in reader.events(kinds=["checkpoint_recorded"])]
    # One at the first checkpoint EVERY events after the last: the earliest such checkpoint each time.
    expected, last = [], 0
    for seq in checkpoints[:-1]:  # not at the final one
        if seq - last >= EVERY:
            expected.append(seq)
            last = seq
    assert [seq for seq, _ts, _d in kept] == expected and len(expected) >= 3
    for until in ("100", *(str(ts // 10**9 + 1) for _seq, ts, _d in kept), "1199"):
        code, fast = _replay(capsys, log, "--until", until)
        assert code == 0
        code, slow = _replay(capsys, log, "--until", until, "--from-start")
        assert code == 0 and slow["replayed_from_seq"] == 1
        expected_start = max([seq for seq, ts, _d in kept if ts <= int(until) * 10**9], default=1)
        assert fast.pop("replayed_from_seq") == expected_start
        slow.pop("replayed_from_seq")
        assert fast.pop("checkpoints_verified") <= slow.pop("checkpoints_verified")  # the ones after the snapshot
        assert fast == slow, until


def test_the_same_run_writes_the_same_snapshots(crash: Path, tmp_path: Path) -> None:
    again = _run(tmp_path, "synthetic-crash")
    assert again.read_bytes() == crash.read_bytes()


def test_verify_loads_every_snapshot_and_says_how_many(crash: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", str(crash), "--json"]) == 0
    with EventLogReader(crash) as reader:
        kept = len(reader.snapshots())
    assert kept >= 3 and json.loads(capsys.readouterr().out)["snapshots"] == kept
    assert main(["verify", str(crash)]) == 0
    assert f", {kept} state snapshots," in capsys.readouterr().out


def test_no_snapshots_when_asked_for_none(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = _run(tmp_path, "synthetic-crash", "--snapshot-every", "0")
    with EventLogReader(log) as reader:
        assert reader.snapshots() == []
    capsys.readouterr()
    code, result = _replay(capsys, log, "--until", "1000")
    assert code == 0 and result["replayed_from_seq"] == 1


TAMPERING = {
    "zeroed": "UPDATE snapshots SET state = zeroblob(64) WHERE seq = {seq}",
    "swapped state": "UPDATE snapshots SET state = (SELECT state FROM snapshots ORDER BY seq LIMIT 1) WHERE seq = {seq}",
    "swapped digest": "UPDATE snapshots SET digest = (SELECT digest FROM snapshots ORDER BY seq LIMIT 1) WHERE seq = {seq}",
    "moved": "UPDATE snapshots SET seq = seq - 1 WHERE seq = {seq}",
}


@pytest.mark.parametrize("how", TAMPERING)
def test_a_snapshot_that_is_not_its_checkpoints_state_fails_verify_and_is_passed_over(crash: Path, tmp_path: Path, how: str,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    bad = tmp_path / "bad.sqlite"
    shutil.copy(crash, bad)
    with EventLogReader(bad) as reader:
        seq, before = reader.snapshots()[-1][0], reader.snapshots()[-2][0]
    with sqlite3.connect(bad) as conn:
        conn.execute(TAMPERING[how].format(seq=seq))
    assert main(["verify", str(bad)]) == 1
    err = capsys.readouterr().err
    at = seq - 1 if how == "moved" else seq
    assert f"state snapshot at seq {at}" in err and err.count("\n") == 1, err
    code, result = _replay(capsys, bad, "--until", "1100")  # said, and replayed from the snapshot before it
    assert code == 0 and result["status"] == "partial" and result["replayed_from_seq"] == before
    assert f"the state snapshot at seq {at}" in capsys.readouterr().err
    code, expected = _replay(capsys, crash, "--until", "1100", "--from-start")
    assert expected.pop("checkpoints_verified") > result.pop("checkpoints_verified")  # only those after the snapshot
    expected.pop("replayed_from_seq"), result.pop("replayed_from_seq")
    assert expected == result


def test_a_snapshot_naming_anything_but_the_state_builds_nothing(crash: Path, tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    witness = tmp_path / "ran"

    class Exploit:
        def __reduce__(self):  # what a hostile pickle would hold: a call of os.system
            import os

            return (os.system, (f"touch {witness}",))

    hostile = {
        "a pickle": zlib.compress(pickle.dumps({"cash": Exploit()}, protocol=5)),
        "another class": zlib.compress(msgspec.msgpack.encode([2, "cash", [5, "EventLog", "path", "/tmp/x"]])),
    }
    with pytest.raises(snapshots.SnapshotError, match="names 'EventLog', which is not a class of a clearing state"):
        snapshots.load(hostile["another class"])
    for blob in hostile.values():
        bad = tmp_path / "bad.sqlite"
        shutil.copy(crash, bad)
        with sqlite3.connect(bad) as conn:
            conn.execute("UPDATE snapshots SET state = ? WHERE seq = (SELECT max(seq) FROM snapshots)", (blob,))
        assert main(["verify", str(bad)]) == 1
        assert "state snapshot at seq" in capsys.readouterr().err
        code, result = _replay(capsys, bad, "--until", "1100")
        with EventLogReader(bad) as reader:
            assert code == 0 and result["replayed_from_seq"] == reader.snapshots()[-2][0]
    assert not witness.exists()


def test_a_snapshot_is_written_only_with_its_checkpoints_row(tmp_path: Path, crash: Path) -> None:
    with EventLogReader(crash) as reader:
        header = reader.header
    log = EventLog(tmp_path / "cut.sqlite", _header_data(header), snapshot_every=1)
    log.append("deposited", 1, 5, (), b'{"kind":"deposited"}')
    log.checkpointed(10, "d" * 64, lambda seq: (snapshots.FORMAT, b"state"))  # offered before the checkpoint's row ...
    log.flush()  # ... and the row is not written yet: neither is the snapshot
    log.finish("incomplete")
    with sqlite3.connect(tmp_path / "cut.sqlite") as conn:
        assert conn.execute("SELECT count(*) FROM snapshots").fetchone()[0] == 0


def _altered(log: Path, tmp_path: Path, sql: str) -> Path:
    # A copy of `log` with `sql` run on it.
    copy = tmp_path / "altered.sqlite"
    shutil.copy(log, copy)
    with sqlite3.connect(copy) as conn:
        conn.execute(sql)
    return copy


def _header_data(header: RunHeader) -> RunHeaderData:  # the writer's header from a reader's
    return RunHeaderData(header.run_id, header.clearing_version, header.scenario_name, header.scenario_json,
                         header.scenario_hash, header.seed, header.epoch_utc, header.inputs_json)  # fmt: skip


def test_a_snapshot_of_another_version_is_skipped_by_verify_and_passed_over_by_replay(
        crash: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    old = _altered(crash, tmp_path, "UPDATE snapshots SET format = 99 WHERE seq = (SELECT max(seq) FROM snapshots)")
    assert main(["verify", str(old), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["snapshots"] >= 2 and report["snapshots_skipped"] == 1
    code, result = _replay(capsys, old, "--until", "1100")
    with EventLogReader(old) as reader:
        assert code == 0 and result["replayed_from_seq"] == reader.snapshots()[-2][0]
    assert "format 99, written by another version of clearing" in capsys.readouterr().err


def test_when_every_snapshot_before_the_time_fails_the_replay_starts_from_the_first_event(
        crash: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    bad = _altered(crash, tmp_path, "UPDATE snapshots SET state = zeroblob(64)")
    code, result = _replay(capsys, bad, "--until", "1100")
    err = capsys.readouterr().err
    assert code == 0 and result["replayed_from_seq"] == 1
    assert err.count("trying the one before it") >= 2 and err.count("replaying from the first event") == 1


def test_a_log_of_the_layout_before_snapshots_replays_from_the_start(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    old = tmp_path / "layout5.sqlite"
    shutil.copy(GOLDEN_6, old)  # a log of layout 6 (the layout 5 one with the snapshots table) written before layout 7
    with sqlite3.connect(old) as conn:
        conn.execute("DROP TABLE snapshots")
        conn.execute(f"PRAGMA user_version = {schema.SNAPSHOTS_LAYOUT - 1}")
    assert main(["verify", str(old)]) == 0
    assert "snapshots" not in capsys.readouterr().out
    code, result = _replay(capsys, old, "--until", "500")
    assert code == 0 and result["replayed_from_seq"] == 1


def test_a_log_of_layout_6_reads_replays_and_travels_from_its_snapshots(capsys: pytest.CaptureFixture[str]) -> None:
    # Written by the version before compact rows (layout 7): JSON-object payloads, kinds by name, whole row hashes.
    recorded = json.loads(GOLDEN_6.with_suffix(".json").read_text())
    assert main(["verify", str(GOLDEN_6)]) == 0
    assert "(3 of another version skipped)" in capsys.readouterr().out
    code, whole = _replay(capsys, GOLDEN_6)
    assert code == 0 and {k: whole[k] for k in ("liquidations", "bad_debt", "head_hash", "state_digest")} == \
        {k: recorded[k] for k in ("liquidations", "bad_debt", "head_hash", "state_digest")}  # fmt: skip
    # Its snapshots are of another format (the event classes they may hold changed since): replay --until passes
    # them over for the first event, saying so, and reaches the same state as a replay from the start.
    code, travelled = _replay(capsys, GOLDEN_6, "--until", "500")
    assert code == 0 and travelled["replayed_from_seq"] == 1 and "written by another version" in capsys.readouterr().err
    with EventLogReader(GOLDEN_6) as reader:
        assert not reader.compact and reader.row_hash_bytes == 32
        first = next(reader.events(kinds=["trade_executed"]))[1]
        quotes = next(reader.events(kinds=["quotes_replaced"]))[1]
    assert isinstance(first, ev.TradeExecuted)  # decoded from its JSON object
    assert isinstance(quotes, ev.QuotesReplaced) and len(quotes.bid_price_steps) == len(quotes.bid_lots) > 0  # v1
    assert main(["events", str(GOLDEN_6), "--kind", "liquidations", "--format", "jsonl"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == recorded["liquidations"] and json.loads(lines[0])["kind"] == "liquidation_completed"
