"""Margin modes on two markets that crash together, through the whole engine.

Every trader holds a leg on BTC and a leg on ETH of the same notional. Hedged: long one,
short the other; concentrated: long (or short) both. Both indexes fall 15 % (hedged) or
12 % (concentrated) over five minutes, with little independent noise.

- Hedged, 10x per leg: each isolated leg is its own subaccount, so every losing leg is
  liquidated (10 % margin, 15 % loss), while the portfolio account loses nothing net.
- Concentrated, 5x: isolated legs keep 20 % - 12 % = 8 % of notional, far above 0.5 %
  maintenance; portfolio margin asks for the 10 % scan range and liquidates the losers.
"""


import numpy as np
import pytest

from clearing import events as ev
from clearing.apps.run import run_in_memory
from clearing.core.invariants import violations
from clearing.core.state import ClearingState, apply
from clearing.core.state.schema import MarginMode, Role
from clearing.log.writer import MemorySink
from clearing.sim.bus import EventBus
from clearing.sim.exchange import Exchange
from tests.builders import (
    bus_with,
    deposited,
    insurance_fund_deposited,
    mark_price_updated,
    market_listed,
    opened,
    payload_dict,
    state_from_rows,
    trade,
)
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
    done = [payload_dict(p)["account"] for _s, _t, kind, _v, _c, p, _h in sink.rows if kind == "liquidation_completed"]
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
    breach = next(payload_dict(p) for _s, _t, kind, _v, _c, p, _h in sink.rows if kind == "margin_breached")
    assert breach["equity"] < breach["requirement"]


def test_multi_market_runs_replay_to_the_same_state_and_conserve(hedged, concentrated):
    for summary, sink in [*hedged.values(), *concentrated.values()]:
        state = state_from_rows(sink.rows)
        assert state.digest() == summary.state_digest
        assert violations(state) == []
        assert state.n_markets == 2 and (state.position[:, 0] != 0).any() and (state.position[:, 1] != 0).any()


def test_a_portfolio_liquidation_closes_every_leg(concentrated):
    _summary, sink = concentrated["portfolio"]
    rows = [(kind, payload_dict(p)) for _s, _t, kind, _v, _c, p, _h in sink.rows]
    done = [p for kind, p in rows if kind == "liquidation_completed"]
    state = state_from_rows(sink.rows)
    closed = np.array([p["account"] for p in done])
    assert (state.position[closed] == 0).all()
    markets = {p["market"] for kind, p in rows if kind == "trade_executed" and p["liquidation"]}
    assert markets == {0, 1}


def test_an_isolated_account_cannot_open_a_second_market():
    indexes = [ev.IndexPriceUpdated(ts_ns=0, market=market, price_ticks=100) for market in (0, 1)]
    deposits = [deposited(account, 10**6) for account in (0, 1, 2)]
    bus = bus_with((2, Role.TRADER, MarginMode.ISOLATED), (1, Role.MARKET_MAKER), markets=2, then=[*indexes, *deposits])
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
    state = state_from_rows(sink.rows)
    assert violations(state) == [] and state.digest() == summary.state_digest


def _two_market_account(fee_ppm=(0, 0), mmr=5_000):
    # The markets differ in unit value and liquidation fee, so each is listed here rather than by `bus_with`.
    bus = EventBus(ClearingState(), MemorySink())
    for market, unit_value in ((0, 100), (1, 1)):
        bus.emit(market_listed(market, unit_value=unit_value, maintenance_margin_ppm=mmr, liquidation_fee_ppm=fee_ppm[market]))
        bus.emit(mark_price_updated(100, market))
    accounts = opened(1, (1, Role.LIQUIDITY_PROVIDER), (1, Role.INSURANCE_FUND), markets=0)  # no markets: listed above
    for event in (*accounts, deposited(1, 10**9), insurance_fund_deposited(100_000)):
        bus.emit(event)
    return bus


def test_a_bankrupt_cross_account_shares_its_deficit_between_its_legs():
    # Long 2 X (lot value 100 x price) and short 10 Y; X falls 20 %: equity 2,000 - 4,000 = -2,000.
    # Shared by maintenance (80 : 5), X's bankruptcy price is 89.4, rounded up to 90 against the
    # account, which covers the whole deficit; Y, closed next, goes at 100. Never at 1 tick, as a
    # deficit left to the last leg alone would.
    from clearing.core.liquidation.params import Execution, LiquidationParams
    from clearing.sim.liquidator import liquidate

    bus = _two_market_account()
    bus.emit(deposited(0, 2_000))
    bus.emit(trade(0, 1, 2, 100))
    bus.emit(trade(1, 0, 10, 100, market=1))
    bus.emit(mark_price_updated(80, ts_ns=1))
    breach = bus.emit(ev.MarginBreached(ts_ns=1, account=0, market=0, mark_ticks=80, equity=-2_000, requirement=85))
    params = LiquidationParams(1_000, 10**12, 250_000, execution=Execution.FUND)
    liquidate(Exchange(bus, "expire_maker"), 1, 0, 0, breach, 1, params, None, fund_account=2)
    s = bus.state
    assert not s.position[0].any() and violations(s) == []
    assert s.position[2].tolist() == [2, -10]  # the fund holds both legs
    assert s.entry_cost[2].tolist() == [2 * 90 * 100, -10 * 100]
    assert s.last_trade_ticks.tolist() == [90, 100]


