"""Account risk read from the state: prices, equity, requirement, backing, liquidation and bankruptcy prices.

One implementation for the margin monitor, the liquidators, the exchange and replay's
breach audit: an account's positions are valued at each market's mark, its index before
the first mark (`valuation_price`, the one place that rule is written); its requirement is
`clearing.core.margin.account_requirements` under its margin mode, with the portfolio
parameters and the return window the state holds (`portfolio_margin_configured`,
`return_window_sampled`). Pure: reads a `ClearingState`, changes nothing.
"""

from __future__ import annotations

from decimal import Decimal
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from clearing.core import inverse
from clearing.core.inverse import coin_to_quote, position_coin_values
from clearing.core.margin import (
    account_requirements,
    bankruptcy_price,
    cross_backing,
    liquidation_price,
    maintenance_amounts,
    position_values,
)
from clearing.core.options.implied import implied_volatility
from clearing.core.options.margin import option_requirements
from clearing.core.options.pricing import greeks
from clearing.core.options.surface import implied_vol
from clearing.core.portfolio.revaluation import (
    GridCache,
    Scenarios,
    ScenarioTable,
    grid_requirements,
    grid_scenarios,
    linear_lot_pnl,
    option_lot_pnl,
)
from clearing.core.state import ClearingState
from clearing.core.state.schema import Instrument, MarginMode, Role
from clearing.units import PPM, Float64Array, Int64Array

PORTFOLIO = MarginMode.PORTFOLIO
FUND = Role.INSURANCE_FUND


def valuation_price(state: ClearingState, market: int) -> int:
    """Return the price (ticks) `market`'s positions are valued at: its mark, its index before the first mark.

    0 before either is known.
    """
    return int(state.mark_ticks[market]) or int(state.index_ticks[market])


def valuation_prices(state: ClearingState) -> Int64Array:
    """Return `valuation_price` of every market, shape (M,)."""
    return np.array([valuation_price(state, m) for m in range(len(state.mark_ticks))], np.int64)


def market_values(state: ClearingState, held: Int64Array, prices: Int64Array) -> Int64Array:
    """Return each position's signed value in quote minor units at `prices` (ticks), shape (N, M).

    A linear market's is q x price x unit value (`clearing.core.margin.position_values`);
    an inverse perpetual's is its coin value at the price valued at its settlement asset's
    oracle price (`inverse_values`), so equity, requirements and every liquidation rule read
    one quote number whatever the instrument.
    """
    values = position_values(held, prices, state.unit_value)
    for market in state.inverse:
        values[:, market] = inverse_values(state, market, held[:, market], int(prices[market]))
    return values


def inverse_values(state: ClearingState, market: int, lots: Int64Array, price_ticks: int) -> Int64Array:
    """Return the quote value of inverse positions of `lots` at `price_ticks`: floor(floor(-q x k / P) x S / 10^d).

    S is the settlement asset's oracle price (quote minor units per coin), the price margin
    values the coin the account holds at; both floors are against the account. 0 before
    the asset has a price. Source: docs/references.md [bitmex-inverse].
    """
    terms = state.inverse[market]
    coin = position_coin_values(lots, price_ticks, terms.k)
    price = int(state.asset_oracle_ticks[terms.asset])
    return coin_to_quote(coin, price, int(state.asset_decimals[terms.asset]))  # type: ignore[return-value]


def lot_value(state: ClearingState, market: int, price_ticks: int) -> int:
    """Return one lot's quote value at `price_ticks`: price x unit value, an inverse perpetual's contract value at any price."""
    if market in state.inverse:
        return state.markets[market].unit_value
    return price_ticks * state.markets[market].unit_value


def trade_notional(state: ClearingState, market: int, lots: int, price_ticks: int) -> int:
    """Return the quote notional of `lots` (absolute) traded at `price_ticks`: lots x price x unit value.

    An inverse perpetual's lot is worth its contract value (`unit_value`) at every price.
    """
    return lots * lot_value(state, market, price_ticks)


