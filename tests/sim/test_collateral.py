"""A collateral depeg liquidates the accounts that posted it, while the perpetual stands still.

Traders at 150x post margin of 0.67 % of notional; a 35 % depeg less the 2 % haircut leaves
0.43 %, under the 0.5 % maintenance margin, for those who posted it in USDe. The depeg is
USDe's on Binance on 2025-10-10. Source: docs/references.md [binance-2025-10-10-collateral].
"""


import numpy as np
import pytest

from clearing.apps.run import run_in_memory
from clearing.core.invariants import violations
from clearing.core.margin import collateral_value
from clearing.scenario import Scenario
from tests.builders import payload_dict, state_from_rows
from tests.conftest import small_scenario

USDE = {
    "asset": "USDE", "decimals": 6, "haircut": "0.02", "price": "1",
    "shocks": [{"start_s": 600, "duration_s": 300, "change": -0.35}],  # 1.00 -> 0.65, as USDe on Binance 2025-10-10
    "oracle": {"policy": "cadence", "cadence_ms": 1000},
}  # fmt: skip


def depeg(**overrides):
    settings = {
        "duration_s": 1200, "price__volatility": 0.0, "price__shocks": [], "population__accounts": 300,
        "population__leverage": [150], "population__leverage_weights": [1.0], "population__entry_window_s": 60,
        "population__holding_mean_s": 0, "collateral": [USDE], "population__collateral_asset": "USDE",
        "population__collateral_fraction": 0.5, "noise_takers__count": 0, "funding__enabled": False,
    }  # fmt: skip
    return small_scenario(**{**settings, **overrides})


@pytest.fixture(scope="module")
def run():
    return run_in_memory(depeg(), 11)


def rows(sink, kind):
    return [(ts, payload_dict(p)) for _s, ts, k, _v, _c, p, _h in sink.rows if k == kind]


def test_only_the_accounts_that_posted_the_asset_are_liquidated(run):
    summary, sink = run
    posted = {p["account"] for _ts, p in rows(sink, "collateral_deposited")}
    liquidated = {p["account"] for _ts, p in rows(sink, "liquidation_completed")}
    assert len(posted) > 100 and liquidated and liquidated <= posted
    assert all(ts >= 600 * 10**9 for ts, _p in rows(sink, "margin_breached"))  # nothing before the depeg
    assert summary.liquidations == len(liquidated)


def test_the_collateral_goes_to_the_backstop_at_the_haircut_price(run):
    _summary, sink = run
    seized = rows(sink, "collateral_seized")
    assert seized
    for ts, p in seized:
        price = max(
            q["price_ticks"] for t, q in rows(sink, "collateral_price_delivered") if t <= ts and q["price_ticks"] < 1_000_000
        )
        assert p["value"] <= p["amount"] * price // 10**6  # at or below the (depegged) oracle price


def test_conservation_per_asset_holds_in_a_replayed_depeg(run):
    _summary, sink = run
    state = state_from_rows(sink.rows)
    assert violations(state) == []
    assert int(state.collateral[:, 0].sum()) == int(state.asset_deposits[0])


def test_without_the_asset_nobody_is_liquidated():
    summary, _sink = run_in_memory(depeg(population__collateral_fraction=0.0, population__collateral_asset=""), 11)
    assert summary.liquidations == 0


def test_collateral_value_rounds_down_twice():
    value = collateral_value(np.array([[1_000_001]], np.int64), np.array([650_000]), np.array([6]), np.array([20_000]))
    assert value.tolist() == [637_000]  # floor(1.000001 x 650000) = 650000; x 0.98 = 637000


def test_unknown_collateral_asset_is_refused():
    with pytest.raises(ValueError, match="not a listed collateral asset"):
        Scenario.model_validate({"name": "x", "duration_s": 1, "population": {"collateral_asset": "DAI"}})
