"""Portfolio margin by scenario tables, read from the state: Deribit's grid, SPAN's risk arrays, filtered expected shortfall.

Builds each underlying's `ScenarioTable` (one lot's P/L of each of its markets in each
scenario, `clearing.core.portfolio.revaluation`) under the state's method
(`grid_margin_configured`, `span_margin_configured`, `es_margin_configured`), and the
`Reduction` that turns an account's scenario P/L into its requirement. The margin monitor
keeps a `ScenarioCache` of them; `clearing.core.risk.account_risk` applies them to
portfolio accounts. Pure but for the derived table cache `state.scenario_tables`. Sources:
docs/portfolio-margin.md.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from clearing.core.options.pricing import black76_price, greeks
from clearing.core.portfolio import es as fhs
from clearing.core.portfolio import span
from clearing.core.portfolio.revaluation import (
    Reduction,
    ScenarioCache,
    Scenarios,
    ScenarioTable,
    grid_scenarios,
    linear_lot_pnl,
    option_lot_pnl,
    scenario_requirements,
)
from clearing.core.state import ClearingState
from clearing.core.valuation import OptionTerms, lot_value, option_inputs, option_terms, underlying_of, valuation_prices
from clearing.units import PPM, Float64Array, Int64Array, mul_div_ceil


def tables_ready(state: ClearingState) -> bool:
    """Return whether portfolio accounts are margined by scenario tables now.

    Under the grid and SPAN's arrays always; under filtered expected shortfall once the
    return window holds `es_tail` returns or the stress scenarios are set (until then the
    markets' maintenance sum stands in, as the linear rule does).
    """
    method = state.table_method
    if method != "es":
        return method is not None
    assert state.es_config is not None and state.portfolio_config is not None
    returns = state.window_returns()
    window = 0 if returns is None else returns.shape[0]
    return window >= state.portfolio_config.es_tail or bool(state.es_config.stress_returns_ppm)


def stress_floor_only(state: ClearingState) -> bool:
    """Return whether expected shortfall's tables only floor the linear requirement (its window holds < `es_tail` returns).

    The stress rows alone would margin an underlying without stress files at nothing.
    """
    if state.table_method != "es":
        return False
    assert state.portfolio_config is not None
    returns = state.window_returns()
    return (0 if returns is None else returns.shape[0]) < state.portfolio_config.es_tail


def table_rule(state: ClearingState) -> Reduction:
    """Return how the scenario tables' P/L becomes a requirement (`Reduction`) under the state's method."""
    config = state.portfolio_config
    credit = config.inter_commodity_credit_ppm if config is not None else 0
    method = state.table_method
    if method == "es":
        assert config is not None
        returns = state.window_returns()
        return Reduction("es", 0, config.es_tail, 0 if returns is None else int(returns.shape[0]))
    return Reduction("span" if method == "span" else "worst", credit)


def scenario_tables(state: ClearingState, prices: Int64Array | None = None) -> dict[int, ScenarioTable]:
    """Return each underlying's `ScenarioTable` at the current prices, surfaces and time, under the state's method.

    Markets on one underlying: its perpetual, the dated futures and the live options on it.
    Deribit's grid (`_grid_table`), SPAN's risk arrays (`_span_table`) or the filtered
    expected-shortfall scenarios (`_es_table`). An option's volatility is the underlying's
    surface at the start of the current time step (the option's mark's implied volatility
    before a surface exists). A table whose inputs did not change since it was last built is
    the one built then (`state.scenario_tables`).
    """
    method = state.table_method
    if method is None:
        raise ValueError("no scenario tables configured (portfolio method 'grid', or 'span'/'es' with their events)")
    prices = valuation_prices(state) if prices is None else prices
    step = {"grid": state.grid_config, "span": state.span_config, "es": state.es_config}[method]
    assert step is not None
    now = state.now_ns - state.now_ns % step.time_step_ns
    by_underlying: dict[int, list[int]] = {}
    for market in range(state.n_markets):
        if market not in state.settlement_prices:
            by_underlying.setdefault(underlying_of(state, market), []).append(market)
    terms = {t.market: t for t in option_terms(state)}
    window = state.return_count if method == "es" else 0
    tables = {}
    for u, markets in sorted(by_underlying.items()):
        options = [m for m in markets if m in terms]
        surface = state.surfaces.get(u) if options else None
        key = (method, tuple(markets), tuple(prices[markets].tolist()), now if options else 0, surface, window)
        cached = state.scenario_tables.get(u)
        if cached is not None and cached.key == key:
            tables[u] = cached
            continue
        build = {"grid": _grid_table, "span": _span_table, "es": _es_table}[method]
        tables[u] = build(state, u, markets, [terms[m] for m in options], prices, now, key)
    state.scenario_tables = tables
    return tables


def _lot_values(state: ClearingState, markets: list[int], prices: Int64Array) -> list[int]:
    # One lot's quote value of each linear market at its valuation price.
    return [lot_value(state, m, int(prices[m])) for m in markets]


def _grid_table(
    state: ClearingState, u: int, markets: list[int], options: list[OptionTerms], prices: Int64Array, now: int,
    key: tuple[object, ...],
) -> ScenarioTable:  # fmt: skip
    # Deribit's grid: a linear lot moves by its value times the move; options by `option_lot_pnl`.
    assert state.grid is not None
    scenarios = grid_scenarios(state.grid)
    pnl = np.zeros((len(markets), scenarios.moves.size), np.float64)
    rows = _rows(markets, options)
    if rows.linear:
        pnl[rows.linear] = linear_lot_pnl(_lot_values(state, [markets[i] for i in rows.linear], prices), scenarios)
    if options and prices[u] > 0:
        pnl[rows.options] = _option_table(state, options, prices, now, scenarios)
    return ScenarioTable(np.array(markets, np.int64), pnl, key)


class _Rows(NamedTuple):
    linear: list[int]  # rows of a table's linear markets
    options: list[int]  # rows of its options, in the order of their terms


def _rows(markets: list[int], options: list[OptionTerms]) -> _Rows:
    optioned = [t.market for t in options]
    return _Rows([i for i, m in enumerate(markets) if m not in optioned], [markets.index(m) for m in optioned])


def _span_table(
    state: ClearingState, u: int, markets: list[int], options: list[OptionTerms], prices: Int64Array, now: int,
    key: tuple[object, ...],
) -> ScenarioTable:  # fmt: skip
    # SPAN's 16 scenarios on u (`clearing.core.portfolio.span`), in whole minor units, with its charges' inputs.
    portfolio, config = state.portfolio_config, state.span_config
    assert portfolio is not None and config is not None
    table = span.scenarios(portfolio.extreme_multiple, portfolio.extreme_cover_pct / 100)
    psr = portfolio.scan_range_ppm[u] / PPM
    rows = _rows(markets, options)
    pnl = np.zeros((len(markets), table.moves.size), np.float64)
    tiers_of = [_tier(state, m) for m in markets]
    tier_index = {t: i for i, t in enumerate(sorted(set(tiers_of)))}
    tiers = np.zeros((len(markets), len(tier_index)), np.float64)
    som = np.zeros(len(markets), np.int64)
    forward = int(prices[u])
    if rows.linear:
        lots = _lot_values(state, [markets[i] for i in rows.linear], prices)
        pnl[rows.linear] = np.rint(span.future_arrays(lots, psr, table))
        for i, value in zip(rows.linear, lots, strict=True):
            tiers[i, tier_index[tiers_of[i]]] = np.rint(value / max(int(prices[markets[i]]), 1))
    if options and forward > 0:
        f, strike, call, tau, vol = option_inputs(state, options, prices, now)
        unit = np.array([t.underlying_unit_value for t in options], np.float64)
        arrays = span.option_arrays(unit, f, strike, call, vol, tau, psr * f, config.vol_scan_ppm[u] / PPM, table)
        pnl[rows.options] = np.rint(arrays)
        delta = greeks(f, strike, vol, tau, call).delta * unit
        for j, i in enumerate(rows.options):
            tiers[i, tier_index[tiers_of[i]]] = np.rint(delta[j])
        notional = unit.astype(np.int64) * forward  # quote minor units of underlying per option lot
        som[rows.options] = mul_div_ceil(notional, config.short_option_minimum_ppm, PPM)
    return ScenarioTable(np.array(markets, np.int64), pnl, key, tiers, (config.intra_rate_ppm[u], forward), som)


def _tier(state: ClearingState, market: int) -> int:
    # A market's expiry tier: its expiry (ns), 0 for a perpetual.
    contract = state.contracts.get(market)
    return 0 if contract is None else int(contract.expiry_ns)


def _es_table(
    state: ClearingState, u: int, markets: list[int], options: list[OptionTerms], prices: Int64Array, now: int,
    key: tuple[object, ...],
) -> ScenarioTable:  # fmt: skip
    # Filtered historical scenarios (the window's rows, each market's own returns) then the stress rows (u's returns).
    config, portfolio = state.es_config, state.portfolio_config
    assert config is not None and portfolio is not None
    window = state.window_returns()
    filtered = np.zeros((0, state.n_markets))
    if window is not None and window.shape[0]:
        filtered = fhs.filtered_scenarios(window / PPM, config.lambda_ppm / PPM)
    stress = np.zeros(len(config.stress_returns_ppm))
    if u in config.stress_markets and config.stress_returns_ppm:
        column = config.stress_markets.index(u)
        stress = np.array([row[column] for row in config.stress_returns_ppm], np.float64) / PPM
    rows = _rows(markets, options)
    pnl = np.zeros((len(markets), filtered.shape[0] + stress.size), np.float64)
    if rows.linear:
        lots = np.array(_lot_values(state, [markets[i] for i in rows.linear], prices), np.float64)
        moves = np.vstack([filtered[:, [markets[i] for i in rows.linear]], np.repeat(stress[:, None], len(rows.linear), 1)])
        pnl[rows.linear] = np.rint(lots[:, None] * moves.T)
    if options and prices[u] > 0:
        f, strike, call, tau, vol = option_inputs(state, options, prices, now)
        moves = np.concatenate([filtered[:, u], stress])
        unit = np.array([t.underlying_unit_value for t in options], np.float64)
        base = black76_price(f, strike, vol, tau, call)
        shifted = np.maximum(f * (1.0 + moves), 1e-12)[None, :]
        later = black76_price(shifted, strike[:, None], vol[:, None], tau[:, None], call[:, None])
        pnl[rows.options] = np.rint((later - base[:, None]) * unit[:, None])
    return ScenarioTable(np.array(markets, np.int64), pnl, key)


def _option_table(
    state: ClearingState, terms: list[OptionTerms], prices: Int64Array, now: int, scenarios: Scenarios
) -> Float64Array:
    # One lot's grid P/L of each option on one underlying, at the grid's time `now`.
    assert state.grid is not None
    forward, strike, call, tau, vol = option_inputs(state, terms, prices, now)
    unit = np.array([t.underlying_unit_value for t in terms], np.float64)
    return option_lot_pnl(forward, strike, call, vol, tau, unit, scenarios, state.grid)


def table_maintenance(state: ClearingState, positions: Int64Array, prices: Int64Array | None = None) -> Int64Array:
    """Return the scenario-table maintenance requirement of `positions` (n, M): `scenario_requirements` over `scenario_tables`."""
    return scenario_requirements(positions, scenario_tables(state, prices), table_rule(state))


def table_cache_update(state: ClearingState, cache: ScenarioCache, changed: Int64Array | None) -> None:
    """Bring `cache` to the current tables, rule and positions; `changed`: rows whose positions changed (None: any)."""
    rule = table_rule(state)
    if rule != cache.rule:  # the window grew (expected shortfall's split): every row anew
        cache.rule = rule
        changed = None
    cache.update(state.position, scenario_tables(state), changed)
