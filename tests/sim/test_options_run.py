"""Options in a run: a surface driven by the underlying, model marks, makers' books, and cash settlement at expiry."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from clearing.apps.run import run_in_memory
from clearing.core.expiry import option_settlement_ticks
from clearing.core.invariants import violations
from tests.builders import state_from_rows
from tests.conftest import small_scenario

EXPIRY_S = 1_800


def option(symbol: str, option_type: str, strike: str) -> dict[str, object]:
    return {"symbol": symbol, "kind": "option", "option_type": option_type, "strike": strike, "expiry_s": EXPIRY_S,
            "settlement_window_s": 300, "underlying": "BTCUSDT-PERP", "tick_size": "0.5", "lot_size": "0.01"}  # fmt: skip


def with_options(**overrides: object):
    markets = [option("BTC-C-60000", "call", "60000"), option("BTC-P-55000", "put", "55000")]
    return small_scenario(duration_s=2_400, markets=markets, population__accounts=200, **overrides)


def rows(sink, kind):
    return [(ts, json.loads(payload)) for _s, ts, k, _v, _c, payload, _h in sink.rows if k == kind]


@pytest.fixture(scope="module")
def run():
    return run_in_memory(with_options(), seed=5)


def test_the_surface_follows_the_underlying_and_prices_the_options(run) -> None:
    _summary, sink = run
    surfaces = rows(sink, "volatility_surface_updated")
    assert surfaces and all(p["underlying"] == 0 for _t, p in surfaces)
    assert surfaces[0][1]["expiries_ns"] == [EXPIRY_S * 10**9]
    atm = [p["vol_ppm"][0][len(p["log_moneyness_ppm"]) // 2] for _t, p in surfaces]
    assert max(atm) > atm[0]  # the 30 % fall at 900 s raised the level (the leverage effect)
    marks = [p for _t, p in rows(sink, "mark_price_updated") if p["market"] in (1, 2)]
    assert {p["method"] for p in marks} == {"model"} and {p["market"] for p in marks} == {1, 2}


def test_option_books_trade_and_the_options_settle_at_intrinsic_value(run) -> None:
    _summary, sink = run
    traded = {p["market"] for _t, p in rows(sink, "trade_executed")}
    assert {1, 2} <= traded
    settled = {p["market"]: p for _t, p in rows(sink, "market_settled")}
    assert set(settled) == {1, 2}
    for market, (kind, strike) in {1: ("call", 60_000), 2: ("put", 55_000)}.items():
        s = settled[market]
        assert s["samples"] == 300
        assert s["price_ticks"] == option_settlement_ticks(s["underlying_ticks"], Decimal("0.1"), Decimal(strike), Decimal("0.5"), kind)
    state = state_from_rows(sink.rows)
    assert not state.position[:, 1:].any() and state.settlement_clearing == 0 and violations(state) == []


def test_an_options_run_is_deterministic_and_replays(run) -> None:
    summary, sink = run
    again, _ = run_in_memory(with_options(), seed=5)
    assert again.head_hash == summary.head_hash
    assert state_from_rows(sink.rows).digest() == summary.state_digest


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"strike": None}, "an option needs strike, option_type"),
        ({"underlying": "BTC-P-55000"}, "is an option; options are on perpetuals or futures"),
        ({"underlying": "BTC-C-60000"}, "an option's underlying must be another market"),
    ],
)
def test_a_bad_option_is_refused(change, message) -> None:
    markets = [{**option("BTC-C-60000", "call", "60000"), **change}, option("BTC-P-55000", "put", "55000")]
    with pytest.raises(ValueError, match=message):
        small_scenario(markets=markets)


def test_traders_hold_no_options() -> None:
    with pytest.raises(ValueError, match="traders hold perpetuals and futures"):
        small_scenario(markets=[option("BTC-C-60000", "call", "60000")], population__legs=[1, 1])
