"""`clearing fork` and `clearing diff`: exact re-execution, prefix verification, one-line errors."""

import json
import shutil
import sqlite3

import pytest

from clearing.cli import main
from clearing.log import schema
from clearing.log.reader import EventLogReader
from tests.builders import payload_dict
from tests.conftest import SCENARIOS, bumped, kind_code, rechain, tampering

SMALL = ["--set", "population.accounts=300", "--set", "duration_s=1500", "--set", "population.entry_window_s=200",
         "--set", "price.shocks.0.start_s=600", "--set", "price.shocks.1.start_s=900",
         "--set", "checkpoint_interval_s=300"]  # fmt: skip
CRASH = str(SCENARIOS / "synthetic-crash.toml")
AT_S = 700
AT_NS = AT_S * 10**9
QUIET = ["--progress", "never"]


@pytest.fixture(scope="module")
def parent(tmp_path_factory):
    path = tmp_path_factory.mktemp("fork") / "parent.sqlite"
    assert main(["run", CRASH, "--seed", "4", "--out", str(path), *SMALL, "--progress", "never"]) == 0
    return path


@pytest.fixture(scope="module")
def forked(parent):
    # At 2024-03-01T00:11:40Z (700 s), the oracle's delivery latency goes from 2 s to 6 s.
    out = parent.with_name("latency-6s.sqlite")
    args = ["fork", str(parent), "--at", "2024-03-01T00:11:40Z", "--set", "oracle.latency_ms=6000", "--out", str(out)]
    assert main([*args, *QUIET]) == 0
    return out


def rows(path, where="1"):
    with sqlite3.connect(path) as conn:
        return conn.execute(
            f"SELECT seq, ts_ns, kind, version, causes, {schema.canonical_sql()} FROM events WHERE {where} ORDER BY seq"
        ).fetchall()


def header(path):
    with EventLogReader(path) as reader:
        return reader.header


def test_fork_without_changes_reproduces_the_parent_exactly(parent, tmp_path, capsys):
    out = tmp_path / "same.sqlite"
    capsys.readouterr()
    assert main(["fork", str(parent), "--at", str(AT_S), "--out", str(out), "--json", *QUIET]) == 0
    result = json.loads(capsys.readouterr().out)
    h = header(parent)
    assert result["head_hash"] == h.head_hash and result["run_id"] == h.run_id and result["events"] == h.events
    assert result["identical_to_parent"] is True and result["same_head_hash"] is True
    assert result["verified_events"] == h.events and result["changes"] == {}
    assert out.read_bytes() == parent.read_bytes()  # the same scenario and seed: the same file
    assert not out.with_name("same.sqlite.partial").exists()


def test_fork_shares_the_prefix_byte_for_byte_and_differs_after(parent, forked):
    before = f"ts_ns < {AT_NS}"
    assert rows(forked, before) == rows(parent, before) and len(rows(parent, before)) > 1000
    after = f"ts_ns >= {AT_NS}"
    assert rows(forked, after) != rows(parent, after)
    h, p = header(forked), header(parent)
    assert h.status == "complete" and h.seed == p.seed and h.run_id != p.run_id and h.head_hash != p.head_hash
    fork = json.loads(h.scenario_json)["fork"]
    assert fork == {"at_s": AT_S, "parent_run_id": p.run_id, "set": {"oracle.latency_ms": 6000}}
    assert "fork" not in json.loads(p.scenario_json)
    # The change took effect at 700 s: deliveries published after it arrive 6 s late.
    lags = rows(forked, f"kind = {kind_code('oracle_price_delivered')} AND ts_ns > {AT_NS + 6 * 10**9}")
    assert lags and all(payload_dict(r[5])["ts_ns"] - payload_dict(r[5])["ts_published_ns"] == 6 * 10**9 for r in lags)


def test_a_fork_verifies_and_replays(forked, capsys):
    assert main(["verify", str(forked)]) == 0
    assert main(["replay", str(forked), "--json"]) == 0
    replayed = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert replayed["status"] == "complete" and replayed["head_hash"] == header(forked).head_hash


