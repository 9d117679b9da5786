"""Reducers of the margin parameters: portfolio-margin configuration, the return window, dynamic rates."""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

import numpy as np

from clearing import events as ev
from clearing.core.margin import Brackets, PortfolioParams, span_scenarios
from clearing.core.portfolio.grid import GridParams
from clearing.core.state.reducers.checks import account, market, require
from clearing.core.state.reducers.ledger import credit_outside_money
from clearing.core.state.schema import PORTFOLIO_METHODS
from clearing.errors import InvariantViolation

if TYPE_CHECKING:
    from clearing.core.state.state import ClearingState

def portfolio_margin_configured(state: ClearingState, e: ev.PortfolioMarginConfigured) -> None:
    """Set how portfolio accounts are margined, and start an empty return window."""
    require(state.portfolio_config is None, "portfolio margin is configured once")
    require(e.method in PORTFOLIO_METHODS, "unknown portfolio method %r", e.method)
    require(len(e.scan_range_ppm) == state.n_markets, "%s scan ranges for %s markets", len(e.scan_range_ppm), state.n_markets)
    require(
        all(0 <= r < 1_000_000 for r in e.scan_range_ppm) and 0 <= e.inter_commodity_credit_ppm <= 1_000_000,
        "bad scan ranges or credit in %s",
        e,
    )
    require(
        e.extreme_multiple >= 1 and 0 <= e.extreme_cover_pct <= 100 and e.es_horizon >= 1 and 1 <= e.es_tail <= e.es_window,
        "bad portfolio parameters %s",
        e,
    )
    state.portfolio_config = e
    state.portfolio = PortfolioParams(
        e.method, np.array(e.scan_range_ppm, np.int64), span_scenarios(state.n_markets, e.extreme_multiple, e.extreme_cover_pct),
        e.inter_commodity_credit_ppm, e.es_tail,
    )  # fmt: skip
    state.return_samples = deque(maxlen=e.es_window + e.es_horizon)


def grid_margin_configured(state: ClearingState, e: ev.GridMarginConfigured) -> None:
    """Set the scenario grid of portfolio margin (after `portfolio_margin_configured` with method "grid")."""
    config = state.portfolio_config
    require(config is not None and config.method == "grid" and state.grid is None, "a grid needs portfolio method grid, once")
    require(
        0 < e.price_range_ppm < 1_000_000 and 1 <= e.buckets <= 100 and e.vol_up_ppm >= 0 and 0 <= e.vol_down_ppm < 1_000_000
        and e.short_term_power_ppm >= 0 and e.long_term_power_ppm >= 0 and 0 <= e.extended_weight_ppm <= 1_000_000
        and 0 < e.mm_factor_ppm <= 1_000_000 and e.time_step_ns > 0 and all(m > -1_000_000 for m in e.extended_moves_ppm),
        "bad grid parameters %s",
        e,
    )  # fmt: skip
    state.grid_config = e
    state.grid = GridParams(
        e.price_range_ppm / 1e6, e.buckets, e.vol_up_ppm / 1e6, e.vol_down_ppm / 1e6, e.short_term_power_ppm / 1e6,
        e.long_term_power_ppm / 1e6, tuple(m / 1e6 for m in e.extended_moves_ppm), e.extended_weight_ppm / 1e6,
        e.mm_factor_ppm / 1e6,
    )  # fmt: skip


def span_margin_configured(state: ClearingState, e: ev.SpanMarginConfigured) -> None:
    """Set SPAN's risk arrays with the volatility leg (after `portfolio_margin_configured` with method "span")."""
    config = state.portfolio_config
    require(
        config is not None and config.method == "span" and state.span_config is None, "span arrays need method span, once"
    )
    n = state.n_markets
    require(
        len(e.vol_scan_ppm) == n and len(e.intra_rate_ppm) == n and all(0 <= v <= 10_000_000 for v in e.vol_scan_ppm)
        and all(0 <= r <= 1_000_000 for r in e.intra_rate_ppm) and 0 <= e.short_option_minimum_ppm <= 1_000_000
        and e.time_step_ns > 0,
        "bad span parameters %s",
        e,
    )  # fmt: skip
    state.span_config = e


def es_margin_configured(state: ClearingState, e: ev.EsMarginConfigured) -> None:
    """Set filtered historical expected shortfall (after `portfolio_margin_configured` with method "es")."""
    config = state.portfolio_config
    require(config is not None and config.method == "es" and state.es_config is None, "es scenarios need method es, once")
    require(
        0 < e.lambda_ppm < 1_000_000 and e.time_step_ns > 0 and len(set(e.stress_markets)) == len(e.stress_markets)
        and all(0 <= m < state.n_markets for m in e.stress_markets)
        and all(len(row) == len(e.stress_markets) and min(row, default=0) > -1_000_000 for row in e.stress_returns_ppm),
        "bad expected-shortfall parameters %s",
        e,
    )  # fmt: skip
    state.es_config = e


MARGIN_CALL_RESPONSES = ("top_up", "reduce", "none")


def margin_called(state: ClearingState, e: ev.MarginCalled) -> None:
    """Record a margin call on an account (its time, and the run's counts)."""
    account(state, e.account)
    require(e.response in MARGIN_CALL_RESPONSES and e.delay_ns >= 0, "bad margin call %s", e)
    require(e.requirement <= e.equity < e.initial, "a margin call needs maintenance <= equity < initial: %s", e)
    state.margin_calls[e.account] = e.ts_ns
    state.margin_call_counts["calls"] += 1
    state.margin_call_counts[e.response] += 1


def margin_topped_up(state: ClearingState, e: ev.MarginToppedUp) -> None:
    """Credit a called account's top-up: outside money, as a deposit."""
    account(state, e.account)
    require(e.account in state.margin_calls, "account %s was not called", e.account)
    credit_outside_money(state, e.account, e.amount)
    state.margin_call_counts["topped_up"] += e.amount


def return_window_sampled(state: ClearingState, e: ev.ReturnWindowSampled) -> None:
    """Append one row of marks to the return window (the oldest drops out when full)."""
    require(state.portfolio_config is not None, "a return window needs portfolio margin configured")
    require(len(e.prices_ticks) == state.n_markets and min(e.prices_ticks) > 0, "bad return window sample %s", e)
    state.return_samples.append(e.prices_ticks)
    state.returns_cache = None
    state.return_count += 1


def margin_rates_set(state: ClearingState, e: ev.MarginRatesSet) -> None:
    """Replace a market's bracket rates (its floors kept): dynamic margin."""
    market(state, e.market)
    listing = state.markets[e.market]
    require(e.multiplier_ppm > 0 and len(e.bracket_rates_ppm) == len(listing.bracket_floors), "bad margin rates %s", e)
    require(e.bracket_rates_ppm[0] > 0 and e.bracket_rates_ppm[-1] < 1_000_000, "margin rates out of (0, 100 %%): %s", e)
    try:
        brackets = Brackets.of(listing.bracket_floors, e.bracket_rates_ppm)
    except ValueError as error:
        raise InvariantViolation(f"market {e.market}: {error}") from None
    state.brackets[e.market] = brackets._replace(premium_ppm=listing.size_premium_ppm, risk_limit_lots=listing.risk_limit_lots)
    state.maintenance_margin_ppm[e.market] = e.bracket_rates_ppm[0]
    state.dynamic_rates[e.market] = (e.multiplier_ppm, e.bracket_rates_ppm)
