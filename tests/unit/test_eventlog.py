import json
import shutil
import sqlite3

import msgspec
import pytest

from clearing import events as ev
from clearing.apps.run import header_for
from clearing.core.state import DIGEST_VERSION, ClearingState
from clearing.errors import EventLogError, OutputExistsError, SchemaVersionError, VerificationError
from clearing.log import EventLog, EventLogReader, schema, verify_log
from clearing.log.schema import genesis_hash
from clearing.log.verify import layout_digest, run_id_for
from clearing.log.writer import RunHeaderData
from clearing.sim.bus import EventBus
from tests.builders import market_listed
from tests.conftest import bumped, small_scenario, tampering


def write_log(path, n=25, batch_size=10, finish=True):
    header = header_for(small_scenario(), 3)
    log = EventLog(path, header, batch_size=batch_size)
    bus = EventBus(ClearingState(), log)
    bus.emit(market_listed())
    for i in range(1, n):
        bus.emit(ev.IndexPriceUpdated(ts_ns=i * 10, causes=(i,), market=0, price_ticks=100 + i))
    if finish:
        digest = bus.state.digest()
        bus.emit(ev.CheckpointRecorded(ts_ns=n * 10, digest=digest, digest_version=DIGEST_VERSION, final=True))
        log.finish("complete", state_digest=digest)  # the header records the final checkpoint's digest
    return log, bus


def test_rows_are_hash_chained_from_the_header(tmp_path):
    path = tmp_path / "a.sqlite"
    log, _ = write_log(path)
    report = verify_log(path)
    assert report.events == 26 and report.status == "complete" and report.head_hash == log.head_hash.hex()
    h = header_for(small_scenario(), 3)
    assert h.run_id == run_id_for(h.scenario_hash, 3)
    assert genesis_hash(h.run_id, h.scenario_hash, 3) != genesis_hash(h.run_id, h.scenario_hash, 4)
    assert run_id_for(h.scenario_hash, 3, '{"tape.csv": "ab"}') != h.run_id  # input data is part of the run


def test_the_log_is_append_only(tmp_path):
    path = tmp_path / "a.sqlite"
    write_log(path)
    conn = sqlite3.connect(path)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("UPDATE events SET ts_ns = 0 WHERE seq = 3")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("DELETE FROM events WHERE seq = 3")
    with pytest.raises(sqlite3.IntegrityError, match="immutable|cannot change"):
        conn.execute("UPDATE runs SET seed = 9")
    with pytest.raises(sqlite3.IntegrityError, match="cannot change"):
        conn.execute("UPDATE runs SET status = 'failed'")
    with pytest.raises(sqlite3.IntegrityError, match="STRICT|cannot store"):
        conn.execute("INSERT INTO events VALUES (99, 'soon', 'x', 1, '[]', '{}', x'00')")


def test_an_existing_log_is_never_overwritten(tmp_path):
    path = tmp_path / "a.sqlite"
    write_log(path)
    before = path.read_bytes()
    with pytest.raises(OutputExistsError, match="already exists"):
        write_log(path)
    assert path.read_bytes() == before


def test_reader_filters_by_seq_time_and_kind(tmp_path):
    path = tmp_path / "a.sqlite"
    write_log(path)
    with EventLogReader(path) as reader:
        assert [r[0] for r in reader.rows(since_seq=3, until_seq=5)] == [3, 4, 5]
        assert [r[1] for r in reader.rows(since_ns=100, until_ns=120)] == [100, 110, 120]
        assert [r[2] for r in reader.rows(kinds=["market_listed"])] == ["market_listed"]
        assert [seq for seq, _ in reader.events(kinds=["index_price_updated"], until_seq=3)] == [2, 3]
        with pytest.raises(EventLogError, match="unknown event kind"):
            list(reader.rows(kinds=["nope"]))


def test_views_flatten_payloads_for_plain_sqlite(tmp_path):
    path = tmp_path / "a.sqlite"
    write_log(path)
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT seq, market, price_ticks FROM index_prices WHERE seq = 2").fetchone() == (2, 0, 101)
    views = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'view'")}
    assert {"trades", "liquidations", "oracle_updates", *ev.KINDS} <= views


