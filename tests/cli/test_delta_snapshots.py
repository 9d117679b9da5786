"""Delta snapshots (decision 0032): a run's snapshots are whole every KEYFRAME_EVERY-th, the others
the XOR of their arrays with the snapshot before, and each loads to its checkpoint's state.

A delta rests on the snapshots before it back to the last whole one: one of them missing or
altered fails `verify` at the delta (or at the altered one first) and sends `replay --until`
back to the snapshot before it that loads, saying so; a delta that claims to rest on itself or a later one is
refused; a whole snapshot of the format before deltas still loads.
"""

from __future__ import annotations

import itertools
import json
import shutil
import sqlite3
import zlib
from pathlib import Path

import msgspec
import pytest

from clearing.cli import main
from clearing.core.state import snapshot as snapshots
from clearing.log.reader import EventLogReader
from tests.conftest import SCENARIOS

SHORT = ["--set", "duration_s=1200", "--set", "population.accounts=3000", "--set", "checkpoint_interval_s=60"]
EVERY = 400  # events: enough snapshots for a second whole one


def _tree(blob: bytes) -> object:
    return msgspec.msgpack.decode(zlib.decompress(blob))


def _is_delta(blob: bytes) -> bool:
    tree = _tree(blob)
    return isinstance(tree, list) and tree[0] == snapshots._DELTA


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("deltas") / "crash.sqlite"
    assert main(["run", str(SCENARIOS / "synthetic-crash.toml"), "--out", str(out), *SHORT, "--snapshot-every", str(EVERY),
                 "--progress", "never", "--json"]) == 0  # fmt: skip
    return out


def _snapshots(log: Path) -> list[tuple[int, int, bytes]]:
    with sqlite3.connect(log) as conn:
        return conn.execute("SELECT seq, format, state FROM snapshots ORDER BY seq").fetchall()


def _replay(capsys: pytest.CaptureFixture[str], log: Path, *args: str) -> tuple[dict[str, object], str]:
    assert main(["replay", str(log), *args, "--json"]) == 0
    out, err = capsys.readouterr()
    return json.loads(out), err


def test_every_eighth_snapshot_is_whole_and_the_others_rest_on_the_one_before(log: Path) -> None:
    kept = _snapshots(log)
    assert len(kept) > snapshots.KEYFRAME_EVERY + 1
    assert [not _is_delta(blob) for _seq, _fmt, blob in kept] == \
        [i % snapshots.KEYFRAME_EVERY == 0 for i in range(len(kept))]  # fmt: skip
    for (before, _f, _b), (_seq, _fmt, blob) in itertools.pairwise(kept):
        tree = _tree(blob)
        assert not _is_delta(blob) or tree[1] == before  # type: ignore[index]
    with EventLogReader(log) as reader:  # a delta is a fraction of the whole snapshot of the same state
        for seq, _ts, digest in reader.snapshots()[1 : snapshots.KEYFRAME_EVERY]:
            fmt, blob = reader.snapshot(seq)
            whole = snapshots.dump(snapshots.load(blob, fmt, digest, seq=seq, bases=snapshots.Bases(reader.snapshot)))
            assert len(blob) < len(whole), seq


