"""Exact oracle timelines: publication rules, boundaries, outages, aggregation, pull, guards.

These run the SimPy shell end to end; the policies themselves are tested directly in
tests/unit/test_oracle*.py (the latency models' draws and the random outages there).

The index is deterministic: 100.0 until 5 s, then -10 % over ten one-second steps
(99.0, 97.9, 96.9, 95.9, 94.9, 93.9, 92.9, 91.9, 91.0, 90.0), flat after 15 s.
"""

import json

from clearing.apps.run import run_in_memory
from tests.builders import payload_dict
from tests.conftest import small_scenario

S = 10**9


def run(**overrides):
    settings = {
        "duration_s": 40, "checkpoint_interval_s": 100, "population__accounts": 1, "population__entry_window_s": 0,
        "population__long_fraction": 1.0, "population__leverage": [50], "population__leverage_weights": [1.0],
        "population__holding_mean_s": 0, "price__volatility": 0.0, "price__initial": "100",
        "price__shocks": [{"start_s": 5, "duration_s": 10, "change": -0.1}], "oracle__heartbeat_s": 12,
        "oracle__deviation": "0.02", "liquidation__liquidators": 1, "market_makers__count": 1,
        "market_makers__refresh_ms": 10_000, "noise_takers__count": 0, "arbitrageurs__count": 0, "funding__enabled": False,
    }  # fmt: skip
    _summary, sink = run_in_memory(small_scenario(**{**settings, **overrides}), 1)
    return [(seq, kind, ts, payload_dict(payload), json.loads(causes)) for seq, ts, kind, _v, causes, payload, _h in sink.rows]


def published(rows):
    return [(ts, p["price_ticks"], p["reason"]) for _s, kind, ts, p, _c in rows if kind == "oracle_price_published"]


def of(rows, kind):
    return [(ts, p) for _s, k, ts, p, _c in rows if k == kind]


def test_a_move_of_exactly_the_threshold_does_not_publish():
    # Deviation 1 %, measured from the last PUBLISHED price: 99.0 at 6 s is exactly 1 % from
    # 100.0 (not more): no round. 97.9 at 7 s is 2.1 %: published. 96.9 at 8 s is 1.02 % from 97.9.
    rows = run(oracle__deviation="0.01")
    assert published(rows)[:3] == [(0, 1000, "initial"), (7 * S, 979, "deviation"), (8 * S, 969, "deviation")]


def test_heartbeat_publishes_exactly_when_due():
    rows = run()
    assert published(rows)[-3:] == [(15 * S, 900, "deviation"), (27 * S, 900, "heartbeat"), (39 * S, 900, "heartbeat")]


def test_an_outage_stops_rounds_until_the_source_is_back():
    # One source, down from 20 s to 30 s; readings older than 2 s are not live. Rounds at 22..29 s
    # fail; the heartbeat due at 27 s waits until the source is back at 30 s.
    rows = run(
        oracle__sources=[{"name": "venue", "outages": [{"start_s": 20, "duration_s": 10}]}], oracle__source_max_age_s=2,
    )  # fmt: skip
    observed = [ts for ts, _p in of(rows, "oracle_observed")]
    assert 19 * S in observed and not any(20 * S <= t < 30 * S for t in observed) and 30 * S in observed
    failed = [(ts, p["reason"]) for ts, p in of(rows, "oracle_round_failed")]
    assert failed == [(t * S, "too_few_sources") for t in range(22, 30)]
    assert published(rows)[-2:] == [(15 * S, 900, "deviation"), (30 * S, 900, "heartbeat")]