def test_a_crash_leaves_a_valid_incomplete_prefix(tmp_path):
    path = tmp_path / "a.sqlite"
    log, _ = write_log(path, n=25, batch_size=10, finish=False)
    # A kill: the process never flushes its last 5 buffered rows; its files are what a copy of them holds now.
    killed, separated = tmp_path / "killed", tmp_path / "separated"
    killed.mkdir()
    separated.mkdir()
    for suffix in ("", "-wal"):
        shutil.copy(f"{path}{suffix}", killed / f"a.sqlite{suffix}")
    shutil.copy(path, separated / "a.sqlite")
    log._conn.close()
    report = verify_log(killed / "a.sqlite")
    assert (report.status, report.events) == ("incomplete", 20)
    with EventLogReader(killed / "a.sqlite") as reader:  # the header's progress: the last complete batch
        assert (reader.header.events, reader.header.head_hash) == (20, report.head_hash)
    assert (killed / "a.sqlite-wal").exists()  # a reader never checkpoints or removes the -wal
    # The file without its -wal is reported as such, never as intact.
    with pytest.raises(VerificationError, match="-wal file is missing"):
        verify_log(separated / "a.sqlite")


def test_verify_names_the_first_tampered_seq(tmp_path):
    path = tmp_path / "a.sqlite"
    write_log(path)
    conn = sqlite3.connect(path)
    conn.execute("DROP TRIGGER events_append_only_update")
    conn.commit()
    with pytest.raises(VerificationError, match="trigger events_append_only_update is missing"):
        verify_log(path)
    conn.execute(schema.TRIGGERS_SQL[0])
    conn.commit()
    with tampering(path) as conn:
        conn.execute(f"UPDATE events SET payload = {bumped('index_price_updated', 'price_ticks', -100)} WHERE seq = 8")
    with pytest.raises(VerificationError, match="seq 8: hash chain broken") as info:
        verify_log(path)
    assert info.value.seq == 8


def test_verify_finds_a_deleted_row_and_an_edited_header(tmp_path):
    path = tmp_path / "a.sqlite"
    write_log(path)
    with tampering(path) as conn:
        conn.execute("DELETE FROM events WHERE seq = 12")
    with pytest.raises(VerificationError, match="seq 12 is missing"):
        verify_log(path)
    other = tmp_path / "b.sqlite"
    write_log(other)
    with tampering(other) as conn:
        conn.execute("UPDATE runs SET scenario_json = replace(scenario_json, '600', '601')")
    with pytest.raises(VerificationError, match="scenario_json does not match"):
        verify_log(other)


