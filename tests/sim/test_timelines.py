"""Exact (kind, ts_ns) timelines of the SimPy shell for hand-checkable inputs."""

import json

import pytest

from clearing.apps.run import run_in_memory
from tests.builders import payload_dict
from tests.conftest import small_scenario

S = 10**9


def run(**overrides):
    settings = dict(  # noqa: C408 - keyword form mirrors small_scenario's arguments
        duration_s=40, checkpoint_interval_s=100, population__accounts=1, population__entry_window_s=0,
        population__long_fraction=1.0, population__leverage=[50], population__leverage_weights=[1.0],
        price__volatility=0.0, price__initial="100", price__shocks=[{"start_s": 5, "duration_s": 10, "change": -0.1}],
        oracle__heartbeat_s=12, oracle__latency_ms=500, oracle__deviation="0.02",
        liquidation__service_time_ms=250, liquidation__liquidators=1, population__holding_mean_s=0,
        market_makers__count=1, market_makers__refresh_ms=10_000, noise_takers__count=0, arbitrageurs__count=0,
        funding__enabled=False,
    )  # fmt: skip
    scenario = small_scenario(**{**settings, **overrides})
    _summary, sink = run_in_memory(scenario, 1)
    return [(seq, kind, ts, payload_dict(payload), json.loads(causes)) for seq, ts, kind, _v, causes, payload, _h in sink.rows]


@pytest.fixture(scope="module")
def rows():
    return run()


def test_push_oracle_publishes_on_deviation_then_heartbeat(rows):
    # Index: 100.0 until 5 s, then -10 % over 10 steps: 99.0, 97.9, 96.9, 95.9, ... 90.0.
    # Deviation 2 %: 97.9 is 2.1 % from 100.0 (publish), 96.9 only 1.02 % from 97.9 (not).
    published = [(ts, p["price_ticks"], p["reason"]) for _s, kind, ts, p, _c in rows if kind == "oracle_price_published"]
    assert published == [
        (0, 1000, "initial"),
        (7 * S, 979, "deviation"),
        (9 * S, 959, "deviation"),
        (11 * S, 939, "deviation"),
        (13 * S, 919, "deviation"),
        (15 * S, 900, "deviation"),
        (27 * S, 900, "heartbeat"),
        (39 * S, 900, "heartbeat"),
    ]


def test_delivery_follows_publication_by_the_latency_and_sets_the_mark(rows):
    published = [ts for _s, kind, ts, _p, _c in rows if kind == "oracle_price_published"]
    delivered = [(ts, p["ts_source_ns"]) for _s, kind, ts, p, _c in rows if kind == "oracle_price_delivered"]
    marks = [ts for _s, kind, ts, _p, _c in rows if kind == "mark_price_updated"]
    assert delivered == [(ts + S // 2, ts) for ts in published]
    assert marks == [ts for ts, _ in delivered]


def test_breach_on_the_first_bad_mark_then_liquidation_after_service_time(rows):
    # One maker quotes from time 0; the trader's market order lifts its ask; the breach
    # comes with the first mark below maintenance, the liquidation 250 ms later as an IOC
    # into the (stale) maker bid, which fills it above the mark: a fee, no shortfall.
    quiet = (
        "index_price_updated", "oracle_observed", "oracle_price_published", "oracle_price_delivered", "mark_price_updated",
        "quotes_replaced",
    )  # fmt: skip
    timeline = [(kind, ts) for _s, kind, ts, _p, _c in rows if kind not in quiet]
    assert timeline == [
        ("market_listed", 0), ("accounts_opened", 0), ("accounts_opened", 0), ("deposited", 0),
        ("accounts_opened", 0), ("deposited", 0), ("insurance_fund_deposited", 0), ("oracle_source_listed", 0),
        ("deposited", 0), ("order_placed", 0), ("trade_executed", 0),
        ("margin_breached", 7_500_000_000),
        ("order_placed", 7_750_000_000), ("trade_executed", 7_750_000_000),
        ("liquidation_fee_charged", 7_750_000_000), ("liquidation_completed", 7_750_000_000),
        ("checkpoint_recorded", 40 * S),
    ]  # fmt: skip
    fills = [(p["price_ticks"], p["liquidation"], p["taker_side"]) for _s, kind, _ts, p, _c in rows if kind == "trade_executed"]
    assert fills == [(1001, False, 1), (999, True, -1)]


def test_causes_link_price_move_to_liquidation(rows):
    by_seq = {seq: (kind, causes) for seq, kind, _ts, _p, causes in rows}
    completed = next(seq for seq, kind, *_ in rows if kind == "liquidation_completed")
    chain = []
    seq = completed
    while by_seq[seq][1]:
        chain.append(by_seq[seq][0])
        seq = by_seq[seq][1][0]
    chain.append(by_seq[seq][0])
    assert chain == [
        "liquidation_completed", "trade_executed", "order_placed", "margin_breached", "mark_price_updated",
        "oracle_price_delivered", "oracle_price_published", "oracle_observed", "index_price_updated",
    ]  # fmt: skip


def test_zero_latency_delivers_at_publication_time():
    rows = run(oracle__latency_ms=0)
    delivered = [(ts, p["ts_source_ns"]) for _s, kind, ts, p, _c in rows if kind == "oracle_price_delivered"]
    assert delivered[:2] == [(0, 0), (7 * S, 7 * S)]


def test_a_recovered_account_is_released_not_liquidated():
    # A slow liquidator (20 s) finds the price back up: the shock reverses by 20 s.
    rows = run(
        liquidation__service_time_ms=12_000,
        price__shocks=[{"start_s": 5, "duration_s": 3, "change": -0.05}, {"start_s": 8, "duration_s": 3, "change": 0.2}],
    )
    kinds = [kind for _s, kind, *_ in rows]
    assert "margin_breached" in kinds and "liquidation_cancelled" in kinds and "liquidation_completed" not in kinds
