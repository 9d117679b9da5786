"""A dated future beside its perpetual, through the whole engine: it trades, pays no funding and settles at expiry."""

from __future__ import annotations

import pytest

from clearing.apps.run import run_in_memory
from clearing.core.expiry import settlement_average
from clearing.core.invariants import violations
from clearing.errors import ConfigError
from tests.builders import payloads, state_from_rows
from tests.conftest import small_scenario

EXPIRY_S = 1_800


def with_future(**future: object):
    quarterly = {"symbol": "BTCUSDT-0327", "kind": "future", "expiry_s": EXPIRY_S, "settlement_window_s": 600,
                 "underlying": "BTCUSDT-PERP", "price": {"initial": "60000", "volatility": 0.6}, **future}  # fmt: skip
    return small_scenario(duration_s=2_400, markets=[quarterly], population__legs=[1, 1], population__accounts=200,
                          funding__interval_s=600)  # fmt: skip


@pytest.fixture(scope="module")
def run():
    return run_in_memory(with_future(), seed=3)


def test_the_future_is_specified_right_after_its_listing(run) -> None:
    _summary, sink = run
    (contract,) = payloads(sink, "contract_specified")
    assert contract[2]["market"] == 1 and contract[2]["instrument"] == "future" and contract[2]["underlying"] == 0
    assert contract[2]["expiry_ns"] == EXPIRY_S * 10**9 and contract[2]["settlement_window_ns"] == 600 * 10**9


def test_it_settles_on_the_average_of_the_perpetual_index_over_the_window(run) -> None:
    _summary, sink = run
    (settled,) = payloads(sink, "market_settled")
    assert settled[1] == EXPIRY_S * 10**9 and settled[2]["samples"] == 600
    # one sample a second from 1,200 s: the index in force during that second (it updates every second)
    by_second = {}
    for _s, ts, p in payloads(sink, "index_price_updated"):
        if p["market"] == 0:
            by_second[ts // 10**9] = p["price_ticks"]
    samples = [by_second[t] for t in range(EXPIRY_S - 600, EXPIRY_S)]
    assert settled[2]["underlying_ticks"] == settlement_average(samples) == settled[2]["price_ticks"]


def test_every_open_position_settles_once_and_the_market_closes(run) -> None:
    _summary, sink = run
    state = state_from_rows(sink.rows)
    settled = payloads(sink, "position_settled")
    assert len(settled) >= 2 and sum(p["lots"] for _s, _t, p in settled) == 0
    assert len({p["account"] for _s, _t, p in settled}) == len(settled)
    assert not state.position[:, 1].any() and state.settlement_clearing == 0
    assert violations(state) == []
    after = [p for _s, ts, p in payloads(sink, "trade_executed") if p["market"] == 1 and ts > EXPIRY_S * 10**9]
    assert after == []
    assert all(p["market"] == 0 for _s, _t, p in payloads(sink, "funding_paid"))  # the future pays no funding
    assert any(p["market"] == 0 for _s, _t, p in payloads(sink, "funding_paid"))


def test_the_run_is_deterministic_and_replays(run) -> None:
    summary, sink = run
    again, _ = run_in_memory(with_future(), seed=3)
    assert again.head_hash == summary.head_hash
    assert state_from_rows(sink.rows).digest() == summary.state_digest


@pytest.mark.parametrize(
    ("future", "message"),
    [
        ({"expiry_s": None}, "a future needs expiry_s"),
        ({"settlement_window_s": 4_000}, "settlement_window_s 4000.0 is longer than expiry_s 1800.0"),
        ({"underlying": "ETHUSDT"}, "markets.0.underlying 'ETHUSDT' is not a listed market's symbol"),
        ({"kind": "linear_perpetual"}, "a linear_perpetual has no expiry_s or underlying"),
        ({"kind": "swap"}, "kind"),
    ],
)
def test_a_bad_future_is_refused_with_its_reason(future, message) -> None:
    with pytest.raises((ConfigError, ValueError), match=message):
        with_future(**future)