def test_files_that_are_not_logs_are_refused(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(EventLogError, match="not a SQLite database"):
        EventLogReader(text)
    with pytest.raises(EventLogError, match="no such file"):
        EventLogReader(tmp_path / "missing.sqlite")
    other = tmp_path / "other.sqlite"
    sqlite3.connect(other).execute("CREATE TABLE t (x)")
    with pytest.raises(EventLogError, match="not a clearing event log"):
        EventLogReader(other)


def test_a_newer_schema_is_refused_with_advice(tmp_path):
    path = tmp_path / "a.sqlite"
    write_log(path)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.commit()
    with pytest.raises(SchemaVersionError, match="layout 99.*upgrade clearing"):
        EventLogReader(path)


@pytest.mark.parametrize("keep", [0.5, 40 / 4096])
def test_a_truncated_file_is_refused_as_truncated(tmp_path, keep):
    path = tmp_path / "a.sqlite"
    write_log(path, n=3000, batch_size=500)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(EventLogError, match="truncated"):
        verify_log(path)


def test_header_data_is_a_pure_function_of_scenario_and_seed():
    a, b = header_for(small_scenario(), 1), header_for(small_scenario(), 1)
    assert a == b and isinstance(a, RunHeaderData)


def test_corrupt_pages_fail_verification_naming_a_seq(tmp_path):
    path = tmp_path / "a.sqlite"
    write_log(path, n=3000, batch_size=500)
    with sqlite3.connect(path) as conn:  # a stretch of rows in the middle of the table, from one row's hash on
        marker = conn.execute("SELECT hash FROM events WHERE seq = 1500").fetchone()[0]
    data = bytearray(path.read_bytes())
    middle = data.find(marker)
    data[middle : middle + 64] = b"\xff" * 64
    path.write_bytes(bytes(data))
    with pytest.raises(VerificationError, match=r"seq \d+") as info:
        verify_log(path)
    assert info.value.seq is not None


def test_a_log_being_written_reads_as_one_consistent_prefix(tmp_path):
    path = tmp_path / "a.sqlite"
    log, bus = write_log(path, n=25, batch_size=10, finish=False)
    with EventLogReader(path) as reader:
        seen = reader.count()
        for i in range(25, 60):  # the writer goes on while the reader holds its snapshot
            bus.emit(ev.IndexPriceUpdated(ts_ns=i * 10, causes=(i,), market=0, price_ticks=100 + i))
        log.flush()
        assert reader.count() == seen == 20 and reader.header.events == 20
        assert verify_log(path).events == 60  # a new reader: the new prefix, its header and rows from one commit
    log.finish("incomplete")
    assert verify_log(path).events == 60


def test_what_this_version_writes_is_its_layout():
    # A change to a table, view or trigger a log holds is a new layout: bump LAYOUT_VERSION, record its digest in
    # LAYOUT_DIGESTS (the old layouts' stay), and say so in docs/reliability.md.
    assert layout_digest() == schema.LAYOUT_DIGESTS[schema.LAYOUT_VERSION]


def test_a_view_whose_sql_is_not_utf8_is_found_altered_not_an_internal_error(tmp_path, capsys):
    # A flipped high bit in a view's SQL made SQLite's text undecodable: the read must still say what was altered.
    from clearing.apps.run import run_scenario
    from clearing.cli import main
    from clearing.scenario import load_scenario
    from tests.conftest import SCENARIOS

    log = tmp_path / "log.sqlite"
    run_scenario(load_scenario(SCENARIOS / "synthetic-crash.toml", ["duration_s=300", "population.accounts=20",
                                                                      "checkpoint_interval_s=300"]), 0, log)  # fmt: skip
    data = bytearray(log.read_bytes())
    data[data.find(b"'$[0]'") + 1] ^= 0x80
    log.write_bytes(bytes(data))
    assert main(["verify", str(log)]) == 1
    err = capsys.readouterr().err.strip()
    assert "was altered" in err and "internal error" not in err and "\n" not in err


@pytest.mark.parametrize("kind", ["trade_executed", "quotes_replaced", "checkpoint_recorded", "funding_paid", "market_listed"])
def test_a_compact_row_rebuilds_the_canonical_bytes_it_was_cut_from(kind):
    # The writer stores the array after `["kind",ts_ns,causes`; SQLite gives the reader the canonical bytes back.
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from clearing.log.writer import causes_text, payload_array

    conn = sqlite3.connect(":memory:")
    conn.execute(schema.EVENTS_SQL)
    conn.execute(schema.KINDS_SQL)
    conn.execute(schema.KIND_INSERT_SQL, (schema.KIND_CODES[kind], kind, ev.VERSIONS[kind], "[]"))

    @settings(max_examples=50, deadline=None)
    @given(st.from_type(ev.KINDS[kind]))
    def check(event):
        event = msgspec.structs.replace(event, ts_ns=abs(event.ts_ns) % 2**62)  # a time SQLite holds
        canonical = ev.encode(event)
        causes = causes_text(event.causes)
        stored = payload_array(kind, str(event.ts_ns), causes, canonical)
        conn.execute("DELETE FROM events")
        conn.execute(schema.INSERT_SQL, (1, event.ts_ns, schema.KIND_CODES[kind], 1, causes, stored, b""))
        assert conn.execute(f"SELECT {schema.canonical_sql()} FROM events").fetchone()[0].encode() == canonical

    check()


def test_a_trade_has_one_boolean_so_a_liquidation_fill_is_found_by_its_bytes():
    # `clearing.apps.tally` finds a liquidation fill by `,true,` in the canonical array without decoding it.
    fields = msgspec.structs.fields(ev.TradeExecuted)
    assert [f.name for f in fields if f.type is bool] == ["liquidation"] and fields[-1].type is not bool


def test_a_ladder_s_view_gives_its_prices_and_the_rarer_kinds_views_use_the_index(tmp_path):
    from clearing.apps.run import run_scenario
    from clearing.scenario import load_scenario
    from tests.conftest import SCENARIOS

    log = tmp_path / "log.sqlite"
    run_scenario(load_scenario(SCENARIOS / "synthetic-crash.toml", ["duration_s=120", "population.accounts=20"]), 0, log)
    with EventLogReader(log) as reader:
        ladders = [e for _seq, e in reader.events(kinds=["quotes_replaced"]) if e.bid_lots and e.ask_lots]
        rows = reader.conn.execute("SELECT bid_prices, ask_prices FROM quotes_replaced WHERE json_array_length(bid_lots) "
                                   "AND json_array_length(ask_lots) ORDER BY seq").fetchall()  # fmt: skip
        plans = {view: " ".join(r[3] for r in reader.conn.execute(f"EXPLAIN QUERY PLAN SELECT count(*) FROM {view}"))
                 for view in ("liquidations", "margin_breaches", "trades")}  # fmt: skip
    assert len(ladders) == len(rows) > 0
    for event, (bids, asks) in zip(ladders, rows, strict=True):
        prices = ev.QuotesReplaced.prices(event.bid_price_steps, -1), ev.QuotesReplaced.prices(event.ask_price_steps, 1)
        assert (json.loads(bids), json.loads(asks)) == prices and prices[0][0] < prices[1][0]
    assert "events_kind_seq" in plans["liquidations"] and "events_kind_seq" in plans["margin_breaches"]
    assert "SCAN events" in plans["trades"]  # a kind of a fifth of the rows or more: read in order, no index entries
