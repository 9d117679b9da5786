"""Account risk read from the state: prices, equity, requirement, backing, liquidation and bankruptcy prices.

One implementation for the margin monitor, the liquidators, the exchange and replay's
breach audit: an account's positions are valued at each market's mark, its index before
the first mark (`clearing.core.valuation.valuation_price`); its requirement is
`clearing.core.margin.account_requirements` under its margin mode, with the portfolio
parameters and the return window the state holds (`portfolio_margin_configured`,
`return_window_sampled`). Pure: reads a `ClearingState`, changes nothing.
"""

from __future__ import annotations

import numpy as np

from clearing.core import inverse
from clearing.core.margin import (
    account_requirements,
    bankruptcy_price,
    cross_backing,
    maintenance_amounts,
)
from clearing.core.margin_scalar import liquidation_price_one
from clearing.core.options.margin import option_requirements
from clearing.core.portfolio.revaluation import ScenarioCache
from clearing.core.scenario_margin import stress_floor_only, table_maintenance, tables_ready
from clearing.core.state import ClearingState
from clearing.core.state.schema import MarginMode, Role
from clearing.core.valuation import live_options, market_values, option_terms, valuation_prices
from clearing.units import PPM, Int64Array

PORTFOLIO = MarginMode.PORTFOLIO
FUND = Role.INSURANCE_FUND


def account_risk(
    state: ClearingState, rows: Int64Array, positions: Int64Array | None = None, cache: ScenarioCache | None = None
) -> tuple[Int64Array, Int64Array]:
    """Return (equity, requirement) of the accounts `rows`, quote minor units, shape (len(rows),) each.

    equity = margin cash + sum over markets of position x price x unit value (a long
    option's value counts, a short option's is a liability); requirement =
    `account_requirements` under each account's margin mode over the perpetuals and futures,
    plus the standard maintenance margin of each option position
    (`clearing.core.options.margin.option_requirements`: nothing for a long, bit.com's
    short-option rule for a short, U the underlying's valuation price). Portfolio accounts
    margined by scenario tables (`tables_ready`: Deribit's grid, SPAN's risk arrays, filtered
    expected shortfall) are margined on every market they hold, options revalued
    (`table_maintenance`), and their options need nothing more; under expected shortfall
    before its window holds `es_tail` returns (`stress_floor_only`), the linear requirement
    with the standard option rule stands, floored by the stress rows' requirement. `positions` (len(rows), M)
    replaces their positions (a what-if); `cache` (a `ScenarioCache` the caller keeps up to
    date, `table_cache_update`) returns the same requirements, recomputing only what changed.
    """
    held = state.position[rows] if positions is None else positions
    prices = valuation_prices(state)
    values = market_values(state, held, prices)
    equity = _equity(state, rows, values)
    portfolio = state.margin_mode[rows] == PORTFOLIO
    tabled = bool(portfolio.any()) and tables_ready(state)
    floor_only = tabled and stress_floor_only(state)  # es before its window fills: the stress rows only floor
    options = live_options(state)
    linear = values
    if options:
        linear = values.copy()
        linear[:, options] = 0
    # Under scenario tables, portfolio rows are overwritten below: the markets' maintenance sum stands in until then.
    span_or_es = None if tabled else state.portfolio
    requirement = account_requirements(linear, portfolio, state.brackets, span_or_es, state.window_returns(), held)
    tables = None
    if tabled:
        on = np.flatnonzero(portfolio)
        if cache is not None and positions is None:
            tables = cache.requirements(state.position, rows[on])
        else:
            tables = table_maintenance(state, held[on], prices)
        if not floor_only:
            requirement[on] = tables
    if options and (held[:, options] < 0).any():  # only a short option needs margin
        margined = ~portfolio if tabled and not floor_only else np.ones(len(held), np.bool_)
        for t in option_terms(state):
            short = np.flatnonzero((held[:, t.market] < 0) & margined)
            if short.size:
                _initial, maintenance = option_requirements(
                    held[short, t.market], np.array(t.is_call), np.array(t.strike_ticks, np.int64),
                    prices[t.underlying : t.underlying + 1], prices[t.market : t.market + 1],
                    np.array(t.underlying_unit_value, np.int64), state.unit_value[t.market : t.market + 1],
                )  # fmt: skip
                requirement[short] += maintenance
    if floor_only and tables is not None:
        requirement[on] = np.maximum(requirement[on], tables)
    return equity, requirement


