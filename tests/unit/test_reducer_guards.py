"""Every `InvariantViolation` guard of the reducers and of `apply`, triggered through `apply`: one table.

Each row names the applier and what is wrong with the event ("deposited: nothing"), the
setup (events applied to a fresh state, built with tests.builders), the offending event, and
a `match=` on the message. A row without `partial` proves the reducer checks before it
mutates: the refused event leaves the state digest (every array, scalar, book, order, quote
ladder and the clock) exactly as it was. A row with `partial` documents a guard that fires
after the reducer has already changed something, says what, and asserts that the digest did
change (so the row must be updated when the reducer learns to check first).

A setup entry or an offending event may be a function of the state, for events that name
the next order id (`quotes`).
"""

from __future__ import annotations

import ast
import functools
import importlib
import inspect
import pkgutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from msgspec.structs import replace

from clearing import events as ev
from clearing.core.book import BUY
from clearing.core.state import ClearingState, Role, apply
from clearing.errors import InvariantViolation
from tests.builders import (
    MAINTENANCE_PPM,
    accounts_opened,
    contract_specified,
    deposited,
    insurance_fund_deposited,
    inverse_contract,
    mark_price_updated,
    market_listed,
    market_settled,
    opened,
    order_placed,
    position_settled,
    quotes,
    surface_updated,
    trade,
)

Step = ev.Event | Callable[[ClearingState], ev.Event]
APPLY_FILE = inspect.getfile(importlib.import_module("clearing.core.state.apply"))  # the module, not the function it exports


class Row(NamedTuple):
    """One guard: `name` is "<applier>: <what is wrong>"; `partial` what changed before it fired ("" nothing)."""

    name: str
    setup: tuple[Step, ...]
    event: Step
    match: str
    partial: str = ""


def at0(kind: type[ev.Event], **fields: Any) -> ev.Event:
    """Return an event of `kind` at time 0 (for the kinds the table alone builds)."""
    return kind(ts_ns=0, **fields)


def adl(account: int, buyer: int, seller: int, lots: int = 1, market: int = 0) -> ev.Event:
    return at0(ev.PositionDeleveraged, market=market, account=account, buyer=buyer, seller=seller, lots=lots, price_ticks=100)


def socialised(account: int, accounts: tuple[int, ...], amounts: tuple[int, ...], market: int = 0) -> ev.Event:
    return at0(ev.LossSocialised, market=market, account=account, accounts=accounts, amounts=amounts)


def breached(account: int, market: int = 0) -> ev.Event:
    return at0(ev.MarginBreached, account=account, market=market, mark_ticks=100, equity=0, requirement=1)


def cancelled(account: int, market: int = 0) -> ev.Event:
    return at0(ev.LiquidationCancelled, account=account, market=market, reason="recovered")


def completed(account: int) -> ev.Event:
    return at0(ev.LiquidationCompleted, account=account, market=0, lots=0, notional=0, fee=0, insurance_paid=0, bad_debt=0)


def caps(max_per_event: int = 0, max_per_period: int = 0, period_ns: int = 0) -> ev.Event:
    return at0(ev.InsuranceFundConfigured, max_per_event=max_per_event, max_per_period=max_per_period, period_ns=period_ns)


def collateral_listed(asset: int = 0, haircut_ppm: int = 20_000) -> ev.Event:
    return at0(ev.CollateralListed, asset=asset, symbol="USDE", decimals=0, haircut_ppm=haircut_ppm)


def seized(account: int = 0, buyer: int = 1, asset: int = 0, amount: int = 1) -> ev.Event:
    return at0(ev.CollateralSeized, account=account, asset=asset, amount=amount, value=0, buyer=buyer)


def grid(**overrides: Any) -> ev.Event:
    fields: dict[str, Any] = {
        "price_range_ppm": 160_000, "buckets": 4, "vol_up_ppm": 500_000, "vol_down_ppm": 250_000,
        "short_term_power_ppm": 300_000, "long_term_power_ppm": 130_000, "extended_moves_ppm": (-660_000,),
        "extended_weight_ppm": 0, "mm_factor_ppm": 800_000, "time_step_ns": 60 * 10**9,
    }  # fmt: skip
    return at0(ev.GridMarginConfigured, **{**fields, **overrides})


def span_arrays(**overrides: Any) -> ev.Event:
    fields: dict[str, Any] = {
        "vol_scan_ppm": (150_000,), "intra_rate_ppm": (5_000,), "short_option_minimum_ppm": 1_000, "time_step_ns": 60 * 10**9,
    }  # fmt: skip
    return at0(ev.SpanMarginConfigured, **{**fields, **overrides})


def es_scenarios(**overrides: Any) -> ev.Event:
    fields: dict[str, Any] = {
        "lambda_ppm": 970_000, "stress_markets": (0,), "stress_returns_ppm": ((-20_000,), (5_000,)), "stress_source": "x.csv",
        "time_step_ns": 60 * 10**9,
    }  # fmt: skip
    return at0(ev.EsMarginConfigured, **{**fields, **overrides})


def called(account: int = 0, equity: int = 10, requirement: int = 8, initial: int = 12, response: str = "top_up") -> ev.Event:
    return at0(ev.MarginCalled, account=account, equity=equity, requirement=requirement, initial=initial, response=response,
               delay_ns=0)  # fmt: skip


def topped_up(account: int = 0, amount: int = 1) -> ev.Event:
    return at0(ev.MarginToppedUp, account=account, amount=amount)


def stop(account: int = 0, market: int = 0, stop_ticks: int = 90) -> ev.Event:
    return at0(ev.StopTriggered, account=account, market=market, stop_ticks=stop_ticks)


def reentered(account: int = 0, market: int = 0) -> ev.Event:
    return at0(ev.TraderReentered, account=account, market=market)