def value_of(state: ClearingState, market: int, lots: int, price_ticks: int) -> int:
    """Return the quote value of a position of `lots` (signed) on `market` at `price_ticks` (`value_at`, one position)."""
    if market in state.inverse:
        return int(inverse_values(state, market, np.array([lots], np.int64), price_ticks)[0])
    return lots * lot_value(state, market, price_ticks)


def value_at(state: ClearingState, market: int, lots: Int64Array | int, price_ticks: int) -> Int64Array:
    """Return the quote value of positions of `lots` (signed) on `market` at `price_ticks` (`market_values`' rule)."""
    lots = np.atleast_1d(np.asarray(lots, np.int64))
    if market in state.inverse:
        return inverse_values(state, market, lots, price_ticks)
    return lots * (price_ticks * int(state.unit_value[market]))  # type: ignore[no-any-return]


class OptionTerms(NamedTuple):
    """What the standard option margin needs of each live option market, in integers."""

    market: int
    underlying: int
    is_call: bool
    strike_ticks: int  # in the underlying's ticks
    underlying_unit_value: int  # quote minor units per option lot per underlying tick


def live_options(state: ClearingState) -> list[int]:
    """Return the option markets not yet expired, ascending."""
    contracts = sorted(state.contracts.items())
    return [m for m, c in contracts if c.instrument == Instrument.OPTION and m not in state.settlement_prices]


def option_terms(state: ClearingState) -> list[OptionTerms]:
    """Return the terms of every option market not yet expired, ascending (exact: `contract_specified` checks them)."""
    out = []
    for market in live_options(state):
        contract = state.contracts[market]
        u = state.markets[contract.underlying]
        tick, listing = Decimal(u.tick_size), state.markets[market]
        out.append(OptionTerms(
            market, contract.underlying, contract.option_type == "call", int(Decimal(contract.strike) / tick),
            int(Decimal(listing.lot_size) * tick * 10**listing.quote_decimals),
        ))  # fmt: skip
    return out


def account_risk(
    state: ClearingState, rows: Int64Array, positions: Int64Array | None = None, cache: GridCache | None = None
) -> tuple[Int64Array, Int64Array]:
    """Return (equity, requirement) of the accounts `rows`, quote minor units, shape (len(rows),) each.

    equity = margin cash + sum over markets of position x price x unit value (a long
    option's value counts, a short option's is a liability); requirement =
    `account_requirements` under each account's margin mode over the perpetuals and futures,
    plus the standard maintenance margin of each option position
    (`clearing.core.options.margin.option_requirements`: nothing for a long, bit.com's
    short-option rule for a short, U the underlying's valuation price). Portfolio accounts
    under method "grid" are margined on every market they hold, options revalued
    (`grid_maintenance`), and their options need nothing more. `positions` (len(rows), M)
    replaces their positions (a what-if); `cache` (a `GridCache` the caller keeps up to
    date, `grid_cache_update`) returns the same grid requirements, recomputing only what changed.
    """
    held = state.position[rows] if positions is None else positions
    prices = valuation_prices(state)
    values = market_values(state, held, prices)
    equity = _equity(state, rows, values)
    portfolio = state.margin_mode[rows] == PORTFOLIO
    grid = state.grid is not None and bool(portfolio.any())
    options = live_options(state)
    linear = values
    if options:
        linear = values.copy()
        linear[:, options] = 0
    # Under the grid, portfolio rows are overwritten below: the markets' maintenance sum stands in until then.
    span_or_es = None if grid else state.portfolio
    requirement = account_requirements(linear, portfolio, state.brackets, span_or_es, state.window_returns())
    if grid:
        on = np.flatnonzero(portfolio)
        if cache is not None and positions is None:
            requirement[on] = cache.requirements(state.position, rows[on])
        else:
            requirement[on] = grid_maintenance(state, held[on], prices)
    if options and (held[:, options] < 0).any():  # only a short option needs margin
        margined = ~portfolio if grid else np.ones(len(held), np.bool_)
        for t in option_terms(state):
            short = np.flatnonzero((held[:, t.market] < 0) & margined)
            if short.size:
                _initial, maintenance = option_requirements(
                    held[short, t.market], np.array(t.is_call), np.array(t.strike_ticks, np.int64),
                    prices[t.underlying : t.underlying + 1], prices[t.market : t.market + 1],
                    np.array(t.underlying_unit_value, np.int64), state.unit_value[t.market : t.market + 1],
                )  # fmt: skip
                requirement[short] += maintenance
    return equity, requirement