def initial_requirements(state: ClearingState, rows: Int64Array, maintenance: Int64Array, call_level_ppm: int) -> Int64Array:
    """Return the initial requirement of `rows` from their maintenance: ceil(maintenance x 10^6 / level).

    The level is the grid's `mm_factor_ppm` for portfolio accounts under method "grid"
    (Deribit: initial = maintenance / 0.8), `call_level_ppm` for the others.
    """
    level = np.full(len(rows), call_level_ppm, np.int64)
    if state.grid_config is not None:
        level[state.margin_mode[rows] == PORTFOLIO] = state.grid_config.mm_factor_ppm
    whole, rest = np.divmod(maintenance, level)
    return whole * PPM + -((-rest * PPM) // level)  # type: ignore[no-any-return]


def below_requirement(state: ClearingState, account: int) -> bool:
    """Return whether `account` holds a position and its equity is under its requirement (`account_risk`)."""
    if not state.position[account].any():
        return False
    equity, requirement = account_risk(state, np.array([account]))
    return bool(equity[0] < requirement[0])


def requirement_with(state: ClearingState, account: int, market: int, lots: int) -> int:
    """Return the account's requirement if its position on `market` were `lots` (signed), the rest as held."""
    positions = state.position[account : account + 1].copy()
    positions[0, market] = lots
    return int(account_risk(state, np.array([account]), positions)[1][0])


def equity(state: ClearingState, rows: Int64Array) -> Int64Array:
    """Return the equity of the accounts `rows` (margin cash plus their positions at the valuation prices), shape (len(rows),)."""
    return _equity(state, rows, market_values(state, state.position[rows], valuation_prices(state)))


def _equity(state: ClearingState, rows: Int64Array, values: Int64Array) -> Int64Array:
    return state.margin_cash(rows) + values.sum(axis=1)  # type: ignore[no-any-return]


def backing(state: ClearingState, account: int, market: int) -> int:
    """Return what backs the account's position on `market`: its share of the equity, less the position's value.

    One position: the margin cash. Several: the account's equity at the prices is
    allocated to its positions in proportion to their maintenance amounts (dYdX v4
    allocates total net collateral by maintenance share; by notional when no position
    needs maintenance), floor(equity x share), so each position has its own bankruptcy
    price and a deficit is shared out instead of landing on one leg.
    Source: docs/references.md [dydx-v4-bankruptcy].
    """
    values = market_values(state, state.position[account : account + 1], valuation_prices(state))[0]
    cash = int(state.margin_cash(slice(account, account + 1))[0])
    held = np.flatnonzero(values).tolist()
    if len(held) <= 1:
        return cash + int(values.sum()) - int(values[market])
    lots = state.position[account]
    weights = [int(maintenance_amounts(np.abs(values[m : m + 1]), state.brackets[m], lots[m : m + 1])[0]) for m in held]
    if not sum(weights):
        weights = [abs(int(values[m])) for m in held]
    share = weights[held.index(market)] if market in held else 0
    equity = cash + int(values.sum())
    return equity * share // max(sum(weights), 1) - int(values[market])


def position_bankruptcy_price(state: ClearingState, account: int, market: int) -> int:
    """Return the bankruptcy price (ticks) of the account's position on `market`, its other positions at their prices.

    `clearing.core.margin.bankruptcy_price` of its `backing`: closing the position there
    leaves the position's share of the equity at exactly nothing, rounded against the
    account (up for a long, down for a short; at least one tick); 0 for no position.
    Sources: docs/references.md [bitmex-liquidation], [dydx-v4-bankruptcy].
    """
    terms = state.inverse.get(market)
    if terms is not None:  # the coin form: `clearing.core.inverse.bankruptcy_price`
        return inverse.bankruptcy_price(
            backing(state, account, market), state.position.item(account, market), terms.k,
            int(state.asset_oracle_ticks[terms.asset]), int(state.asset_decimals[terms.asset]),
        )  # fmt: skip
    backed = np.array([backing(state, account, market)], np.int64)
    return int(bankruptcy_price(backed, state.position[account : account + 1, market], int(state.unit_value[market]))[0])


def breach_liquidation_price(state: ClearingState, account: int, market: int) -> int:
    """Return the liquidation price (ticks) of the account's position on `market`, the other markets held.

    `liquidation_price` of its `cross_backing` (Binance's cross formula; the isolated one
    for a one-market account); 0 for a portfolio account, whose requirement is not a
    bracket of one position, or for no position. Source: docs/references.md [binance-liq-price].
    """
    if state.margin_mode[account] == PORTFOLIO or not state.position[account, market]:
        return 0
    rows = slice(account, account + 1)
    values = market_values(state, state.position[rows], valuation_prices(state))
    backed = cross_backing(state.margin_cash(rows), values, state.brackets, market, state.position[rows])
    terms = state.inverse.get(market)
    if terms is not None:  # the coin form: `clearing.core.inverse.liquidation_price`
        b = state.brackets[market]
        return inverse.liquidation_price(
            int(backed[0]), state.position.item(account, market), terms.k, int(state.asset_oracle_ticks[terms.asset]),
            int(state.asset_decimals[terms.asset]), b.floors, b.rates_ppm, b.cums,
        )  # fmt: skip
    # One row: in Python numbers (the same arithmetic, a sixth of numpy's per-call cost; `margin_scalar`).
    return liquidation_price_one(int(backed[0]), state.position.item(account, market), int(state.unit_value[market]),
                                 state.brackets[market])  # fmt: skip


def fund_equity(state: ClearingState) -> int:
    """Return the insurance fund plus the equity of its trading account at the valuation prices.

    Execution "fund" lets the fund hold liquidated positions; this values them. Without a
    fund account it is the fund's balance.
    """
    total = state.insurance_fund
    accounts = np.flatnonzero(state.role == FUND)
    if accounts.size:
        total += int(equity(state, accounts).sum())
    return total