def rates(rates_ppm: tuple[int, ...], market: int = 0, multiplier_ppm: int = 1_200_000) -> ev.Event:
    return at0(ev.MarginRatesSet, market=market, multiplier_ppm=multiplier_ppm, bracket_rates_ppm=rates_ppm, vol_ppm=0,
               open_interest=0)  # fmt: skip


def funding_paid(accounts: tuple[int, ...], amounts: tuple[int, ...], final: bool = False, market: int = 0) -> ev.Event:
    return at0(ev.FundingPaid, market=market, accounts=accounts, amounts=amounts, final=final)


def funding_rate_set(samples: int = 0, market: int = 0) -> ev.Event:
    return at0(ev.FundingRateSet, market=market, rate_ppb=0, average_premium_ppb=0, samples=samples, mark_ticks=100)


def portfolio(**overrides: Any) -> ev.Event:
    fields = {"method": "es", "scan_range_ppm": (100_000,), "inter_commodity_credit_ppm": 0, "extreme_multiple": 2,
              "extreme_cover_pct": 35, "es_window": 10, "es_horizon": 1, "es_tail": 2}  # fmt: skip
    return at0(ev.PortfolioMarginConfigured, **{**fields, **overrides})


def source(source: int = 0, weight: int = 1, market: int = 0) -> ev.Event:
    return at0(ev.OracleSourceListed, market=market, source=source, name="a", weight=weight)


def observed(ts_source_ns: int = 0, market: int = 0) -> ev.Event:
    return at0(ev.OracleObserved, market=market, ts_source_ns=ts_source_ns, sources=(0,), price_ticks=(100,),
               confidence_ticks=(0,), status=("ok",))  # fmt: skip


def published(price_ticks: int, market: int = 0) -> ev.Event:
    return at0(ev.OraclePricePublished, market=market, price_ticks=price_ticks, confidence_ticks=0, ts_source_ns=0,
               sources_used=1, reason="initial")  # fmt: skip


def delivered(price_ticks: int, market: int = 0) -> ev.Event:
    return at0(ev.OraclePriceDelivered, market=market, price_ticks=price_ticks, confidence_ticks=0, ts_source_ns=0,
               ts_published_ns=0)  # fmt: skip


# Setups. BASE: market 0 ("X", unit value 1) and traders 0-2.
BASE = tuple(opened(3))
LONG = (*BASE, trade(0, 1, 2, 100))  # 0 long 2 lots (cash -200), 1 short 2 (cash +200)
FUNDED = (*LONG, insurance_fund_deposited(100))
WITH_FUND = tuple(opened(3, (1, Role.INSURANCE_FUND)))  # account 3 is the fund's
ASK = (*BASE, lambda s: quotes(s, 1, asks=((101, 5),)))  # order 1: account 1 asks 5 lots at 101
PLACED = (*BASE, order_placed(1, 0, BUY, 2, 99))  # order 1: account 0 bids 2 lots at 99, incoming
QUOTED = (*BASE, lambda s: quotes(s, 2, bids=((96, 1),), asks=((104, 1),)))  # orders 1-2: maker 2 at 96 / 104
LISTED = (*BASE, collateral_listed())
HELD = (*LISTED, at0(ev.CollateralDeposited, account=0, asset=0, amount=10))
TWO = tuple(opened(3, markets=2))  # markets 0 and 1 ("M1"), traders 0-2
FUTURE = (*TWO, contract_specified())  # market 1: a future on market 0, expiring at 3,600 s
HELD_FUTURE = (*FUTURE, trade(0, 1, 2, 100, market=1))  # 0 long 2 lots of the future, 1 short 2
SETTLED = (*HELD_FUTURE, market_settled(105))  # expired at 105: positions still to settle
AFTER = 3_600 * 10**9  # the expiry: events after SETTLED happen then
COIN = (*TWO, collateral_listed(haircut_ppm=0))  # asset 0 ("USDE", no haircut) beside markets 0 and 1
INVERSE = (*COIN, inverse_contract(), trade(0, 1, 2, 100, market=1))  # market 1 inverse in asset 0; 0 long 2, 1 short 2

