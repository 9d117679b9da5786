"""Throughput of the event log against what raw SQLite can do on the same machine.

Two benchmarks, each with its own baseline measured in the same test:

* emit: `EventBus.emit` into an `EventLog` (encode, decode-check, apply, hash-chain, batched
  append) against a raw `executemany` of the very same rows, with the same schema, PRAGMAs
  and 10k-row transactions;
* replay: `clearing.apps.replay.fold` (read, chain check, decode, apply) against a raw cursor
  read of the same file.

Only the appending (or reading) is timed: creating a file with its schema, and finishing
it, happen outside the timer on both sides. The two sides of each pair are timed
alternately (the order flips every repetition) and the target is the median of the
per-repetition ratios, so drift in machine speed hits both sides alike. pytest-benchmark
times the clearing side on its own as well.

Run with `pytest tests/benchmarks --benchmark-only` (the default addopts skip benchmarks).
"""

from __future__ import annotations

import gc
import hashlib
import itertools
import random
import sqlite3
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from clearing import events as ev
from clearing.apps.replay import fold
from clearing.core.state import DIGEST_VERSION, ClearingState, apply
from clearing.core.state.schema import Role
from clearing.log import schema
from clearing.log.verify import run_id_for
from clearing.log.writer import EventLog, RunHeaderData
from clearing.sim.bus import EventBus
from tests.builders import deposited, mark_price_updated, opened, trade

N_EVENTS = 200_000
BATCH = 10_000  # rows per transaction, on both sides of the emit comparison
REPS = 5  # interleaved repetitions per ratio
ROUNDS = 3  # pytest-benchmark rounds of the clearing side
CHECKPOINT_EVERY = 50_000
ACCOUNTS = 10_000  # the last one is the liquidity provider
EMIT_TARGET = 0.4  # emit rate / raw append rate
REPLAY_TARGET = 0.3  # replay rate / raw read rate

# One market with the synthetic-crash scenario's conventions: 0.1 tick, 0.001 lot, 6 decimals.
UNIT_VALUE = 100  # quote minor units per tick per lot
TAKER_FEE_PPM = 500
START_TICKS = 600_000

SCENARIO_HASH = hashlib.sha256(b"{}").hexdigest()  # a header that verifies: its fields bound to one another
HEADER = RunHeaderData(
    run_id=run_id_for(SCENARIO_HASH, 0),
    clearing_version="bench",
    scenario_name="bench",
    scenario_json="{}",
    scenario_hash=SCENARIO_HASH,
    seed=0,
    epoch_utc="2024-03-01T00:00:00Z",
    inputs_json="{}",
)
SELECT_ROWS = "SELECT seq, ts_ns, kind, version, causes, payload, hash FROM events ORDER BY seq"

Row = tuple[int, int, str, int, str, str, bytes]


# ---------------------------------------------------------------- workload


def _setup_events() -> list[ev.Event]:
    market = opened(
        ACCOUNTS - 1, (1, Role.LIQUIDITY_PROVIDER), symbol="BTCUSDT-PERP", tick_size="0.1", lot_size="0.001",
        quote_decimals=6, unit_value=UNIT_VALUE, liquidation_fee_ppm=12_500, taker_fee_ppm=TAKER_FEE_PPM,
    )  # fmt: skip
    return [*market, *(deposited(a, 10_000_000_000) for a in range(ACCOUNTS))]