def underlying_of(state: ClearingState, market: int) -> int:
    """Return the market whose price moves `market` in a scenario: a future's or an option's underlying, else itself."""
    contract = state.contracts.get(market)
    return market if contract is None else contract.underlying


def grid_tables(state: ClearingState, prices: Int64Array | None = None) -> dict[int, ScenarioTable]:
    """Return each underlying's `ScenarioTable` at the current prices, surfaces and time (the grid's).

    Markets on one underlying: its perpetual, the dated futures and the live options on it.
    A linear market's lot moves by its own value at its valuation price times the move; an
    option is revalued by `option_lot_pnl` at the underlying's valuation price, its volatility
    the underlying's surface at the start of the current `time_step_ns` (the option's mark's
    implied volatility before a surface exists). A table whose inputs did not change since it
    was last built is the one built then (`state.grid_tables`).
    """
    params, config = state.grid, state.grid_config
    if params is None or config is None:
        raise ValueError("no scenario grid configured (portfolio method 'grid')")
    prices = valuation_prices(state) if prices is None else prices
    now = state.now_ns - state.now_ns % config.time_step_ns
    by_underlying: dict[int, list[int]] = {}
    for market in range(state.n_markets):
        if market not in state.settlement_prices:
            by_underlying.setdefault(underlying_of(state, market), []).append(market)
    terms = {t.market: t for t in option_terms(state)}
    tables = {}
    for u, markets in sorted(by_underlying.items()):
        options = [m for m in markets if m in terms]
        surface = state.surfaces.get(u) if options else None
        key = (tuple(markets), tuple(prices[markets].tolist()), now if options else 0, surface)
        cached = state.grid_tables.get(u)
        if cached is not None and cached.key == key:
            tables[u] = cached
            continue
        scenarios = grid_scenarios(params)
        pnl = np.zeros((len(markets), scenarios.moves.size), np.float64)
        linear = [i for i, m in enumerate(markets) if m not in terms]
        if linear:
            lot_values = [lot_value(state, markets[i], int(prices[markets[i]])) for i in linear]
            pnl[linear] = linear_lot_pnl(lot_values, scenarios)
        if options and prices[u] > 0:
            pnl[[markets.index(m) for m in options]] = _option_table(state, [terms[m] for m in options], prices, now, scenarios)
        tables[u] = ScenarioTable(np.array(markets, np.int64), pnl, key)
    state.grid_tables = tables
    return tables


def _option_table(
    state: ClearingState, terms: list[OptionTerms], prices: Int64Array, now: int, scenarios: Scenarios
) -> Float64Array:
    # One lot's grid P/L of each option on one underlying, at the grid's time `now`.
    assert state.grid is not None
    forward, strike, call, tau, vol = option_inputs(state, terms, prices, now)
    unit = np.array([t.underlying_unit_value for t in terms], np.float64)
    return option_lot_pnl(forward, strike, call, vol, tau, unit, scenarios, state.grid)


def option_inputs(
    state: ClearingState, terms: list[OptionTerms], prices: Int64Array, now: int
) -> tuple[float, Float64Array, npt.NDArray[np.bool_], Int64Array, Float64Array]:
    """Return (forward, strikes, is_call, tau_ns, vols) of options on one underlying, prices in its ticks, at `now`.

    The forward is the underlying's valuation price; an option's volatility is the
    underlying's surface at its strike and expiry (read before the surface's first expiry),
    its mark's implied volatility before any surface exists, 0 at or past its expiry.
    """
    u = terms[0].underlying
    forward = float(prices[u])
    strike = np.array([t.strike_ticks for t in terms], np.float64)
    call = np.array([t.is_call for t in terms], np.bool_)
    expiry = np.array([state.contracts[t.market].expiry_ns for t in terms], np.int64)
    tau = np.maximum(expiry - now, 0)
    live = tau > 0
    vol = np.zeros(len(terms))
    surface = state.surfaces.get(u)
    if live.any() and forward > 0:
        if surface is not None:
            at = min(now, surface.expiries_ns[0] - 1)
            vol[live] = implied_vol(surface, at, expiry[live], forward, strike[live])
        else:
            marks = np.array([prices[t.market] * _option_tick_ratio(state, t) for t in terms], np.float64)
            implied = implied_volatility(marks[live], forward, strike[live], tau[live], call[live])
            vol[live] = np.nan_to_num(implied, nan=0.0)
    return forward, strike, call, tau, vol


