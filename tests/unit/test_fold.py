"""The one verified fold (`clearing.apps.fold`): observers, the chain it checks, the walk that applies nothing."""

import shutil

import pytest

from clearing import events as ev
from clearing.apps.cascades import CascadeAnalysis, analyse, analyse_log
from clearing.apps.diff import first_divergence
from clearing.apps.fold import Observer, fold_log
from clearing.apps.replay import fold
from clearing.apps.run import run_in_memory, run_scenario
from clearing.errors import ReplayDivergenceError, VerificationError
from clearing.log.verify import verify_log
from tests.conftest import bumped, kind_code, rechain, small_scenario, tampering


@pytest.fixture(scope="module")
def log(tmp_path_factory):
    path = tmp_path_factory.mktemp("fold") / "run.sqlite"
    run_scenario(small_scenario(duration_s=1500), 5, path)
    return path


class Recorder(Observer):
    """Records what it is shown: (seq, kind) of each event, and the state's digest at checkpoints."""

    def __init__(self, kinds=None, needs_state=True):
        self.kinds = kinds
        self.needs_state = needs_state
        self.seen = []
        self.digests = []
        self.began = self.ended = None

    def begin(self, path, header):
        self.began = header.run_id

    def event(self, seq, kind, event, state):
        self.seen.append((seq, kind))
        if isinstance(event, ev.CheckpointRecorded):
            self.digests.append((event.digest, state.digest()))

    def end(self, folded):
        self.ended = folded.events


def copy(log, tmp_path, name="t.sqlite"):
    path = tmp_path / name
    shutil.copy(log, path)
    return path


def test_an_observer_sees_the_state_replay_checks_before_each_event(log):
    everything, checkpoints = Recorder(), Recorder(kinds=frozenset({"checkpoint_recorded"}))
    result = fold(log, observers=(everything, checkpoints))
    assert [seq for seq, _ in everything.seen] == list(range(1, result.events + 1)) == list(range(1, everything.ended + 1))
    assert everything.began == result.header.run_id
    # The state an observer sees at a checkpoint is the one its digest was computed on.
    assert checkpoints.digests and all(recorded == seen for recorded, seen in checkpoints.digests)
    assert {kind for _, kind in checkpoints.seen} == {"checkpoint_recorded"} and len(checkpoints.seen) == result.checkpoints


def test_an_observer_is_called_only_for_the_kinds_it_names(log):
    quiet = Recorder(kinds=frozenset())
    breaches = Recorder(kinds=frozenset({"margin_breached"}))
    fold_log(log, (quiet, breaches))
    assert quiet.seen == [] and quiet.ended is not None
    assert breaches.seen and {kind for _, kind in breaches.seen} == {"margin_breached"}
    with pytest.raises(ValueError, match="unknown kind"):
        fold_log(log, (Recorder(kinds=frozenset({"nope"})),))


def test_a_walk_that_applies_nothing_refuses_observers_of_the_state_and_decodes_only_what_is_asked(log):
    with pytest.raises(ValueError, match="read\\(s\\) the state"):
        fold_log(log, (Recorder(),), apply_events=False)
    trades = Recorder(kinds=frozenset({"trade_executed"}), needs_state=False)
    folded = fold_log(log, (trades,), apply_events=False)
    assert folded.state.n_accounts == 0 and folded.whole and folded.status == "complete"
    assert trades.seen and {kind for _, kind in trades.seen} == {"trade_executed"}


def test_the_cascades_of_a_fold_are_those_of_the_events_in_memory():
    _summary, sink = run_in_memory(small_scenario(duration_s=1500), 5)
    events = ((seq, kind, ev.decode(payload, kind, version)) for seq, _ts, kind, version, _c, payload, _h in sink.rows)
    in_memory = analyse(events)
    small = CascadeAnalysis(size=8)  # grows as the seqs go
    for seq, _ts, kind, version, _c, payload, _h in sink.rows:
        small.event(seq, kind, ev.decode(payload, kind, version))
    assert small.result().as_rows() == in_memory.as_rows() and in_memory.liquidations
    assert small.result().price_moves() == in_memory.price_moves()