ROWS = [
    # apply
    Row("apply: an event before the state's clock", (*BASE, mark_price_updated(100, ts_ns=10)), deposited(0, 1, ts_ns=5),
        "Deposited at 5 ns is before 10 ns"),
    # ledger: listings, accounts, deposits
    Row("market_listed: listed out of order", (), market_listed(1), "market 1 listed out of order"),
    Row("market_listed: a unit value of zero", (), market_listed(unit_value=0), "market 0 unit value must be positive"),
    Row("market_listed: brackets not starting at the maintenance rate", (), market_listed(bracket_rates_ppm=(6_000,)),
        "market 0 brackets do not start at its maintenance rate"),
    Row("market_listed: floors and rates of different lengths", (), market_listed(bracket_floors=(0, 100)),
        "market 0 brackets do not start at its maintenance rate"),
    Row("market_listed: floors not starting at 0", (), market_listed(bracket_floors=(5,)),
        "market 0: expected floors ascending from 0"),
    Row("market_listed: a size premium with two brackets", (),
        market_listed(bracket_floors=(0, 100), bracket_rates_ppm=(5_000, 10_000), size_premium_ppm=1_000),
        "market 0: a rate set by size needs one bracket"),
    Row("market_listed: a negative risk-limit step", (), market_listed(risk_limit_lots=(10, -1)),
        "market 0: a rate set by size needs one bracket and no negative terms"),
    Row("accounts_opened: out of order", BASE, accounts_opened(5, 1), "accounts opened from 5, expected 3"),
    Row("accounts_opened: no accounts", BASE, accounts_opened(3, 0), "bad accounts_opened count 0"),
    Row("accounts_opened: an unknown role", BASE, replace(accounts_opened(3, 1), role="pirate"), "role 'pirate'"),
    Row("accounts_opened: an unknown margin mode", BASE, replace(accounts_opened(3, 1), margin_mode="spread"),
        "margin mode 'spread'"),
    Row("margin_called: an unknown account", BASE, called(account=3), "unknown account 3"),
    Row("margin_called: an unknown response", BASE, called(response="pray"), "bad margin call"),
    Row("margin_called: equity below maintenance", BASE, called(equity=7), "needs maintenance <= equity < initial"),
    Row("margin_called: equity at the initial", BASE, called(equity=12), "needs maintenance <= equity < initial"),
    Row("margin_topped_up: an unknown account", BASE, topped_up(account=3), "unknown account 3"),
    Row("margin_topped_up: an account never called", BASE, topped_up(), "was not called"),
    Row("margin_topped_up: nothing", (*BASE, called()), topped_up(amount=0), "deposit of 0 into account 0"),
    Row("stop_triggered: an unknown account", BASE, stop(account=3), "unknown account 3"),
    Row("stop_triggered: an unknown market", BASE, stop(market=1), "unknown market 1"),
    Row("stop_triggered: no stop price", (*BASE, trade(0, 1, 1, 100)), stop(stop_ticks=0), "bad stop"),
    Row("stop_triggered: nothing held", BASE, stop(), "holds nothing to stop"),
    Row("trader_reentered: an unknown account", BASE, reentered(account=3), "unknown account 3"),
    Row("trader_reentered: an unknown market", BASE, reentered(market=1), "unknown market 1"),
    Row("trader_reentered: still holding a position", (*BASE, trade(0, 1, 1, 100)), reentered(), "re-enters holding"),
    Row("deposited: an unknown account", BASE, deposited(3, 1), "unknown account 3"),
    Row("deposited: a negative account", BASE, deposited(-1, 1), "unknown account -1"),
    Row("deposited: nothing", BASE, deposited(0, 0), "deposit of 0 into account 0"),
    Row("insurance_fund_deposited: nothing", BASE, insurance_fund_deposited(0), "insurance fund deposit of 0"),
    # ledger: trades (and orders.fill, which they call)
    Row("trade_executed: an unknown seller", BASE, trade(0, 3, 1, 100), "unknown account in trade"),
    Row("trade_executed: a self-trade", BASE, trade(0, 0, 1, 100), "bad trade"),
    Row("trade_executed: no lots", BASE, trade(0, 1, 0, 100), "bad trade"),
    Row("trade_executed: an unknown market", BASE, trade(0, 1, 1, 100, market=1), "bad trade"),
    Row("trade_executed: a negative fee", BASE, trade(0, 1, 1, 100, seller_fee=-1), "negative fee in trade"),
    Row("trade_executed: orders named without a taker side", BASE, trade(0, 1, 1, 100, maker_order=1, taker_side=0),
        "names orders but no taker side"),
    Row("trade_executed: not the resting order it names", ASK, trade(0, 1, 1, 100, maker_order=1),
        "does not match resting order 1"),
    Row("trade_executed: more than its taker has left", (*BASE, order_placed(1, 0, BUY, 2)), trade(0, 1, 3, 100, taker_order=1),
        "overfills its taker"),
    Row("trade_executed: a maker filled, then its taker overfilled", (*ASK, order_placed(2, 0, BUY, 2)),
        trade(0, 1, 3, 101, maker_order=1, taker_order=2), "overfills its taker",
        partial="the maker's order 1 was already filled by 3 lots"),
    # ledger: liquidation, the fund, ADL, socialised loss
    Row("position_deleveraged: an unknown counterparty", LONG, adl(0, 3, 0), "unknown account 3"),
    Row("position_deleveraged: an unknown market", LONG, adl(0, 1, 0, market=1), "unknown market 1"),
    Row("position_deleveraged: the account on neither side", LONG, adl(2, 1, 0), "bad deleveraging"),
    Row("position_deleveraged: more than the counterparty holds", LONG, adl(0, 1, 0, lots=3),
        "deleveraging 3 lots from a position of -2"),
    Row("loss_socialised: an unknown bankrupt account", LONG, socialised(3, (1,), (1,)), "unknown account 3"),
    Row("loss_socialised: an unknown market", LONG, socialised(0, (1,), (1,), market=1), "unknown market 1"),
    Row("loss_socialised: accounts and amounts of different lengths", LONG, socialised(0, (1, 2), (1,)), "bad socialisation"),
    Row("loss_socialised: a negative amount", LONG, socialised(0, (1,), (-1,)), "bad socialisation"),
    Row("loss_socialised: more than the shortfall", LONG, socialised(0, (1,), (201,)),
        "socialised 201 exceeds the shortfall of account 0"),
    Row("loss_socialised: an unknown payer after a known one", LONG, socialised(0, (1, 3), (1, 1)), "unknown account 3",
        partial="account 1 was already charged its 1"),
    Row("margin_breached: an unknown account", BASE, breached(3), "unknown account 3"),
    Row("margin_breached: an unknown market", BASE, breached(0, market=1), "unknown market 1"),
    Row("margin_breached: an account already queued", (*BASE, breached(0)), breached(0), "account 0 is already being liquidated"),
    Row("liquidation_cancelled: an unknown account", BASE, cancelled(3), "unknown account 3"),
    Row("liquidation_cancelled: an unknown market", (*BASE, breached(0)), cancelled(0, market=1), "unknown market 1"),
    Row("liquidation_cancelled: an account not queued", BASE, cancelled(0), "account 0 is not being liquidated"),
    Row("liquidation_completed: an account not queued", BASE, completed(0), "account 0 is not being liquidated"),
    Row("liquidation_fee_charged: an unknown account", BASE, at0(ev.LiquidationFeeCharged, account=3, amount=1),
        "unknown account 3"),
    Row("liquidation_fee_charged: more than the balance", (*BASE, deposited(0, 10)),
        at0(ev.LiquidationFeeCharged, account=0, amount=11), "fee 11 exceeds balance of account 0"),
    Row("liquidation_fee_charged: nothing", (*BASE, deposited(0, 10)), at0(ev.LiquidationFeeCharged, account=0, amount=0),
        "fee 0 exceeds balance of account 0"),
    Row("insurance_fund_configured: a negative cap", BASE, caps(max_per_event=-1), "bad insurance fund caps"),
    Row("insurance_fund_configured: a per-period cap without a period", BASE, caps(max_per_period=10),
        "a per-period cap needs a period"),
    Row("insurance_fund_paid: an unknown account", FUNDED, at0(ev.InsuranceFundPaid, account=3, amount=1), "unknown account 3"),
    Row("insurance_fund_paid: more than the fund", FUNDED, at0(ev.InsuranceFundPaid, account=0, amount=101),
        "insurance payout 101 exceeds the fund$"),
    Row("insurance_fund_paid: more than the cap per event", (*FUNDED, caps(max_per_event=10)),
        at0(ev.InsuranceFundPaid, account=0, amount=11), "insurance payout 11 exceeds the fund's caps"),
    Row("insurance_fund_paid: more than the shortfall", FUNDED, at0(ev.InsuranceFundPaid, account=1, amount=1),
        "insurance payout 1 exceeds the shortfall"),
    Row("insurance_fund_paid: more than the shortfall, under a per-period cap", (*FUNDED, caps(max_per_period=50, period_ns=10)),
        at0(ev.InsuranceFundPaid, account=1, amount=1), "insurance payout 1 exceeds the shortfall",
        partial="the payout was already recorded in the fund's per-period window"),
    Row("insurance_fund_swept: an unknown account", WITH_FUND, at0(ev.InsuranceFundSwept, account=4, amount=1),
        "unknown account 4"),
    Row("insurance_fund_swept: not the fund's account", WITH_FUND, at0(ev.InsuranceFundSwept, account=0, amount=1),
        "account 0 is not the insurance fund's"),
    Row("insurance_fund_swept: a loss larger than the fund", WITH_FUND, at0(ev.InsuranceFundSwept, account=3, amount=-1),
        "sweep of -1 would leave the fund negative"),
    Row("insurance_fund_swept: nothing", WITH_FUND, at0(ev.InsuranceFundSwept, account=3, amount=0),
        "sweep of 0 would leave the fund negative"),
    Row("bad_debt_recorded: an unknown account", LONG, at0(ev.BadDebtRecorded, account=3, amount=1), "unknown account 3"),
    Row("bad_debt_recorded: more than the shortfall", LONG, at0(ev.BadDebtRecorded, account=0, amount=201),
        "bad debt 201 exceeds the shortfall"),
    # collateral
    Row("collateral_listed: out of order", BASE, collateral_listed(1), "collateral asset 1 listed out of order"),
    Row("collateral_listed: a full haircut", BASE, collateral_listed(haircut_ppm=1_000_000), "bad collateral asset"),
    Row("collateral_deposited: an unknown account", LISTED, at0(ev.CollateralDeposited, account=3, asset=0, amount=1),
        "unknown account 3"),
    Row("collateral_deposited: an unknown asset", BASE, at0(ev.CollateralDeposited, account=0, asset=0, amount=1),
        "unknown collateral asset 0"),
    Row("collateral_deposited: nothing", LISTED, at0(ev.CollateralDeposited, account=0, asset=0, amount=0),
        "collateral deposit of 0"),
    Row("collateral_price_updated: an unknown asset", BASE, at0(ev.CollateralPriceUpdated, asset=0, price_ticks=1),
        "unknown collateral asset 0"),
    Row("collateral_price_updated: no price", LISTED, at0(ev.CollateralPriceUpdated, asset=0, price_ticks=0),
        "collateral price 0"),
    Row("collateral_price_published: an unknown asset", BASE,
        at0(ev.CollateralPricePublished, asset=0, price_ticks=1, ts_source_ns=0, reason="initial"), "unknown collateral asset 0"),
    Row("collateral_price_published: no price", LISTED,
        at0(ev.CollateralPricePublished, asset=0, price_ticks=0, ts_source_ns=0, reason="initial"), "collateral price 0"),
    Row("collateral_price_delivered: an unknown asset", BASE,
        at0(ev.CollateralPriceDelivered, asset=0, price_ticks=1, ts_source_ns=0, ts_published_ns=0), "unknown collateral asset 0"),
    Row("collateral_price_delivered: no price", LISTED,
        at0(ev.CollateralPriceDelivered, asset=0, price_ticks=0, ts_source_ns=0, ts_published_ns=0), "collateral price 0"),
    Row("collateral_seized: an unknown account", HELD, seized(account=3), "unknown account 3"),
    Row("collateral_seized: an unknown buyer", HELD, seized(buyer=3), "unknown account 3"),
    Row("collateral_seized: an unknown asset", HELD, seized(asset=1), "unknown collateral asset 1"),
    Row("collateral_seized: more than the account holds", HELD, seized(amount=11), "bad seizure"),
    # funding
    Row("premium_sampled: an unknown market", BASE,
        at0(ev.PremiumSampled, market=1, premium_ppb=0, impact_bid_ticks=0, impact_ask_ticks=0, index_ticks=100),
        "unknown market 1"),
    Row("funding_rate_set: an unknown market", BASE, funding_rate_set(market=1), "unknown market 1"),
    Row("funding_rate_set: samples the state did not take", BASE, funding_rate_set(samples=1),
        "funding rate from 1 samples, state has 0"),
    Row("funding_paid: an unknown market", BASE, funding_paid((), (), market=1), "unknown market 1"),
    Row("funding_paid: accounts and amounts of different lengths", BASE, funding_paid((0, 1), (1,)),
        "funding_paid accounts and amounts differ in length"),
    Row("funding_paid: a repeated account", BASE, funding_paid((0, 0), (1, -1)), "names an unknown or repeated account"),
    Row("funding_paid: an unknown account", BASE, funding_paid((0, 3), (1, -1)), "names an unknown or repeated account"),
    Row("funding_paid: a final payment that leaves the clearing ledger unbalanced", BASE, funding_paid((0,), (5,), final=True),
        "funding settlement leaves -5 in the clearing ledger", partial="account 0 was already credited its 5"),
    # margin
    Row("portfolio_margin_configured: configured twice", (*BASE, portfolio()), portfolio(), "portfolio margin is configured once"),
    Row("portfolio_margin_configured: an unknown method", BASE, portfolio(method="var"), "unknown portfolio method 'var'"),
    Row("portfolio_margin_configured: a scan range per market missing", BASE, portfolio(scan_range_ppm=(1, 2)),
        "2 scan ranges for 1 markets"),
    Row("portfolio_margin_configured: a scan range of 100 %", BASE, portfolio(scan_range_ppm=(1_000_000,)),
        "bad scan ranges or credit"),
    Row("grid_margin_configured: without portfolio method grid", (*BASE, portfolio()), grid(), "needs portfolio method grid"),
    Row("grid_margin_configured: twice", (*BASE, portfolio(method="grid"), grid()), grid(), "needs portfolio method grid"),
    Row("grid_margin_configured: a range of 100 %", (*BASE, portfolio(method="grid")), grid(price_range_ppm=1_000_000),
        "bad grid parameters"),
    Row("grid_margin_configured: an extended move of -100 %", (*BASE, portfolio(method="grid")),
        grid(extended_moves_ppm=(-1_000_000,)), "bad grid parameters"),
    Row("strategy_assigned: out of order", BASE, at0(ev.StrategyAssigned, strategy=1, name="a", accounts=(0,)),
        "out of order or named twice"),
    Row("strategy_assigned: accounts not ascending", BASE, at0(ev.StrategyAssigned, strategy=0, name="a", accounts=(1, 0)),
        "not ascending and distinct"),
    Row("strategy_assigned: an account not opened", BASE, at0(ev.StrategyAssigned, strategy=0, name="a", accounts=(7,)),
        "names an account not opened"),
    Row("strategy_assigned: the insurance fund's account", WITH_FUND, at0(ev.StrategyAssigned, strategy=0, name="a",
        accounts=(3,)), "not a trader's"),
    Row("strategy_assigned: an account of another type", (*BASE, at0(ev.StrategyAssigned, strategy=0, name="a",
        accounts=(0,))), at0(ev.StrategyAssigned, strategy=1, name="b", accounts=(0,)), "account of another type"),
    Row("span_margin_configured: without portfolio method span", (*BASE, portfolio()), span_arrays(),
        "span arrays need method span"),
    Row("span_margin_configured: twice", (*BASE, portfolio(method="span"), span_arrays()), span_arrays(),
        "span arrays need method span"),
    Row("span_margin_configured: a vol scan per market missing", (*BASE, portfolio(method="span")),
        span_arrays(vol_scan_ppm=()), "bad span parameters"),
    Row("es_margin_configured: without portfolio method es", (*BASE, portfolio(method="span")), es_scenarios(),
        "es scenarios need method es"),
    Row("es_margin_configured: a stress row of -100 %", (*BASE, portfolio()),
        es_scenarios(stress_returns_ppm=((-1_000_000,),)), "bad expected-shortfall parameters"),
    Row("portfolio_margin_configured: a tail longer than the window", BASE, portfolio(es_tail=11), "bad portfolio parameters"),
    Row("return_window_sampled: without portfolio margin", BASE, at0(ev.ReturnWindowSampled, prices_ticks=(100,)),
        "a return window needs portfolio margin configured"),
    Row("return_window_sampled: a price of zero", (*BASE, portfolio()), at0(ev.ReturnWindowSampled, prices_ticks=(0,)),
        "bad return window sample"),
    # orders
    Row("order_placed: an unknown account", BASE, order_placed(1, 3, BUY, 1), "unknown account 3"),
    Row("order_placed: an unknown market", BASE, order_placed(1, 0, BUY, 1, market=1), "unknown market 1"),
    Row("order_placed: an order id out of sequence", BASE, order_placed(2, 0, BUY, 1), "order id 2, expected 1"),
    Row("order_placed: no side", BASE, order_placed(1, 0, 0, 1), "bad order OrderPlaced"),
    Row("order_placed: an unknown order type", BASE, order_placed(1, 0, BUY, 1, 100, order_type="fok"), "bad order OrderPlaced"),
    Row("order_placed: a market order with a price", BASE, order_placed(1, 0, BUY, 1, 100, order_type="market"),
        "bad order price"),
    Row("order_placed: a limit order without a price", BASE, order_placed(1, 0, BUY, 1, order_type="limit"), "bad order price"),
    Row("order_rejected: an unknown account", BASE, at0(ev.OrderRejected, order_id=1, account=3, market=0, reason="margin"),
        "unknown account 3"),
    Row("order_rejected: an unknown market", BASE, at0(ev.OrderRejected, order_id=1, account=0, market=1, reason="margin"),
        "unknown market 1"),
    Row("order_rejected: an order id out of sequence", BASE,
        at0(ev.OrderRejected, order_id=2, account=0, market=0, reason="margin"), "order id 2, expected 1"),
    Row("order_rested: an order that is not incoming", BASE, at0(ev.OrderRested, order_id=1, lots=2), "order 1 cannot rest 2 lots"),
    Row("order_rested: other lots than are left", PLACED, at0(ev.OrderRested, order_id=1, lots=3), "order 1 cannot rest 3 lots"),
    Row("order_rested: a market order", (*BASE, order_placed(1, 0, BUY, 2)), at0(ev.OrderRested, order_id=1, lots=2),
        r"order 1 \(market\) cannot rest"),
    Row("order_rested: a bid at the best ask", (*ASK, order_placed(2, 0, BUY, 2, 101)), at0(ev.OrderRested, order_id=2, lots=2),
        "order 2 would cross"),
    Row("order_cancelled: other lots than the incoming order has", PLACED,
        at0(ev.OrderCancelled, order_id=1, lots=3, reason="expired"), "order 1 has 2 lots left, cancel says 3",
        partial="the incoming order 1 was already dropped"),
    Row("order_cancelled: other lots than the resting order has", (*PLACED, at0(ev.OrderRested, order_id=1, lots=2)),
        at0(ev.OrderCancelled, order_id=1, lots=3, reason="cancelled"), "order 1 has 2 lots left, cancel says 3"),
    Row("order_cancelled: an order that is not open", BASE, at0(ev.OrderCancelled, order_id=1, lots=1, reason="cancelled"),
        "order 1 is not open"),
    Row("quotes_replaced: an unknown account", BASE, lambda s: quotes(s, 3), "unknown account 3"),
    Row("quotes_replaced: an unknown market", BASE, lambda s: quotes(s, 0, market=1), "unknown market 1"),
    Row("quotes_replaced: an order id out of sequence", BASE, lambda s: quotes(s, 0, first_order_id=2), "order id 2, expected 1"),
    Row("quotes_replaced: bids not strictly falling", QUOTED, lambda s: quotes(s, 1, bids=((98, 1), (99, 1))),
        "malformed quote ladder"),
    Row("quotes_replaced: an ask of no lots", QUOTED, lambda s: quotes(s, 1, asks=((105, 0),)), "malformed quote ladder"),
    Row("quotes_replaced: bids crossing the book", QUOTED, lambda s: quotes(s, 1, bids=((104, 1),)),
        "bids of account 1 cross the book"),
    Row("quotes_replaced: asks crossing the book", QUOTED, lambda s: quotes(s, 1, asks=((96, 1),)),
        "asks of account 1 cross the book"),
    Row("quotes_replaced: its own bids and asks crossing", QUOTED, lambda s: quotes(s, 1, bids=((101, 1),), asks=((101, 1),)),
        "quotes of account 1 cross"),
    Row("quotes_replaced: a malformed ladder replacing the maker's last", QUOTED, lambda s: quotes(s, 2, bids=((98, 1), (99, 1))),
        "malformed quote ladder", partial="maker 2's previous ladder was already taken off the book"),
    # prices
    Row("index_price_updated: no price", BASE, at0(ev.IndexPriceUpdated, market=0, price_ticks=0),
        "IndexPriceUpdated: price 0 ticks on market 0"),
    Row("index_price_updated: an unknown market", BASE, at0(ev.IndexPriceUpdated, market=1, price_ticks=100),
        "IndexPriceUpdated: price 100 ticks on market 1"),
    Row("oracle_source_listed: an unknown market", BASE, source(market=1), "unknown market 1"),
    Row("oracle_source_listed: out of order", BASE, source(1), r"oracle source 1 \(a\) listed out of order or weightless"),
    Row("oracle_source_listed: weightless", BASE, source(weight=0), r"oracle source 0 \(a\) listed out of order or weightless"),
    Row("oracle_observed: an unknown market", BASE, observed(market=1), "unknown market 1"),
    Row("oracle_observed: a source not listed", BASE, observed(), "bad observation"),
    Row("oracle_observed: taken after it arrived", (*BASE, source()), observed(ts_source_ns=1), "bad observation"),
    Row("oracle_round_failed: an unknown market", BASE, at0(ev.OracleRoundFailed, market=1, reason="quorum", live_sources=0),
        "unknown market 1"),
    Row("oracle_guard_checked: an unknown market", BASE,
        at0(ev.OracleGuardChecked, market=1, action="mark", account=0, allowed=True, reason="ok", age_ns=0, confidence_ppm=0,
            divergence_ppm=0), "unknown market 1"),
    Row("oracle_price_published: no price", BASE, published(0), "OraclePricePublished: price 0 ticks on market 0"),
    Row("oracle_price_published: an unknown market", BASE, published(100, market=1),
        "OraclePricePublished: price 100 ticks on market 1"),
    Row("oracle_price_delivered: no price", BASE, delivered(0), "OraclePriceDelivered: price 0 ticks on market 0"),
    Row("oracle_price_delivered: an unknown market", BASE, delivered(100, market=1),
        "OraclePriceDelivered: price 100 ticks on market 1"),
    Row("mark_price_updated: no index", BASE, mark_price_updated(100, index_ticks=0), r"mark price 100 \(index 0\) on market 0"),
    Row("mark_price_updated: an unknown market", BASE, mark_price_updated(100, market=1), r"mark price 100 \(index 100\) on market 1"),
    # instruments: contracts, expiry, settlement
    Row("contract_specified: an unknown market", TWO, contract_specified(2), "unknown market 2"),
    Row("contract_specified: a second contract", FUTURE, contract_specified(), "market 1 already has a contract"),
    Row("contract_specified: after a trade", (*TWO, trade(0, 1, 1, 100, market=1)), contract_specified(),
        "market 1 traded before its contract"),
    Row("contract_specified: after a quote", (*TWO, lambda s: quotes(s, 2, market=1, bids=((96, 1),))), contract_specified(),
        "market 1 traded before its contract"),
    Row("contract_specified: an unknown instrument", TWO, contract_specified(instrument="swap"), "unknown instrument 'swap'"),
    Row("contract_specified: a window longer than the expiry", TWO, contract_specified(settlement_window_ns=4_000 * 10**9),
        "market 1: bad expiry or window"),
    Row("contract_specified: expired already", (*TWO, mark_price_updated(100, ts_ns=AFTER)), contract_specified(ts_ns=AFTER),
        "market 1: bad expiry or window"),
    Row("contract_specified: an unknown underlying", TWO, contract_specified(underlying=5), "unknown market 5"),
    Row("contract_specified: an option on itself", TWO, contract_specified(instrument="option", underlying=1),
        "option market 1 is its own underlying"),
    Row("contract_specified: an option with a strike of 0", TWO, contract_specified(instrument="option", strike="0"),
        "option market 1: bad type or strike"),
    Row("contract_specified: an option neither call nor put", TWO, contract_specified(instrument="option", option_type="x"),
        "option market 1: bad type or strike"),
    Row("contract_specified: a strike between the underlying's ticks", TWO,
        contract_specified(instrument="option", strike="100.5"), "option market 1: strike or lot not whole"),
    Row("margin_rates_set: an unknown market", BASE, rates((60_000,), market=4), "unknown market 4"),
    Row("margin_rates_set: a rate per bracket missing", BASE, rates((60_000, 70_000)), "bad margin rates"),
    Row("margin_rates_set: a multiplier of 0", BASE, rates((60_000,), multiplier_ppm=0), "bad margin rates"),
    Row("margin_rates_set: a rate of 100 %", BASE, rates((1_000_000,)), "out of"),
    Row("margin_rates_set: rates whose maintenance amounts are not whole",
        (market_listed(0, bracket_floors=(0, 7), bracket_rates_ppm=(MAINTENANCE_PPM, MAINTENANCE_PPM)), accounts_opened(0, 3)),
        rates((60_000, 60_001)), "market 0: bracket floor 7"),
    Row("contract_specified: a dated market with a settlement asset", COIN, contract_specified(settlement_asset=0),
        "dated market 1 settles in the quote"),
    Row("contract_specified: an inverse perpetual with an expiry", COIN, inverse_contract(expiry_ns=AFTER),
        "inverse perpetual 1 has an expiry"),
    Row("contract_specified: an inverse perpetual in an unknown asset", TWO, inverse_contract(),
        "unknown settlement asset 0"),
    Row("contract_specified: an inverse perpetual in an asset with a haircut", (*TWO, collateral_listed()),
        inverse_contract(), "which has a haircut"),
    Row("contract_specified: an inverse contract not whole in coin units",
        (market_listed(0), market_listed(1, tick_size="3"), accounts_opened(0, 3), collateral_listed(haircut_ppm=0)),
        inverse_contract(), "is not a whole number of coin units"),
    Row("funding_paid: a coin settlement leaving its clearing ledger non-zero", INVERSE,
        funding_paid((0,), (5,), final=True, market=1), "coin funding settlement leaves -5"),
    Row("contract_specified: a future with a strike", TWO, contract_specified(strike="100"), "future market 1 has option terms"),
    Row("market_settled: an unknown market", FUTURE, market_settled(105, market=2), "unknown market 2"),
    Row("market_settled: a perpetual", FUTURE, market_settled(105, market=0), "market 0 cannot settle"),
    Row("market_settled: twice", SETTLED, market_settled(105), "market 1 cannot settle"),
    Row("market_settled: before its expiry", HELD_FUTURE, market_settled(105, ts_ns=10), "market 1 settled before its expiry"),
    Row("market_settled: with a quote resting", (*FUTURE, lambda s: quotes(s, 2, market=1, bids=((96, 1),))),
        market_settled(105), "market 1 settles with orders open"),
    Row("market_settled: with an order incoming", (*FUTURE, order_placed(1, 0, BUY, 1, 99, market=1)), market_settled(105),
        "market 1 settles with orders open"),
    Row("market_settled: a future at 0", HELD_FUTURE, market_settled(0), "bad settlement"),
    Row("market_settled: no samples", HELD_FUTURE, market_settled(105, samples=0), "bad settlement"),
    Row("position_settled: an unknown account", SETTLED, position_settled(3, 2, 105), "unknown account 3"),
    Row("position_settled: an unknown market", SETTLED, position_settled(0, 2, 105, market=2), "unknown market 2"),
    Row("position_settled: before the market settled", HELD_FUTURE, position_settled(0, 2, 105),
        "market 1 has not settled at 105"),
    Row("position_settled: at another price", SETTLED, position_settled(0, 2, 104), "market 1 has not settled at 104"),
    Row("position_settled: not the lots held", SETTLED, position_settled(0, 1, 105), "account 0 holds 2 lots, not 1"),
    Row("position_settled: no position", SETTLED, position_settled(2, 0, 105), "account 2 holds 0 lots, not 0"),
    Row("position_settled: a wrong amount", SETTLED, position_settled(0, 2, 105, amount=1), "bad settlement amount"),
    Row("order_placed: on an expired market", SETTLED, order_placed(1, 0, BUY, 1, 99, market=1, ts_ns=AFTER),
        "order on market 1, which has expired"),
    Row("trade_executed: on an expired market", SETTLED, trade(0, 1, 1, 100, market=1, ts_ns=AFTER),
        "trade on market 1, which has expired"),
    Row("quotes_replaced: on an expired market", SETTLED, lambda s: quotes(s, 2, market=1, bids=((96, 1),), ts_ns=AFTER),
        "quotes on market 1, which has expired"),
    Row("volatility_surface_updated: an unknown underlying", BASE, surface_updated(1), "unknown market 1"),
    Row("volatility_surface_updated: a vol of 0", BASE, surface_updated(vol_ppm=((500_000, 0, 480_000),)),
        r"surface of market 0: VolSurface.vol_ppm\[0\]: expected every vol > 0"),
    Row("volatility_surface_updated: an expiry passed", (*BASE, mark_price_updated(100, ts_ns=AFTER)),
        surface_updated(ts_ns=AFTER), "surface of market 0 has an expiry in the past"),
]  # fmt: skip