def make_events(n: int, seed: int = 0) -> list[ev.Event]:
    """Return n valid events: market, accounts and deposits, then 40 % index prices, 30 % marks,
    30 % trades between a trader and the liquidity provider, and a checkpoint every
    CHECKPOINT_EVERY events (its digest computed on a scratch state)."""
    rng = random.Random(seed)
    events = _setup_events()
    state = ClearingState()
    for setup_event in events:
        apply(state, setup_event)
    ts, price, last_index, last_mark = 0, START_TICKS, 1, 1
    provider = ACCOUNTS - 1
    while len(events) < n:
        seq = len(events) + 1  # the seq emit will give this event
        e: ev.Event
        if seq % CHECKPOINT_EVERY == 0:
            e = ev.CheckpointRecorded(ts_ns=ts, digest=state.digest(), digest_version=DIGEST_VERSION, final=False)
        else:
            ts += rng.randrange(1_000_000, 50_000_000)
            r = rng.random()
            if r < 0.4:
                price = max(1, price + rng.randint(-300, 300))
                e, last_index = ev.IndexPriceUpdated(ts_ns=ts, market=0, price_ticks=price), seq
            elif r < 0.7:
                e = mark_price_updated(price, ts_ns=ts, causes=(last_index,))
                last_mark = seq
            else:
                lots = rng.randint(1, 500)
                fee = lots * price * UNIT_VALUE * TAKER_FEE_PPM // 1_000_000
                trader = rng.randrange(provider)
                buy = rng.random() < 0.5
                e = trade(
                    trader if buy else provider, provider if buy else trader, lots, price, ts_ns=ts, causes=(last_mark,),
                    buyer_fee=fee if buy else 0, seller_fee=0 if buy else fee, taker_side=1 if buy else -1,
                )  # fmt: skip
        apply(state, e)
        events.append(e)
    return events


# ---------------------------------------------------------------- the two sides of each pair


def open_bus(path: Path) -> EventBus:
    """Return a bus over a fresh state and a fresh `EventLog` at `path`."""
    return EventBus(ClearingState(), EventLog(path, HEADER, batch_size=BATCH))


def emit_all(bus: EventBus, events: list[ev.Event]) -> None:
    """Emit every event and write the last partial batch."""
    emit = bus.emit
    for e in events:
        emit(e)
    log_of(bus).flush()


def log_of(bus: EventBus) -> EventLog:
    """Return the bus's sink, which open_bus made an EventLog."""
    assert isinstance(bus.sink, EventLog)
    return bus.sink


def discard_bus(bus: EventBus, *_: object) -> None:
    """Finish the bus's log and delete its file (also a pedantic teardown, hence the ignored args)."""
    log = log_of(bus)
    log.finish("complete")
    remove_db(log.path)


def open_raw(path: Path) -> sqlite3.Connection:
    """Return a connection to a fresh file with the log's events table and PRAGMAs."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(schema.EVENTS_SQL)
    return conn


def append_raw(conn: sqlite3.Connection, rows: list[Row]) -> None:
    """Insert pre-built rows with executemany, one transaction per BATCH rows."""
    for i in range(0, len(rows), BATCH):
        conn.execute("BEGIN")
        conn.executemany(schema.INSERT_SQL, rows[i : i + BATCH])
        conn.execute("COMMIT")


def read_raw(path: Path) -> int:
    """Iterate every row of the log's events table; return the row count."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        n = 0
        for _row in conn.execute(SELECT_ROWS):
            n += 1
        return n
    finally:
        conn.close()


# ---------------------------------------------------------------- measurement