@pytest.mark.parametrize("walk", ["replay", "cascades", "divergence"])
def test_every_walk_refuses_a_broken_chain_naming_the_seq(log, tmp_path, walk):
    bad = copy(log, tmp_path)
    with tampering(bad) as conn:
        seq = conn.execute(f"SELECT min(seq) FROM events WHERE kind = {kind_code('trade_executed')}").fetchone()[0]
        conn.execute(f"UPDATE events SET payload = {bumped('trade_executed', 'lots')} WHERE seq = ?", (seq,))
    run = {"replay": lambda: fold(bad), "cascades": lambda: analyse_log(bad), "divergence": lambda: first_divergence(log, bad)}
    with pytest.raises(VerificationError, match=f"seq {seq}: hash chain broken") as info:
        run[walk]()
    assert info.value.seq == seq


@pytest.mark.parametrize("label", ["mark_price_updated", "quotes_replaced"])  # the same version as a breach's, another
@pytest.mark.parametrize("apply_events", [True, False])
def test_a_relabelled_row_breaks_the_chain(log, tmp_path, apply_events, label):
    # The kind's name is part of the hashed bytes: a row relabelled to hide it from an observer is caught.
    bad = copy(log, tmp_path)
    with tampering(bad) as conn:
        seq = conn.execute(f"SELECT min(seq) FROM events WHERE kind = {kind_code('margin_breached')}").fetchone()[0]
        conn.execute(f"UPDATE events SET kind = {kind_code(label)} WHERE seq = ?", (seq,))
    observer = Recorder(kinds=frozenset({"margin_breached"}), needs_state=apply_events)
    with pytest.raises(VerificationError, match=f"seq {seq}: hash chain broken"):
        fold_log(bad, (observer,), apply_events=apply_events)


@pytest.mark.parametrize("apply_events", [True, False])
def test_a_kind_code_the_log_does_not_list_is_refused(log, tmp_path, apply_events):
    bad = copy(log, tmp_path)
    with tampering(bad) as conn:
        seq = conn.execute(f"SELECT min(seq) FROM events WHERE kind = {kind_code('margin_breached')}").fetchone()[0]
        conn.execute("UPDATE events SET kind = 999 WHERE seq = ?", (seq,))
    with pytest.raises(VerificationError, match=f"seq {seq}: its kind is not one of the log's"):
        fold_log(bad, apply_events=apply_events)
    with pytest.raises(VerificationError, match=f"seq {seq}: its kind code is not one of the log's kinds"):
        verify_log(bad)


def test_a_finished_log_cut_short_is_refused_by_every_walk(log, tmp_path):
    cut = copy(log, tmp_path)
    with tampering(cut) as conn:
        conn.execute("DELETE FROM events WHERE seq > (SELECT max(seq) - 2 FROM events)")
    for walk in (lambda: fold(cut), lambda: analyse_log(cut), lambda: fold_log(cut, apply_events=False)):
        with pytest.raises(VerificationError, match="the header records"):
            walk()
    partial = fold(cut, until_ns=600 * 10**9)  # a prefix of it is still readable
    assert partial.summary.status == "partial"


def test_a_row_that_cannot_be_applied_is_a_divergence_naming_it(log, tmp_path):
    # Rebuild the chain over an edited payload (as a buggy writer would): only applying it can tell.
    bad = copy(log, tmp_path)
    with tampering(bad) as conn:
        target = conn.execute(f"SELECT min(seq) FROM events WHERE kind = {kind_code('liquidation_fee_charged')}").fetchone()[0]
        conn.execute(f"UPDATE events SET payload = {bumped('liquidation_fee_charged', 'amount', 999999999999)} WHERE seq = ?",
                     (target,))  # fmt: skip
        rechain(conn)
    with pytest.raises(ReplayDivergenceError, match=f"seq {target}: cannot be applied"):
        fold(bad)


def test_the_first_divergence_of_a_log_and_its_own_prefix_is_past_the_prefix(log, tmp_path):
    same = copy(log, tmp_path, "same.sqlite")
    assert first_divergence(log, same) is None
    cut = copy(log, tmp_path, "cut.sqlite")
    with tampering(cut) as conn:  # what an interrupted run leaves: a prefix, status incomplete
        kept = conn.execute("SELECT count(*) FROM events WHERE ts_ns <= ?", (600 * 10**9,)).fetchone()[0]
        conn.execute("DELETE FROM events WHERE seq > ?", (kept,))
        conn.execute("UPDATE runs SET status = 'incomplete', state_digest = NULL, events = (SELECT max(seq) FROM events), "
                     "head_hash = NULL")
        rechain(conn)  # its last batch's head
    for a, b in ((log, cut), (cut, log)):
        found = first_divergence(a, b)
        assert found is not None and found.seq == kept + 1
        assert (found.a is None) == (a == cut) and (found.b is None) == (b == cut)