class Refusal(NamedTuple):
    """What one row did: the digests around the refused event, the applier it reached, the lines it raised through."""

    before: str
    after: str
    applier: str
    lines: list[tuple[str, int]]  # (file, line) of every frame from `apply` down to the raise


def refuse(row: Row) -> Refusal:
    """Apply the row's setup to a fresh state, then its event, which must be refused with the row's message."""
    state = ClearingState()
    for step in row.setup:
        apply(state, step(state) if callable(step) else step)
    event = row.event(state) if callable(row.event) else row.event
    before = state.digest()
    with pytest.raises(InvariantViolation, match=row.match) as refused:
        apply(state, event)
    frames, tb = [], refused.tb
    while tb is not None:
        frames.append((tb.tb_frame.f_code.co_name, tb.tb_frame.f_code.co_filename, tb.tb_lineno))
        tb = tb.tb_next
    first = next(i for i, (name, path, _) in enumerate(frames) if name == "apply" and path == APPLY_FILE)
    applier = frames[first + 1][0] if first + 1 < len(frames) else "apply"
    return Refusal(before, state.digest(), applier, [(path, line) for _name, path, line in frames[first:]])


@pytest.mark.parametrize("row", ROWS, ids=[row.name for row in ROWS])
def test_the_guard_refuses_the_event(row: Row) -> None:
    refusal = refuse(row)
    assert row.name.split(":")[0] == refusal.applier, f"refused by {refusal.applier}, not by the applier the row names"
    if row.partial:
        assert refusal.after != refusal.before, "the reducer now checks before it changes anything: drop this row's `partial`"
    else:
        assert refusal.after == refusal.before, "the refused event changed the state"


