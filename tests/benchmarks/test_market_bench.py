"""Matching and quote-refresh throughput next to bare baselines, and a one-hour tape window at 10^4 accounts.

Run with `make bench`. The matching numbers are orders per second through the full order
path (Exchange.submit: checks, pure match, events encoded, decoded, applied and appended to
an in-memory sink) and through the pure engine alone (match + the book updates apply makes),
each beside heapq push/pop of the same number of (price, seq) tuples in the same run. The
quote-refresh number is market-maker ladders per second through the bus (six makers of 20
levels a side re-quoting in turn: `quotes_replaced` encoded, decoded, applied and appended),
beside building the same ladders' (price, lots) tuples.
"""

from __future__ import annotations

import heapq
import os
import statistics
import time
from pathlib import Path

import numpy as np
import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from clearing import events as ev
from clearing.apps.run import run_in_memory
from clearing.core.agents.market_maker import MakerParams, clip_to_book, ladder
from clearing.core.book import BUY, SELL, Book, Fill, RestingOrder, best_of_others, match
from clearing.scenario import load_scenario
from clearing.sim.exchange import Exchange
from tests.builders import bus_with

ORDERS = 50_000
REPS = 5
ROOT = Path(__file__).resolve().parents[2]


def order_stream(n: int) -> list[tuple[int, int, int, int, str]]:
    """(account, side, lots, price, type): 70 % limits around 10,000 ticks, 30 % market orders."""
    rng = np.random.default_rng(42)
    accounts = rng.integers(0, 100, n)
    sides = np.where(rng.random(n) < 0.5, 1, -1)
    lots = rng.integers(1, 20, n)
    offsets = rng.integers(1, 50, n)
    kinds = rng.random(n) < 0.7
    return [
        (int(a), int(s), int(q), 10_000 - int(s) * int(o) if k else 0, "limit" if k else "market")
        for a, s, q, o, k in zip(accounts, sides, lots, offsets, kinds, strict=True)
    ]


def fresh_exchange() -> Exchange:
    return Exchange(bus_with(100), "expire_maker")  # market 0 and 100 traders


def submit_all(exchange: Exchange, orders: list[tuple[int, int, int, int, str]]) -> None:
    for account, side, lots, price, kind in orders:
        exchange.submit(0, account, 0, side, lots, kind, price)


def engine_all(orders: list[tuple[int, int, int, int, str]]) -> None:
    book = Book()
    for order_id, (account, side, lots, price, kind) in enumerate(orders, start=1):
        result = match(book, account, side, lots, price if kind == "limit" else None)
        for step in result.steps:
            if isinstance(step, Fill):
                book.fill(step.maker_order, step.lots)
            else:
                book.remove(step.maker_order)
        if result.remaining and kind == "limit" and not result.taker_expired:
            book.add(RestingOrder(order_id, account, side, price, result.remaining))


def heapq_all(orders: list[tuple[int, int, int, int, str]]) -> None:
    heap: list[tuple[int, int]] = []
    for seq, (_a, side, _q, price, _k) in enumerate(orders):
        heapq.heappush(heap, (-price if side == BUY else price, seq))
    while heap:
        heapq.heappop(heap)


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


@pytest.mark.benchmark(group="matching")
def test_matching_throughput(benchmark: BenchmarkFixture) -> None:
    orders = order_stream(ORDERS)
    full, engine, base = [], [], []
    for _ in range(REPS):
        full.append(ORDERS / timed(lambda: submit_all(fresh_exchange(), orders)))
        engine.append(ORDERS / timed(lambda: engine_all(orders)))
        base.append(ORDERS / timed(lambda: heapq_all(orders)))
    benchmark.extra_info.update(
        orders=ORDERS,
        exchange_rate=round(statistics.median(full)),
        engine_rate=round(statistics.median(engine)),
        heapq_rate=round(statistics.median(base)),
        ratio=round(statistics.median(f / b for f, b in zip(full, base, strict=True)), 4),
        ratio_min=round(min(f / b for f, b in zip(full, base, strict=True)), 4),
        ratio_max=round(max(f / b for f, b in zip(full, base, strict=True)), 4),
        engine_ratio=round(statistics.median(e / b for e, b in zip(engine, base, strict=True)), 4),
    )
    benchmark.pedantic(submit_all, setup=lambda: ((fresh_exchange(), orders), {}), rounds=3, iterations=1)


