"""Options in a run: a surface driven by the underlying, model marks, makers' books, and cash settlement at expiry."""

from __future__ import annotations

from decimal import Decimal

import pytest

from clearing.apps.run import run_in_memory
from clearing.core.expiry import option_settlement_ticks
from clearing.core.invariants import violations
from tests.builders import payloads, state_from_rows
from tests.conftest import small_scenario

EXPIRY_S = 1_800


def option(symbol: str, option_type: str, strike: str) -> dict[str, object]:
    return {"symbol": symbol, "kind": "option", "option_type": option_type, "strike": strike, "expiry_s": EXPIRY_S,
            "settlement_window_s": 300, "underlying": "BTCUSDT-PERP", "tick_size": "0.5", "lot_size": "0.01",
            "market_order_band": "0.5"}  # fmt: skip


def with_options(**overrides: object):
    markets = [option("BTC-C-60000", "call", "60000"), option("BTC-P-55000", "put", "55000")]
    return small_scenario(duration_s=2_400, markets=markets, population__accounts=200, **overrides)


@pytest.fixture(scope="module")
def run():
    return run_in_memory(with_options(), seed=5)


def test_the_surface_follows_the_underlying_and_prices_the_options(run) -> None:
    _summary, sink = run
    surfaces = payloads(sink, "volatility_surface_updated")
    assert surfaces and all(p["underlying"] == 0 for _s, _t, p in surfaces)
    assert surfaces[0][2]["expiries_ns"] == [EXPIRY_S * 10**9]
    atm = [p["vol_ppm"][0][len(p["log_moneyness_ppm"]) // 2] for _s, _t, p in surfaces]
    assert max(atm) > atm[0]  # the 30 % fall at 900 s raised the level (the leverage effect)
    marks = [p for _s, _t, p in payloads(sink, "mark_price_updated") if p["market"] in (1, 2)]
    assert {p["method"] for p in marks} == {"model"} and {p["market"] for p in marks} == {1, 2}


def test_option_books_trade_and_the_options_settle_at_intrinsic_value(run) -> None:
    _summary, sink = run
    traded = {p["market"] for _s, _t, p in payloads(sink, "trade_executed")}
    assert {1, 2} <= traded
    settled = {p["market"]: p for _s, _t, p in payloads(sink, "market_settled")}
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
        ({"strike": "60000.25"}, r"markets.0.strike \(in BTCUSDT-PERP's ticks\) 60000.25 is not a whole number of 0.1"),
        ({"strike": "1e27"}, "markets.0.strike 1E.27 is beyond the integers of BTCUSDT-PERP's ticks"),
    ],
)
def test_a_bad_option_is_refused(change, message) -> None:
    markets = [{**option("BTC-C-60000", "call", "60000"), **change}, option("BTC-P-55000", "put", "55000")]
    with pytest.raises(ValueError, match=message):
        small_scenario(markets=markets)


def test_traders_hold_no_options() -> None:
    with pytest.raises(ValueError, match="traders hold perpetuals and futures"):
        small_scenario(markets=[option("BTC-C-60000", "call", "60000")], population__legs=[1, 1])


def _pair(**overrides: object):
    eth = {"symbol": "ETHUSDT-PERP", "tick_size": "0.01", "lot_size": "0.01",
           "price": {"initial": "3000", "volatility": 0.8, "shocks": [{"start_s": 900, "duration_s": 300, "change": -0.35}]}}  # fmt: skip
    return small_scenario(duration_s=1_800, markets=[eth], population__accounts=100, population__legs=[1, 1], **overrides)


def test_correlated_markets_move_together_and_more_so_under_stress() -> None:
    import numpy as np

    from clearing.scenario.params import compile_params
    from clearing.sim.index import index_paths

    corr = {"markets": ["BTCUSDT-PERP", "ETHUSDT-PERP"], "matrix": [[1.0, 0.5], [0.5, 1.0]],
            "stress": {"start_s": 0, "duration_s": 900, "pull": 0.9, "vol_multiplier": 2.0}}  # fmt: skip
    paths = index_paths(compile_params(_pair(correlation=corr)), 7, {}).paths
    btc, eth = (np.diff(np.log(p.astype(float))) for p, _step in paths)
    stressed = np.corrcoef(btc[:900], eth[:900])[0, 1]
    calm = np.corrcoef(btc[1_200:], eth[1_200:])[0, 1]
    assert stressed > 0.85 and 0.3 < calm < 0.7  # pulled toward 1: 0.5 + 0.9 x 0.5 = 0.95 in the window
    assert np.std(btc[:900]) > 1.6 * np.std(btc[1_200:])  # volatility doubled in the window
    assert paths[1][0][1_200] < 0.75 * paths[1][0][0]  # ETH keeps its own scripted fall


def test_a_heston_underlying_drives_its_options_surface() -> None:
    scenario = small_scenario(
        duration_s=1_200, markets=[option("BTC-C-60000", "call", "60000")], population__accounts=50,
        price__model="heston", volatility__model="heston", heston__v0=0.25, heston__theta=0.25,
    )  # fmt: skip
    summary, sink = run_in_memory(scenario, seed=2)
    atm = [p["vol_ppm"][0][len(p["log_moneyness_ppm"]) // 2] for _s, _t, p in payloads(sink, "volatility_surface_updated")]
    assert atm[0] == 500_000 and len(set(atm)) > 3  # starts at sqrt(v0) = 50 % and moves with the variance path
    assert "heston model" in summary.data_sources and "model value on BTCUSDT-PERP and the heston surface" in summary.data_sources


def test_bad_correlation_sections_are_refused() -> None:
    with pytest.raises(ValueError, match=r"correlation matrix has an entry outside \[-1, 1\]"):
        _pair(correlation={"markets": ["BTCUSDT-PERP", "ETHUSDT-PERP"], "matrix": [[1.0, 1.5], [1.5, 1.0]]})
    with pytest.raises(ValueError, match="not a listed market"):
        _pair(correlation={"markets": ["BTCUSDT-PERP", "SOL"], "matrix": [[1.0, 0.5], [0.5, 1.0]]})
    with pytest.raises(ValueError, match="needs price.model heston"):
        small_scenario(markets=[option("BTC-C-60000", "call", "60000")], volatility__model="heston")