def timed(fn: Callable[[], object]) -> float:
    """Return the wall time of fn() in seconds, after a full collection."""
    gc.collect()
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def remove_db(path: Path) -> None:
    """Delete a SQLite file and its WAL side files."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


@dataclass(frozen=True)
class Comparison:
    """Per-repetition rates (events/s) of a clearing path and of its raw SQLite baseline."""

    name: str
    baseline: str
    events: int
    rates: list[float]
    baseline_rates: list[float]

    @property
    def ratios(self) -> list[float]:
        """Return rate / baseline rate of each repetition."""
        return [a / b for a, b in zip(self.rates, self.baseline_rates, strict=True)]

    @property
    def ratio(self) -> float:
        """Return the median ratio."""
        return statistics.median(self.ratios)

    def extra_info(self) -> dict[str, object]:
        """Return medians, spread and raw numbers for benchmark.extra_info."""
        return {
            "events": self.events,
            f"{self.name}_rate": round(statistics.median(self.rates)),
            f"{self.baseline}_rate": round(statistics.median(self.baseline_rates)),
            "ratio": round(self.ratio, 3),
            "ratio_min": round(min(self.ratios), 3),
            "ratio_max": round(max(self.ratios), 3),
            f"{self.name}_rates": [round(x) for x in self.rates],
            f"{self.baseline}_rates": [round(x) for x in self.baseline_rates],
            "ratios": [round(x, 3) for x in self.ratios],
        }


def interleaved(name: str, side: Callable[[], float], baseline: str, baseline_side: Callable[[], float], n: int) -> Comparison:
    """Time both sides REPS times, flipping which goes first each time.

    Each side returns the seconds of its timed part for n events.
    """
    rates: list[float] = []
    baseline_rates: list[float] = []
    for rep in range(REPS):
        order = (side, baseline_side) if rep % 2 == 0 else (baseline_side, side)
        seconds = {run: run() for run in order}
        rates.append(n / seconds[side])
        baseline_rates.append(n / seconds[baseline_side])
    return Comparison(name, baseline, n, rates, baseline_rates)


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def events() -> list[ev.Event]:
    """The workload, built once."""
    return make_events(N_EVENTS)


@pytest.fixture(scope="module")
def reference_log(tmp_path_factory: pytest.TempPathFactory, events: list[ev.Event]) -> Path:
    """A complete log of the workload, written by the emit path."""
    path = tmp_path_factory.mktemp("bench") / "reference.sqlite"
    bus = open_bus(path)
    emit_all(bus, events)
    digest = bus.state.digest()  # a complete log ends with the final checkpoint, whose digest the header records
    bus.emit(ev.CheckpointRecorded(ts_ns=events[-1].ts_ns, digest=digest, digest_version=DIGEST_VERSION, final=True))
    log_of(bus).finish("complete", state_digest=digest)
    return path


@pytest.fixture
def fresh_paths(tmp_path: Path) -> Iterator[Path]:
    """An endless supply of unused file paths in tmp_path."""
    return (tmp_path / f"run-{i}.sqlite" for i in itertools.count())


# ---------------------------------------------------------------- benchmarks


def test_emit_throughput(
    benchmark: BenchmarkFixture, events: list[ev.Event], reference_log: Path, fresh_paths: Iterator[Path]
) -> None:
    """Emit path vs raw executemany of the same rows: median ratio >= EMIT_TARGET."""
    conn = sqlite3.connect(reference_log)
    rows: list[Row] = conn.execute(SELECT_ROWS).fetchall()[: len(events)]  # without the final checkpoint
    conn.close()
    assert len(rows) == len(events)

    def emit_side() -> float:
        bus = open_bus(next(fresh_paths))
        seconds = timed(lambda: emit_all(bus, events))
        discard_bus(bus)
        return seconds

    def raw_side() -> float:
        path = next(fresh_paths)
        raw = open_raw(path)
        seconds = timed(lambda: append_raw(raw, rows))
        raw.close()
        remove_db(path)
        return seconds

    result = interleaved("emit", emit_side, "raw_append", raw_side, len(events))
    benchmark.extra_info.update(result.extra_info())
    benchmark.pedantic(
        emit_all, setup=lambda: ((open_bus(next(fresh_paths)), events), {}), teardown=discard_bus, rounds=ROUNDS, iterations=1
    )
    assert result.ratio >= EMIT_TARGET, (
        f"emit reaches {result.ratio:.3f} of raw append (target {EMIT_TARGET}): {result.extra_info()}"
    )


def test_replay_throughput(benchmark: BenchmarkFixture, events: list[ev.Event], reference_log: Path) -> None:
    """fold() vs a raw cursor read of the same file: median ratio >= REPLAY_TARGET."""
    replayed = fold(reference_log)
    assert replayed.events == len(events) + 1  # and the final checkpoint
    assert replayed.checkpoints == len(events) // CHECKPOINT_EVERY + 1
    assert read_raw(reference_log) == len(events) + 1

    result = interleaved(
        "replay",
        lambda: timed(lambda: fold(reference_log)),
        "raw_read",
        lambda: timed(lambda: read_raw(reference_log)),
        len(events) + 1,
    )
    benchmark.extra_info.update(result.extra_info())
    benchmark.pedantic(fold, args=(reference_log,), rounds=ROUNDS, iterations=1)
    assert result.ratio >= REPLAY_TARGET, (
        f"replay reaches {result.ratio:.3f} of raw read (target {REPLAY_TARGET}): {result.extra_info()}"
    )