# ---------------------------------------------------------------- every guard has a row


def guarded_sources() -> dict[str, str]:
    """Return the source of `apply` and of every module of the reducers package, by file."""
    reducers = importlib.import_module("clearing.core.state.reducers")
    names = [info.name for info in pkgutil.iter_modules(reducers.__path__, reducers.__name__ + ".")]
    files = [APPLY_FILE, *(inspect.getfile(importlib.import_module(name)) for name in names)]
    return {path: Path(path).read_text() for path in files}


def guard_sites(sources: dict[str, str]) -> dict[tuple[str, int, int], str]:
    """Return every guard site of `sources`: (file, first line, last line) -> "file:line in function: source line".

    A guard site is a `raise InvariantViolation(...)`, or a call of a guard function: a
    function defined in these sources that contains a guard site itself (found to a fixed
    point: `require`, `account`, `market`, `_asset`, `_check_price`, `_leave_queue`, `fill`,
    ...), called by its name or as `<module>.<name>`.
    """
    trees = {path: ast.parse(source) for path, source in sources.items()}
    modules = {Path(path).stem for path in sources}
    functions = [(path, fn) for path, tree in trees.items() for fn in ast.walk(tree) if isinstance(fn, ast.FunctionDef)]

    def is_site(node: ast.AST, guards: set[str]) -> bool:
        if isinstance(node, ast.Raise):
            return isinstance(node.exc, ast.Call) and getattr(node.exc.func, "id", "") == "InvariantViolation"
        if isinstance(node, ast.Call):
            f = node.func
            by_name = isinstance(f, ast.Name) and f.id in guards
            return by_name or (isinstance(f, ast.Attribute) and getattr(f.value, "id", "") in modules and f.attr in guards)
        return False

    def sites_of(fn: ast.FunctionDef, guards: set[str]) -> list[ast.AST]:
        return [node for node in ast.walk(fn) if is_site(node, guards)]

    guards: set[str] = set()
    while (grown := {fn.name for _path, fn in functions if sites_of(fn, guards)}) != guards:
        guards = grown
    sites = {}
    for path, fn in functions:
        lines = sources[path].splitlines()
        for node in sites_of(fn, guards):
            first, last = node.lineno, node.end_lineno or node.lineno
            sites[(path, first, last)] = f"{Path(path).name}:{first} in {fn.name}: {lines[first - 1].strip()}"
    return sites