def test_cadence_publishes_every_interval_and_delivers_after_the_latency():
    rows = run(oracle__policy="cadence", oracle__cadence_ms=3000, oracle__latency_ms=500)
    times = [ts for ts, _p, _r in published(rows)]
    assert times == list(range(0, 40 * S, 3 * S))
    assert [ts for ts, _p in of(rows, "oracle_price_delivered")] == [t + S // 2 for t in times if t + S // 2 < 40 * S]


def test_push_lands_after_the_inclusion_delay_plus_latency():
    rows = run(oracle__inclusion_delay_ms=12_000, oracle__latency_ms=500)
    delivered = [(ts, p["ts_published_ns"], p["ts_source_ns"]) for ts, p in of(rows, "oracle_price_delivered")]
    assert delivered[:2] == [(12_500_000_000, 0, 0), (19_500_000_000, 7 * S, 7 * S)]


def test_pull_delivers_only_when_the_exchange_pulls():
    rows = run(oracle__policy="pull", oracle__cadence_ms=400, oracle__pull_interval_ms=1000)
    delivered = [ts for ts, _p in of(rows, "oracle_price_delivered")]
    acting = {ts for ts, _p in of(rows, "oracle_guard_checked")} | {
        ts for _s, k, ts, _p, _c in rows if k.startswith("liquidation")
    }
    assert delivered and all(ts % S == 0 or ts in acting for ts in delivered)  # every second, or as a liquidator acts
    # Between pulls the freshest of two or three publications is taken, never an older one.
    sources = [p["ts_source_ns"] for _ts, p in of(rows, "oracle_price_delivered")]
    assert sources == sorted(sources)


def test_pull_refuses_a_stale_publication():
    rows = run(
        oracle__policy="pull", oracle__cadence_ms=400, oracle__max_age_s=2, oracle__source_max_age_s=60,
        oracle__sources=[{"name": "venue", "outages": [{"start_s": 20, "duration_s": 10}]}],
    )  # fmt: skip
    refusals = [(ts, p["reason"]) for ts, p in of(rows, "oracle_guard_checked") if p["action"] == "pull"]
    assert refusals and all(reason == "stale" for _t, reason in refusals)
    assert min(t for t, _r in refusals) == 22 * S  # the last reading, taken at 19 s, is more than 2 s old


def test_median_ignores_one_dislocated_source_and_weighted_median_follows_the_heavy_one():
    sources = [
        {"name": "a", "weight": 1}, {"name": "b", "weight": 1},
        {"name": "c", "weight": 5, "dislocations": [{"start_s": 20, "duration_s": 5, "offset": -0.3}]},
    ]  # fmt: skip
    median_rows = run(oracle__sources=sources, oracle__policy="cadence", oracle__cadence_ms=1000)
    assert {p for t, p, _r in published(median_rows) if 20 * S <= t < 25 * S} == {900}
    weighted = run(
        oracle__sources=sources, oracle__policy="cadence", oracle__cadence_ms=1000, oracle__aggregation="weighted_median"
    )
    assert {p for t, p, _r in published(weighted) if 20 * S <= t < 25 * S} == {630}
    batches = [p for t, p in of(weighted, "oracle_observed") if 20 * S <= p["ts_source_ns"] < 25 * S]
    assert {(b["sources"][2], b["status"][2]) for b in batches} == {(2, "dislocated")}  # one event, three readings
    assert {st for b in batches for st in b["status"][:2]} == {"ok"}


def test_sources_sampled_together_arrive_in_one_event():
    # a and b share the cadence and the delay: one event carries both readings; c arrives later.
    sources = [{"name": "a", "delay_ms": 100}, {"name": "b", "delay_ms": 100}, {"name": "c", "delay_ms": 300}]
    rows = run(oracle__sources=sources, oracle__policy="cadence", oracle__cadence_ms=1000)
    at_five = [(t, p["sources"], p["ts_source_ns"]) for t, p in of(rows, "oracle_observed") if p["ts_source_ns"] == 5 * S]
    assert at_five == [(5 * S + S // 10, [0, 1], 5 * S), (5 * S + 3 * S // 10, [2], 5 * S)]


def test_a_frozen_source_repeats_its_last_value():
    rows = run(oracle__sources=[{"name": "a", "frozen": [{"start_s": 6, "duration_s": 20}]}], oracle__policy="cadence",
               oracle__cadence_ms=1000)  # fmt: skip
    frozen = {p["price_ticks"][0] for _t, p in of(rows, "oracle_observed") if p["status"] == ["frozen"]}
    assert frozen == {1000}  # the crash is invisible until 26 s
    assert {p for t, p, _r in published(rows) if 6 * S <= t < 26 * S} == {1000}


def test_too_few_sources_and_outliers_fail_the_round():
    sources = [{"name": n, "outages": [{"start_s": 20, "duration_s": 5}] if n != "a" else []} for n in "abc"]
    rows = run(oracle__sources=sources, oracle__min_sources=2, oracle__source_max_age_s=1, oracle__policy="cadence",
               oracle__cadence_ms=1000)  # fmt: skip
    assert {(t, p["live_sources"]) for t, p in of(rows, "oracle_round_failed")} == {(t * S, 1) for t in range(21, 25)}
    cut = [{"name": "a"}, {"name": "b", "dislocations": [{"start_s": 20, "duration_s": 5, "offset": 0.5}]}]
    rows = run(oracle__sources=cut, oracle__min_sources=2, oracle__outlier_cut="0.1", oracle__policy="cadence",
               oracle__cadence_ms=1000)  # fmt: skip
    reasons = {p["reason"] for _t, p in of(rows, "oracle_round_failed")}
    assert reasons == {"outliers"}


def test_liquidations_wait_for_a_fresh_price_when_guarded():
    # The price lands 10 s after it was observed: older than the 5 s the guard allows.
    rows = run(oracle__inclusion_delay_ms=10_000, oracle__guards={"liquidation_max_age_s": 5})
    checks = [(p["allowed"], p["reason"], p["age_ns"]) for _t, p in of(rows, "oracle_guard_checked")]
    assert checks and all(not allowed and reason == "stale" and age > 5 * S for allowed, reason, age in checks)
    assert not of(rows, "liquidation_completed")
    assert {p["reason"] for _t, p in of(rows, "liquidation_cancelled")} == {"oracle_guard"}


def test_a_wide_confidence_keeps_the_mark_where_it_was():
    sources = [{"name": "p", "confidence_bps": 300}]  # 3 % confidence
    rows = run(oracle__sources=sources, oracle__aggregation="pyth", oracle__guards={"max_confidence": "0.01"})
    checks = [(p["allowed"], p["reason"]) for _t, p in of(rows, "oracle_guard_checked")]
    assert checks and set(checks) == {(False, "confidence")}
    assert not of(rows, "mark_price_updated")


def test_load_latency_grows_with_the_liquidation_storm():
    # Every delivery's lag is the base plus 100 ms per margin breach of the last minute.
    rows = run(
        population__accounts=40, population__leverage=[50, 100], population__leverage_weights=[1.0, 1.0],
        oracle__policy="cadence", oracle__cadence_ms=1000, oracle__latency_model="load", oracle__latency_ms=200,
        oracle__latency_per_breach_ms=100.0,
    )  # fmt: skip
    lags = [ts - p["ts_published_ns"] for ts, p in of(rows, "oracle_price_delivered")]
    assert lags[0] == 200_000_000 and max(lags) > 200_000_000
    assert all((lag - 200_000_000) % 100_000_000 == 0 for lag in lags)
