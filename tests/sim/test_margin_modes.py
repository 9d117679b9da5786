"""Margin modes on two markets that crash together, through the whole engine.

Every trader holds a leg on BTC and a leg on ETH of the same notional. Hedged: long one,
short the other; concentrated: long (or short) both. Both indexes fall 15 % (hedged) or
12 % (concentrated) over five minutes, with little independent noise.

- Hedged, 10x per leg: each isolated leg is its own subaccount, so every losing leg is
  liquidated (10 % margin, 15 % loss), while the portfolio account loses nothing net.
- Concentrated, 5x: isolated legs keep 20 % - 12 % = 8 % of notional, far above 0.5 %
  maintenance; portfolio margin asks for the 10 % scan range and liquidates the losers.
"""

import json

import numpy as np
import pytest

from clearing import events as ev
from clearing.invariants import violations
from clearing.log.writer import MemorySink
from clearing.runner import run_in_memory
from clearing.sim.bus import EventBus
from clearing.sim.exchange import Exchange
from clearing.state import ClearingState, apply
from tests.conftest import small_scenario

ACCOUNTS = 200


def two_markets(mode, legs, leverage, change, **overrides):
    shock = [{"start_s": 600, "duration_s": 300, "change": change}]
    eth = {
        "symbol": "ETHUSDT-PERP", "tick_size": "0.01", "lot_size": "0.01",
        "price": {"initial": "3000", "volatility": 0.1, "shocks": shock},
    }  # fmt: skip
    settings = {
        "duration_s": 1200, "price__volatility": 0.1, "price__shocks": shock, "markets": [eth],
        "population__accounts": ACCOUNTS, "population__entry_window_s": 60, "population__leverage": [leverage],
        "population__leverage_weights": [1.0], "population__legs": legs, "population__margin_mode": mode,
        "population__notional_sigma": 0.0, "noise_takers__count": 0, "funding__enabled": False,
        "portfolio__inter_commodity_credit": "0.8",
    }  # fmt: skip
    return small_scenario(**{**settings, **overrides})


def liquidated_holders(sink, accounts=ACCOUNTS):
    # Isolated subaccounts are leg-major: trader i holds accounts i, i + N, ...
    done = [json.loads(p)["account"] for _s, _t, kind, _v, _c, p, _h in sink.rows if kind == "liquidation_completed"]
    return {account % accounts for account in done}


@pytest.fixture(scope="module")
def hedged():
    return {mode: run_in_memory(two_markets(mode, [1.0, -1.0], 10, -0.15), 5) for mode in ("isolated", "cross", "portfolio")}


@pytest.fixture(scope="module")
def concentrated():
    return {mode: run_in_memory(two_markets(mode, [1.0, 1.0], 5, -0.12), 5) for mode in ("isolated", "portfolio")}


def test_a_hedged_book_liquidates_more_accounts_under_isolated_than_portfolio_margin(hedged):
    isolated, _ = hedged["isolated"]
    portfolio, _ = hedged["portfolio"]
    cross, _ = hedged["cross"]
    assert isolated.accounts == portfolio.accounts + ACCOUNTS  # one subaccount per leg
    assert isolated.liquidations >= ACCOUNTS * 3 // 4  # most traders lose one leg
    assert portfolio.liquidations < isolated.liquidations // 10
    assert cross.liquidations < isolated.liquidations // 10  # one pool: the winning leg backs the losing one
    assert len(liquidated_holders(hedged["isolated"][1])) > len(liquidated_holders(hedged["portfolio"][1]))


def test_a_concentrated_book_liquidates_more_accounts_under_portfolio_than_isolated_margin(concentrated):
    isolated, _ = concentrated["isolated"]
    portfolio, sink = concentrated["portfolio"]
    assert isolated.liquidations == 0
    assert portfolio.liquidations >= ACCOUNTS // 4
    # A portfolio breach closes both legs and reports the requirement it failed: the scan range.
    breach = next(json.loads(p) for _s, _t, kind, _v, _c, p, _h in sink.rows if kind == "margin_breached")
    assert breach["equity"] < breach["requirement"]


def test_multi_market_runs_replay_to_the_same_state_and_conserve(hedged, concentrated):
    for summary, sink in [*hedged.values(), *concentrated.values()]:
        state = ClearingState()
        for _seq, _ts, kind, version, _c, payload, _h in sink.rows:
            apply(state, ev.decode(payload, kind, version))
        assert state.digest() == summary.state_digest
        assert violations(state) == []
        assert state.n_markets == 2 and (state.position[:, 0] != 0).any() and (state.position[:, 1] != 0).any()


def test_a_portfolio_liquidation_closes_every_leg(concentrated):
    _summary, sink = concentrated["portfolio"]
    rows = [(kind, json.loads(p)) for _s, _t, kind, _v, _c, p, _h in sink.rows]
    done = [p for kind, p in rows if kind == "liquidation_completed"]
    state = ClearingState()
    for _seq, _ts, kind, version, _c, payload, _h in sink.rows:
        apply(state, ev.decode(payload, kind, version))
    closed = np.array([p["account"] for p in done])
    assert (state.position[closed] == 0).all()
    markets = {p["market"] for kind, p in rows if kind == "trade_executed" and p["liquidation"]}
    assert markets == {0, 1}


def test_an_isolated_account_cannot_open_a_second_market():
    bus = EventBus(ClearingState(), MemorySink())
    for market in (0, 1):
        bus.emit(ev.MarketListed(ts_ns=0, market=market, symbol=f"M{market}", tick_size="1", lot_size="1", quote_decimals=0,
                                 unit_value=1, maintenance_margin_ppm=5_000, liquidation_fee_ppm=0, taker_fee_ppm=0,
                                 maker_fee_ppm=0, bracket_floors=(0,), bracket_rates_ppm=(5_000,)))  # fmt: skip
        bus.emit(ev.IndexPriceUpdated(ts_ns=0, market=market, price_ticks=100))
    bus.emit(ev.AccountsOpened(ts_ns=0, first_account=0, count=2, role=ev.ROLE_TRADER, margin_mode="isolated"))
    bus.emit(ev.AccountsOpened(ts_ns=0, first_account=2, count=1, role=ev.ROLE_MARKET_MAKER))
    for account in (0, 1, 2):
        bus.emit(ev.Deposited(ts_ns=0, account=account, amount=10**6))
    exchange = Exchange(bus, "expire_maker")
    for market in (0, 1):
        exchange.submit(0, 2, market, -1, 100, "limit", 101)
    assert exchange.submit(0, 0, 0, 1, 1, "market").filled == 1
    assert exchange.submit(0, 0, 1, 1, 1, "market").rejected == "isolated_market"
    assert exchange.submit(0, 1, 1, 1, 1, "market").filled == 1  # a second subaccount may
    assert exchange.submit(0, 0, 0, 1, 1, "market").filled == 1  # and the first adds to its own market


def test_portfolio_expected_shortfall_runs_and_conserves():
    scenario = two_markets(
        "portfolio", [1.0, 1.0], 20, -0.12, portfolio__method="es", portfolio__es_step_s=10, portfolio__es_window=30,
        portfolio__es_tail=2,
    )  # fmt: skip
    summary, sink = run_in_memory(scenario, 5)
    assert summary.liquidations > 0
    state = ClearingState()
    for _seq, _ts, kind, version, _c, payload, _h in sink.rows:
        apply(state, ev.decode(payload, kind, version))
    assert violations(state) == [] and state.digest() == summary.state_digest