def test_the_liquidation_fee_is_each_markets_rate_on_its_notional():
    from clearing.core.liquidation.params import LiquidationParams
    from clearing.sim.liquidator import liquidate

    bus = _two_market_account(fee_ppm=(10_000, 50_000), mmr=50_000)
    bus.emit(deposited(0, 1_300))
    bus.emit(trade(0, 1, 1, 100))  # long 1 X: 10,000
    bus.emit(trade(0, 1, 10, 100, market=1))  # long 10 Y: 1,000
    bus.emit(mark_price_updated(90, ts_ns=1))
    breach = bus.emit(ev.MarginBreached(ts_ns=1, account=0, market=0, mark_ticks=90, equity=300, requirement=500))
    liquidate(Exchange(bus, "expire_maker"), 1, 0, 0, breach, 1, LiquidationParams(0, 10**12, 250_000))
    s = bus.state
    # Equity 300 under 450 + 50. Closed by the backstop at the marks: X 9,000 at 1 % = 90, Y 1,000 at 5 % = 50.
    assert s.insurance_fund == 100_000 + 90 + 50 and violations(s) == []


def test_a_tape_on_another_market_is_an_input():
    from clearing.data.inputs import input_names

    scenario = two_markets("cross", [1.0, -1.0], 10, -0.1)
    eth = scenario.markets[0].model_copy(update={"price": scenario.markets[0].price.model_copy(
        update={"model": "tape", "file": "ethusdt_1m.csv"})})  # fmt: skip
    assert input_names(scenario.model_copy(update={"markets": (eth,)})) == ["ethusdt_1m.csv"]


def test_a_portfolio_account_below_its_requirement_at_entry_is_queued_at_once():
    # 20x on a concentrated book: 5 % of margin against a 10 % scan range, with no price move.
    scenario = two_markets("portfolio", [1.0, 1.0], 20, 0.0, price__shocks=[], oracle__heartbeat_s=3600,
                           oracle__deviation="0.5")  # fmt: skip
    _summary, sink = run_in_memory(scenario, 5)
    rows = [(ts, kind, payload_dict(p)) for _s, ts, kind, _v, _c, p, _h in sink.rows]
    entries = {p["account"]: ts for ts, kind, p in rows if kind == "deposited" and p["account"] < ACCOUNTS}
    breaches = [(ts, p["account"]) for ts, kind, p in rows if kind == "margin_breached"]
    assert len(breaches) == ACCOUNTS
    assert all(ts == entries[account] for ts, account in breaches)  # at entry, not at a later mark


@pytest.mark.parametrize("method", ["span", "es"])
def test_a_portfolio_log_replays_with_its_breaches_audited(tmp_path, method):
    from clearing.apps.replay import fold
    from clearing.apps.run import run_scenario

    scenario = two_markets(
        "portfolio", [1.0, 1.0], 5 if method == "span" else 20, -0.12, portfolio__method=method, portfolio__es_step_s=10,
        portfolio__es_window=30,
        portfolio__es_tail=2,
    )  # fmt: skip
    summary = run_scenario(scenario, 5, tmp_path / "run.sqlite")
    result = fold(tmp_path / "run.sqlite")
    assert summary.margin_breaches > 0 and result.summary.state_digest == summary.state_digest
    assert result.checkpoints > 0


def test_a_cross_breach_records_its_liquidation_price():
    # The monitor's liquidation price is Binance's cross formula (docs/references.md
    # [binance-liq-price]): at that price of the
    # breached market (the others held) the account is below its requirement, one tick
    # better it is not.
    from clearing.core.risk import account_risk, breach_liquidation_price

    summary, sink = run_in_memory(two_markets("cross", [1.0, 0.5], 20, -0.1), 5)
    rows = [(seq, payload_dict(p)) for seq, _t, kind, _v, _c, p, _h in sink.rows if kind == "margin_breached"]
    assert rows and all(p["liquidation_price_ticks"] > 0 for _seq, p in rows)
    state = ClearingState()
    checked = 0
    for _seq, _ts, kind, version, _c, payload, _h in sink.rows:
        if checked < 20 and kind == "margin_breached":
            p = payload_dict(payload)
            account, market, lp = p["account"], p["market"], p["liquidation_price_ticks"]
            assert breach_liquidation_price(state, account, market) == lp
            side = 1 if state.position[account, market] > 0 else -1
            for price, below in ((lp, True), (lp + side, False)):
                what_if = state.mark_ticks.copy()
                state.mark_ticks[market] = price
                equity, requirement = account_risk(state, np.array([account]))
                state.mark_ticks[:] = what_if
                assert bool(equity[0] < requirement[0]) is below
            checked += 1
        apply(state, ev.decode(payload, kind, version))
    assert checked == min(20, len(rows)) and summary.liquidations > 0
