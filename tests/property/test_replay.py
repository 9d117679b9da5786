"""Replay equals live; the same seed gives the same bytes; another seed does not."""

import json

import pytest

from clearing import events as ev
from clearing.apps.replay import fold
from clearing.apps.run import run_in_memory, run_scenario
from clearing.core.invariants import violations
from clearing.errors import ReplayDivergenceError
from clearing.log.verify import verify_log
from tests.conftest import ROOT, kind_code, rechain, small_scenario, tampering


@pytest.fixture(scope="module")
def logged_run(tmp_path_factory):
    scenario = small_scenario()
    path = tmp_path_factory.mktemp("run") / "run.sqlite"
    summary = run_scenario(scenario, 7, path)
    return scenario, path, summary


def test_replay_reproduces_the_live_state_exactly(logged_run):
    _scenario, path, live = logged_run
    result = fold(path)
    assert result.summary == live
    assert result.checkpoints == 8  # at 300, 600, ..., 2100 s, and the final one at 2400 s
    assert violations(result.state) == []


def test_the_run_liquidates_and_draws_the_fund(logged_run):
    _scenario, _path, live = logged_run
    assert live.liquidations > 50
    assert live.insurance_paid != "0.000000"


def test_replay_until_stops_at_that_time(logged_run):
    _scenario, path, live = logged_run
    partial = fold(path, until_ns=1_000 * 10**9)
    assert partial.summary.sim_seconds <= 1000
    assert partial.summary.status == "partial"
    assert partial.events < live.events


def test_same_seed_same_bytes_other_seed_other_log(logged_run, tmp_path):
    scenario, path, live = logged_run
    again = tmp_path / "again.sqlite"
    assert run_scenario(scenario, 7, again).head_hash == live.head_hash
    assert again.read_bytes() == path.read_bytes()
    assert run_scenario(scenario, 8, tmp_path / "other.sqlite").head_hash != live.head_hash


def test_in_memory_run_has_the_same_chain_as_the_file(logged_run):
    scenario, _path, live = logged_run
    summary, sink = run_in_memory(scenario, 7)
    assert summary == live and len(sink.rows) == live.events


def test_replay_detects_a_checkpoint_that_does_not_match(logged_run, tmp_path):
    # Forge a log whose rows are consistent with the chain but whose checkpoint digest lies:
    # rebuild the chain after changing one digest, as a buggy reducer would produce.
    _scenario, path, _live = logged_run
    forged = tmp_path / "forged.sqlite"
    forged.write_bytes(path.read_bytes())
    with tampering(forged) as conn:
        first = conn.execute(f"SELECT min(seq) FROM events WHERE kind = {kind_code('checkpoint_recorded')}").fetchone()[0]
        at = ev.PAYLOAD_FIELDS["checkpoint_recorded"].index("digest")
        conn.execute(f"UPDATE events SET payload = json_set(payload, '$[{at}]', ?) WHERE seq = ?", ("f" * 64, first))
        rechain(conn)
    verify_log(forged)  # the chain is intact: only replay can tell the state is wrong
    with pytest.raises(ReplayDivergenceError, match=f"seq {first}"):
        fold(forged)


def test_a_log_written_by_the_first_schema_still_replays():
    # tests/data/golden-v1.sqlite was written before the order book existed: trade_executed,
    # mark_price_updated, market_listed and checkpoint_recorded were all at version 1.
    # Their rows upcast on read; the old state digests cannot be compared and are skipped.
    golden = ROOT / "tests" / "data"
    verify_log(golden / "golden-v1.sqlite")
    result = fold(golden / "golden-v1.sqlite")
    expected = json.loads((golden / "golden-v1.json").read_text())
    assert (result.checkpoints, result.checkpoints_skipped) == (0, 3)
    expected = {k: v for k, v in expected.items() if k not in ("state_digest", "log")}
    assert {k: v for k, v in result.summary.as_dict().items() if k in expected} == expected
