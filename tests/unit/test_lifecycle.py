"""The one run lifecycle (`clearing.apps.lifecycle`): statuses, the partial-file policy, the same summary for every sink."""

import pytest

from clearing.apps.lifecycle import OutputFile, RunLifecycle
from clearing.apps.replay import fold
from clearing.apps.sweep import Task, run_task
from clearing.errors import EventLogError, OutputExistsError
from clearing.log import EventLogReader, verify_log
from tests.conftest import small_scenario

SCENARIO = small_scenario(duration_s=600)


class Failing:
    """A sink that passes rows on to the log and raises `error` at row `at`."""

    def __init__(self, log, at, error):
        self.log, self.at, self.error = log, at, error

    @property
    def head_hash(self):
        return self.log.head_hash

    def append(self, *row):
        seq = self.log.append(*row)
        if seq == self.at:
            raise self.error
        return seq

    def checkpointed(self, *offer):
        self.log.checkpointed(*offer)


def failing(at, error):
    return lambda log: Failing(log, at, error)


def header(path):
    with EventLogReader(path) as reader:
        return reader.header


@pytest.fixture(scope="module")
def done(tmp_path_factory):
    path = tmp_path_factory.mktemp("lifecycle") / "done.sqlite"
    summary = RunLifecycle(SCENARIO, 2).to_file(OutputFile(path))
    return path, summary


def test_a_completed_run_is_complete_with_its_digest_and_every_sink_gives_the_same_summary(done):
    path, summary = done
    h = header(path)
    assert (h.status, h.events, h.head_hash) == ("complete", summary.events, summary.head_hash)
    with EventLogReader(path) as reader:  # the header records the final checkpoint's digest (the state before it)
        (_seq, final), = list(reader.events(since_seq=summary.events))
    assert final.final and h.state_digest == final.digest != summary.state_digest
    in_memory, sink = RunLifecycle(SCENARIO, 2).in_memory()
    assert in_memory == summary == RunLifecycle(SCENARIO, 2).unlogged() and len(sink.rows) == summary.events
    assert fold(path).summary == summary


def test_a_run_that_raises_is_failed_with_the_error_and_kept_in_place(tmp_path):
    path = tmp_path / "failed.sqlite"
    with pytest.raises(RuntimeError, match="broken sink"):
        RunLifecycle(SCENARIO, 2).to_file(OutputFile(path), wrap=failing(5000, RuntimeError("broken sink")))
    h = header(path)
    assert h.status == "failed" and h.error == "RuntimeError: broken sink" and h.events == 5000
    assert verify_log(path).events == 5000 and fold(path).summary.status == "failed"


@pytest.mark.parametrize("interrupt", [KeyboardInterrupt, SystemExit])
def test_an_interrupted_run_stays_incomplete(tmp_path, interrupt):
    path = tmp_path / "stopped.sqlite"
    with pytest.raises(interrupt):
        RunLifecycle(SCENARIO, 2).to_file(OutputFile(path), wrap=failing(3000, interrupt()))
    assert header(path).status == "incomplete" and verify_log(path).events >= 3000  # the rows up to the interrupt


def test_a_check_before_completion_can_still_fail_the_run(tmp_path):
    path = tmp_path / "checked.sqlite"

    def refuse():
        raise ValueError("not the parent's")

    with pytest.raises(ValueError, match="parent"):
        RunLifecycle(SCENARIO, 2).to_file(OutputFile(path), before_complete=refuse)
    assert header(path).status == "failed"


def test_an_atomic_output_appears_only_complete_and_leaves_nothing_on_failure(tmp_path, done):
    path = tmp_path / "atomic.sqlite"
    for error in (RuntimeError("boom"), KeyboardInterrupt()):
        with pytest.raises(type(error)):
            RunLifecycle(SCENARIO, 2).to_file(OutputFile(path, atomic=True), wrap=failing(2000, error))
        assert not list(tmp_path.iterdir())
    (tmp_path / "atomic.sqlite.partial").write_text("what a killed run left")
    summary = RunLifecycle(SCENARIO, 2).to_file(OutputFile(path, atomic=True))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["atomic.sqlite"] and summary == done[1]
    assert path.read_bytes() == done[0].read_bytes()


@pytest.mark.parametrize("atomic", [False, True])
def test_an_existing_file_is_replaced_only_with_overwrite_and_only_when_it_is_a_log(tmp_path, done, atomic):
    path = tmp_path / "out.sqlite"
    path.write_bytes(done[0].read_bytes())
    with pytest.raises(OutputExistsError, match="already exists"):
        RunLifecycle(SCENARIO, 3).to_file(OutputFile(path, atomic=atomic))
    assert path.read_bytes() == done[0].read_bytes()
    RunLifecycle(SCENARIO, 3).to_file(OutputFile(path, overwrite=True, atomic=atomic))
    assert header(path).seed == 3 and sorted(p.name for p in tmp_path.iterdir()) == ["out.sqlite"]
    notes = tmp_path / "notes.sqlite"
    notes.write_text("not a log")
    with pytest.raises(EventLogError, match="not a SQLite database"):
        RunLifecycle(SCENARIO, 3).to_file(OutputFile(notes, overwrite=True, atomic=atomic))
    assert notes.read_text() == "not a log" and not (tmp_path / "notes.sqlite.partial").exists()


def test_an_atomic_failure_keeps_the_log_it_would_have_replaced(tmp_path, done):
    path = tmp_path / "kept.sqlite"
    path.write_bytes(done[0].read_bytes())
    with pytest.raises(RuntimeError):
        RunLifecycle(SCENARIO, 3).to_file(OutputFile(path, overwrite=True, atomic=True), wrap=failing(100, RuntimeError()))
    assert path.read_bytes() == done[0].read_bytes() and sorted(p.name for p in tmp_path.iterdir()) == ["kept.sqlite"]


def test_a_sweep_run_replaces_the_log_a_resumed_sweep_finds_but_nothing_else(tmp_path, done):
    h = header(done[0])
    log = tmp_path / f"{h.run_id}.sqlite"
    log.write_bytes(done[0].read_bytes())
    task = Task(h.run_id, (("k", "v"),), 0, 2, h.scenario_json, str(log), None)
    row = run_task(task)
    assert row["status"] == "complete" and row["head_hash"] == h.head_hash and log.read_bytes() == done[0].read_bytes()
    log.write_text("precious")
    row = run_task(task)
    assert row["status"] == "failed" and "not a SQLite database" in row["error"] and log.read_text() == "precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == [log.name]