def delta_exposure(state: ClearingState, rows: Int64Array, underlying: int) -> Float64Array:
    """Return each account's delta on `underlying`: quote minor units per underlying tick, float64, shape (len(rows),).

    Linear markets on it count their unit value per lot (a future moving tick for tick with
    its underlying); options their Black-76 delta x their quote value per underlying tick
    (`option_inputs` at the current time).
    """
    held = state.position[rows]
    out = np.zeros(len(rows))
    terms = [t for t in option_terms(state) if t.underlying == underlying]
    options = {t.market for t in terms}
    for market in range(state.n_markets):
        linear = market not in options and market not in state.inverse and market not in state.settlement_prices
        if linear and underlying_of(state, market) == underlying:
            out += held[:, market] * float(state.unit_value[market])
    if terms:
        forward, strike, call, tau, vol = option_inputs(state, terms, valuation_prices(state), state.now_ns)
        if forward > 0:
            delta = greeks(forward, strike, vol, tau, call).delta * np.array([t.underlying_unit_value for t in terms])
            out += held[:, [t.market for t in terms]] @ delta
    return out


def exposure_notional(state: ClearingState, market: int, lots: int) -> int:
    """Return the quote notional of `lots` (absolute) on `market`; an option's is on its underlying.

    An option's: lots x its quote value per underlying tick x the underlying's valuation price.
    """
    contract = state.contracts.get(market)
    if contract is not None and contract.instrument == Instrument.OPTION:
        t = next(t for t in option_terms(state) if t.market == market)
        return lots * t.underlying_unit_value * valuation_price(state, t.underlying)
    return trade_notional(state, market, lots, valuation_price(state, market))


def _option_tick_ratio(state: ClearingState, t: OptionTerms) -> float:
    # The option's price tick in its underlying's ticks (an option mark times this is a price in underlying ticks).
    return float(Decimal(state.markets[t.market].tick_size) / Decimal(state.markets[t.underlying].tick_size))


def grid_maintenance(state: ClearingState, positions: Int64Array, prices: Int64Array | None = None) -> Int64Array:
    """Return the grid maintenance requirement of `positions` (n, M): `grid_requirements` over `grid_tables`."""
    config = state.portfolio_config
    credit = config.inter_commodity_credit_ppm if config is not None else 0
    return grid_requirements(positions, grid_tables(state, prices), credit)


def grid_cache_update(state: ClearingState, cache: GridCache, changed: Int64Array | None) -> None:
    """Bring `cache` to the current tables and positions; `changed`: rows whose positions changed (None: any)."""
    cache.update(state.position, grid_tables(state), changed)


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
    weights = [int(maintenance_amounts(np.abs(values[m : m + 1]), state.brackets[m])[0]) for m in held]
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
    backed = cross_backing(state.margin_cash(rows), values, state.brackets, market)
    terms = state.inverse.get(market)
    if terms is not None:  # the coin form: `clearing.core.inverse.liquidation_price`
        b = state.brackets[market]
        return inverse.liquidation_price(
            int(backed[0]), state.position.item(account, market), terms.k, int(state.asset_oracle_ticks[terms.asset]),
            int(state.asset_decimals[terms.asset]), b.floors, b.rates_ppm, b.cums,
        )  # fmt: skip
    return int(liquidation_price(backed, state.position[rows, market], int(state.unit_value[market]), state.brackets[market])[0])


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