@functools.cache
def raised_through() -> frozenset[tuple[str, int]]:
    """Return the (file, line) of every frame some row's refusal raised through."""
    return frozenset(line for row in ROWS for line in refuse(row).lines)


def uncovered(sites: dict[tuple[str, int, int], str], raised: frozenset[tuple[str, int]]) -> list[str]:
    """Return the sites no raised-through line falls in."""
    return [where for (path, first, last), where in sites.items() if not any((path, n) in raised for n in range(first, last + 1))]


def test_every_guard_has_a_row() -> None:
    """Fail when a guard of the reducers or of `apply` is triggered by no row of the table.

    How: `guard_sites` parses `apply.py` and every module of the reducers package with `ast`
    and lists each guard site by its line span: every `raise InvariantViolation(...)` and every
    call of a function that can raise one (`require`, `account`, `market`, `_asset`,
    `_check_price`, `_leave_queue`, `orders.fill`: found to a fixed point, so a new helper is
    picked up without editing this test). Every row is run, and the traceback of the
    `InvariantViolation` it raises gives the lines it raised through, from `apply` down to the
    `raise`; a site is covered when one of those lines falls in its span. A new guard, or a
    new call of a guard helper, is a site no traceback passes through until a row triggers it,
    and the failure names it by file, line, function and source. The line numbers come from
    the very files the rows run, so edits elsewhere in the reducers never make them stale.
    """
    sites = guard_sites(guarded_sources())
    assert len(sites) > 50, f"only {len(sites)} guards found: do the reducers still live in clearing.core.state.reducers?"
    missing = uncovered(sites, raised_through())
    assert not missing, "guards no row triggers (add a row to ROWS):\n" + "\n".join(missing)
    assert len({row.name for row in ROWS}) == len(ROWS), "row names must be unique"


def test_a_new_guard_without_a_row_is_reported() -> None:
    # The meta-test must be able to fail: append a guard helper and an applier using it to a
    # reducer module (the lines above keep their numbers) and the three new sites, and only
    # they, are reported.
    sources = guarded_sources()
    reducer = next(path for path in sources if path != APPLY_FILE)
    sources[reducer] += (
        "\n\ndef _check_new(state, e):\n    require(e.amount > 0, 'new')\n\n\n"
        "def new_applier(state, e):\n    _check_new(state, e)\n    if e.amount > 9:\n        raise InvariantViolation('too much')\n"
    )
    missing = uncovered(guard_sites(sources), raised_through())
    assert [where.split(": ", 1)[0].split(" in ")[1] for where in missing] == ["_check_new", "new_applier", "new_applier"]