REFRESHES = 20_000
MAKER = MakerParams(20, 1.0, 5.0, 150_000_000, 0.6, 1.5, 3.0, 120 * 10**9, 5_000_000, 20.0)


def references(n: int) -> list[int]:
    """A random walk of reference prices around 700,000 ticks, one per refresh."""
    steps = np.random.default_rng(7).integers(-40, 41, n)
    return (700_000 + np.cumsum(steps)).tolist()


def refresh_all(exchange: Exchange, refs: list[int]) -> None:
    bus, s = exchange.bus, exchange.bus.state
    book = s.books[0]
    for i, reference in enumerate(refs):
        account = i % 6
        bids, asks = ladder(reference, 1e-8, 0, MAKER, 1)
        bids, asks = clip_to_book(bids, asks, best_of_others(book, BUY, account), best_of_others(book, SELL, account))
        # Built here rather than with tests.builders.quotes: this loop is what is timed.
        bus.emit(ev.QuotesReplaced(ts_ns=0, account=account, market=0, first_order_id=s.next_order_id, **ev.QuotesReplaced.sides(bids, asks),
                                   reference_ticks=reference, volatility_ppm=0))  # fmt: skip


def tuples_all(refs: list[int]) -> None:
    for reference in refs:
        bids = tuple((reference - 1 - 35 * k, 20 + k) for k in range(20))
        asks = tuple((reference + 1 + 35 * k, 20 + k) for k in range(20))
        del bids, asks


@pytest.mark.benchmark(group="matching")
def test_quote_refresh_throughput(benchmark: BenchmarkFixture) -> None:
    refs = references(REFRESHES)
    full, base = [], []
    for _ in range(REPS):
        full.append(REFRESHES / timed(lambda: refresh_all(fresh_exchange(), refs)))
        base.append(REFRESHES / timed(lambda: tuples_all(refs)))
    benchmark.extra_info.update(
        refreshes=REFRESHES,
        refresh_rate=round(statistics.median(full)),
        tuples_rate=round(statistics.median(base)),
        ratio=round(statistics.median(f / b for f, b in zip(full, base, strict=True)), 4),
        ratio_min=round(min(f / b for f, b in zip(full, base, strict=True)), 4),
        ratio_max=round(max(f / b for f, b in zip(full, base, strict=True)), 4),
    )
    benchmark.pedantic(refresh_all, setup=lambda: ((fresh_exchange(), refs), {}), rounds=3, iterations=1)


DATA = Path(os.environ.get("CLEARING_DATA_DIR", "/nonexistent"))


@pytest.mark.skipif(not (DATA / "btcusdt_1m_2020-03-12.csv").exists(), reason="needs CLEARING_DATA_DIR with the 2020-03-12 tape")
@pytest.mark.benchmark(group="scenario")
def test_black_thursday_hour_with_ten_thousand_accounts(benchmark: BenchmarkFixture) -> None:
    scenario = load_scenario(ROOT / "scenarios" / "btcusdt-2020-03-12-1000.toml")
    assert scenario.population.accounts == 10_000 and scenario.duration_s == 3600
    seconds = []

    def run() -> None:
        start = time.perf_counter()
        summary, _ = run_in_memory(scenario, 0)
        seconds.append(time.perf_counter() - start)
        benchmark.extra_info["events"] = summary.events

    benchmark.pedantic(run, rounds=3, iterations=1)
    benchmark.extra_info["sim_seconds_per_wall_second"] = round(scenario.duration_s / statistics.median(seconds), 1)