def test_diff_of_identical_logs(parent, tmp_path, capsys):
    copy = tmp_path / "copy.sqlite"
    shutil.copy(parent, copy)
    capsys.readouterr()
    assert main(["diff", str(parent), str(copy)]) == 0
    text = capsys.readouterr().out
    assert "identical: every event is the same" in text and "first divergence" not in text
    assert main(["diff", str(parent), str(copy), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["identical"] is True and result["first_divergence"] is None
    assert all(m["delta"] in (0, "0.000000", 0.0, None) for m in result["metrics"].values())


def test_diff_names_the_first_divergence_and_every_metric(parent, forked, capsys):
    capsys.readouterr()
    assert main(["diff", str(parent), str(forked), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    first = result["first_divergence"]
    first_at = rows(parent, f"ts_ns >= {AT_NS}")[0][0]
    assert result["identical"] is False and first["seq"] >= first_at and first["ts_ns"] >= AT_NS
    assert rows(parent, f"seq = {first['seq']}")[0][5] != rows(forked, f"seq = {first['seq']}")[0][5]
    assert result["scenario_changes"]["fork.set.oracle.latency_ms"] == [None, 6000]
    metrics = result["metrics"]
    assert metrics["events"]["delta"] == metrics["events"]["b"] - metrics["events"]["a"]
    lag = metrics["oracle_lag_at_liquidation_mean_s"]
    assert lag["b"] > lag["a"] and lag["delta"] == pytest.approx(lag["b"] - lag["a"])
    assert main(["diff", str(parent), str(forked)]) == 0
    text = capsys.readouterr().out
    assert f"first divergence: seq {first['seq']}" in text and "liquidations" in text and "B-A" in text


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("market.maintenance_margin_rate=0.01", "market.maintenance_margin_rate is state listed at time 0"),
        ("population.accounts=10", "population.accounts was drawn at time 0"),
        ("oracle.sources.0.name=x", "oracle.sources.0.name lists the oracle's sources at time 0"),
        ("liquidation.liquidators=8", "liquidation.liquidators is the number of liquidator processes"),
        ("oracle.pull_interval_ms=10", "oracle.pull_interval_ms has no effect here: only the pull policy reads it"),
        ("oracle.heartbeat_s=-5", "oracle.heartbeat_s"),
        ("oracle.nonsense=1", "oracle.nonsense is not a key a fork can change"),
    ],
)
def test_a_key_a_fork_cannot_change_is_refused_in_one_line(parent, tmp_path, capsys, override, message):
    out = tmp_path / "refused.sqlite"
    capsys.readouterr()
    assert main(["fork", str(parent), "--at", str(AT_S), "--set", override, "--out", str(out), *QUIET]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and message in err, err
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("at", ["0", "1500", "99999", "2024-02-29T23:00:00Z", "soon"])
def test_at_outside_the_run_is_refused(parent, tmp_path, capsys, at):
    capsys.readouterr()
    code = main(["fork", str(parent), "--at", at, "--set", "oracle.latency_ms=6000", "--out", str(tmp_path / "x.sqlite"), *QUIET])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert not list(tmp_path.iterdir())


def test_a_tampered_parent_fails_verification_and_leaves_no_log(parent, tmp_path, capsys):
    bad = tmp_path / "tampered.sqlite"
    shutil.copy(parent, bad)
    seq = rows(bad, f"kind = {kind_code('trade_executed')} AND ts_ns < {AT_NS}")[-1][0]
    with tampering(bad) as conn:
        conn.execute(f"UPDATE events SET payload = {bumped('trade_executed', 'lots')} WHERE seq = ?", (seq,))
    out = tmp_path / "fork.sqlite"
    capsys.readouterr()
    code = main(["fork", str(bad), "--at", str(AT_S), "--set", "oracle.latency_ms=6000", "--out", str(out), *QUIET])
    err = capsys.readouterr().err
    assert code == 1, err
    assert f"verification failed: {bad}: seq {seq}: hash chain broken" in err  # the whole parent is verified first
    assert len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tampered.sqlite"]


def test_fork_refuses_an_existing_output_and_a_non_log(parent, forked, tmp_path, capsys):
    capsys.readouterr()
    assert main(["fork", str(parent), "--at", str(AT_S), "--out", str(forked), *QUIET]) == 2
    assert "already exists" in capsys.readouterr().err
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    assert main(["fork", str(text), "--at", str(AT_S), "--out", str(tmp_path / "f.sqlite"), *QUIET]) == 2
    assert main(["diff", str(parent), str(tmp_path / "missing.sqlite")]) == 2
    assert main(["diff", str(text), str(parent)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(line.startswith("clearing: error: ") for line in err)


def test_an_incomplete_parent_is_checked_as_far_as_it_goes(parent, tmp_path, capsys):
    cut = tmp_path / "cut.sqlite"
    shutil.copy(parent, cut)
    with tampering(cut) as conn:  # what an interrupted run leaves: a prefix, status incomplete
        conn.execute("DELETE FROM events WHERE ts_ns > ?", (900 * 10**9,))
        conn.execute("UPDATE runs SET status = 'incomplete', state_digest = NULL, events = (SELECT max(seq) FROM events), "
                     "head_hash = NULL")
        rechain(conn)  # its last batch's head
    kept = len(rows(cut))
    out = tmp_path / "resumed.sqlite"
    capsys.readouterr()
    assert main(["fork", str(cut), "--at", str(AT_S), "--out", str(out), "--json", *QUIET]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["verified_events"] == kept and result["identical_to_parent"] is False
    assert result["head_hash"] == header(parent).head_hash  # the interrupted run, finished
    assert main(["fork", str(cut), "--at", "1000", "--out", str(tmp_path / "late.sqlite"), *QUIET]) == 2
    assert "before --at" in capsys.readouterr().err


def test_a_fork_with_changes_refuses_a_parent_missing_rows_before_at(parent, tmp_path, capsys):
    # A complete parent with rows cut out before --at: the fork writes rows the parent lacks.
    cut = tmp_path / "holed.sqlite"
    shutil.copy(parent, cut)
    with tampering(cut) as conn:
        conn.execute("DELETE FROM events WHERE ts_ns >= ? AND ts_ns < ?", ((AT_S - 10) * 10**9, AT_NS))
    out = tmp_path / "fork.sqlite"
    capsys.readouterr()
    code = main(["fork", str(cut), "--at", str(AT_S), "--set", "oracle.latency_ms=6000", "--out", str(out), *QUIET])
    err = capsys.readouterr().err
    assert code == 1 and "hash chain broken" in err, err  # the parent is verified whole before the run
    assert not out.exists()