def test_each_snapshot_loads_to_its_checkpoints_state_and_replay_starts_from_it(log: Path,
                                                                               capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    with EventLogReader(log) as reader:
        kept = reader.snapshots()
        bases = snapshots.Bases(reader.snapshot)
        for seq, _ts, digest in kept:  # each from the snapshots alone, not from the one loaded before it
            fmt, blob = reader.snapshot(seq)
            assert snapshots.load(blob, fmt, digest, seq=seq, bases=snapshots.Bases(reader.snapshot)).digest() == digest
            assert snapshots.load(blob, fmt, digest, seq=seq, bases=bases).digest() == digest
    last = kept[-1]
    until = str(last[1] // 10**9 + 1)
    (fast, _), (slow, _) = _replay(capsys, log, "--until", until), _replay(capsys, log, "--until", until, "--from-start")
    assert fast.pop("replayed_from_seq") == last[0] and slow.pop("replayed_from_seq") == 1
    fast.pop("checkpoints_verified"), slow.pop("checkpoints_verified")
    assert fast == slow


def _broken(log: Path, tmp_path: Path, sql: str, *params: object) -> Path:
    bad = tmp_path / "bad.sqlite"
    shutil.copy(log, bad)
    with sqlite3.connect(bad) as conn:
        conn.execute(sql, params)
    return bad


def test_a_delta_whose_base_is_gone_fails_verify_and_replay_starts_from_the_whole_one_before(
        log: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    kept = _snapshots(log)
    base, delta = kept[1][0], kept[2][0]
    assert _is_delta(kept[2][2])
    bad = _broken(log, tmp_path, "DELETE FROM snapshots WHERE seq = ?", base)
    assert main(["verify", str(bad)]) == 1
    err = capsys.readouterr().err
    assert f"the state snapshot at seq {delta} rests on the snapshot at seq {base}, which the log does not give" in err
    assert err.count("\n") == 1
    with EventLogReader(bad) as reader:
        ts = next(t for s, t, _d in reader.snapshots() if s == delta)
    result, err = _replay(capsys, bad, "--until", str(ts // 10**9 + 1))  # from the whole one before the gap
    assert result["replayed_from_seq"] == kept[0][0] and f"the state snapshot at seq {delta} rests on" in err


def test_an_altered_base_fails_verify_at_the_base(log: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    kept = _snapshots(log)
    base = kept[1]  # a delta itself, resting on the whole first one
    tree = _tree(base[2])
    root = tree[2]  # type: ignore[index]
    at = next(i for i, node in enumerate(root) if isinstance(node, list) and node[0] == snapshots._XOR and node[1] == "cash")
    flipped = bytearray(root[at][2])
    flipped[0] ^= 1
    root[at][2] = bytes(flipped)
    bad = _broken(log, tmp_path, "UPDATE snapshots SET state = ? WHERE seq = ?", zlib.compress(msgspec.msgpack.encode(tree)),
                  base[0])  # fmt: skip
    assert main(["verify", str(bad)]) == 1
    assert f"the state snapshot at seq {base[0]} is not the state its checkpoint records" in capsys.readouterr().err


def test_a_delta_resting_on_itself_or_a_later_one_is_refused(log: Path) -> None:
    kept = _snapshots(log)
    seq, fmt, blob = kept[2]
    tree = _tree(blob)
    with EventLogReader(log) as reader:
        for base in (seq, kept[3][0]):
            tree[1] = base  # type: ignore[index]
            loop = zlib.compress(msgspec.msgpack.encode(tree))
            with pytest.raises(snapshots.SnapshotError, match=f"rests on the snapshot at seq {base}, which is not before it"):
                snapshots.load(loop, fmt, seq=seq, bases=snapshots.Bases(reader.snapshot))
    with pytest.raises(snapshots.SnapshotError, match="is a delta, and the snapshots it rests on were not given"):
        snapshots.load(blob, fmt)


def test_whole_snapshots_carry_the_format_before_deltas_so_an_older_version_reads_them(log: Path) -> None:
    # The bytes of a whole snapshot are those of format 2 (every snapshot whole), and so is its label: a version that
    # reads only format 2 starts from the whole ones and passes over the deltas.
    kept = _snapshots(log)
    assert {fmt for _s, fmt, blob in kept if _is_delta(blob)} == {snapshots.FORMAT}
    assert {fmt for _s, fmt, blob in kept if not _is_delta(blob)} == {snapshots.WHOLE_FORMAT}
    assert {snapshots.FORMAT, snapshots.WHOLE_FORMAT} == snapshots.READS


HOSTILE = {
    "keys that do not sort": [snapshots._DICT, 1, 2, "a", 3],
    "a delta of such a root": [snapshots._DELTA, 0, [snapshots._DICT, 1, 2, "a", 3]],
    "a state's fields of the wrong types": None,  # built below from a real snapshot
    "nested past any depth": None,
}


@pytest.mark.parametrize("how", HOSTILE)
def test_a_hostile_tree_fails_as_a_snapshot_that_does_not_load(log: Path, how: str) -> None:
    seq, fmt, blob = _snapshots(log)[0]
    tree = HOSTILE[how]
    if how == "a state's fields of the wrong types":
        root = _tree(blob)
        tree = [root[0], *(x if i % 2 == 0 else "x" for i, x in enumerate(root[1:]))]  # type: ignore[index]
    packed = msgspec.msgpack.encode(tree)
    if how == "nested past any depth":  # [_LIST, [_LIST, ... [_DICT, "cash", 0]]], 5,000 deep, packed by hand
        packed = b"\x92" + bytes([snapshots._LIST])
        packed = packed * 5_000 + msgspec.msgpack.encode([snapshots._DICT, "cash", 0])
    with EventLogReader(log) as reader:
        digest = next(d for s, _t, d in reader.snapshots() if s == seq)
        with pytest.raises(snapshots.SnapshotError):
            snapshots.load(zlib.compress(packed), fmt, digest, seq=seq, bases=snapshots.Bases(reader.snapshot))
