"""The scenario's holdings in run units: who trades what (population, strategies) and how portfolios are margined.

Split from `clearing.scenario.params` (which re-exports these names): the population's draw
and legs, its portfolio types (`population.strategies`, markets by index) and the portfolio
margin parameters, with the `grid_margin_configured` event of method "grid".
"""

from __future__ import annotations

from typing import NamedTuple

from clearing import events as ev
from clearing.core.agents.population import fit_lognormal
from clearing.core.state.schema import MarginMode
from clearing.scenario.scenario import Scenario
from clearing.units import NS_PER_S, to_ppm


def _ns(seconds: float) -> int:
    return round(seconds * NS_PER_S)


class StrategyParams(NamedTuple):
    """One portfolio type of the population (`population.strategies`), markets by index."""

    name: str
    traders: int
    legs: tuple[tuple[int, float], ...]  # (market, multiple), ascending by market, non-zero
    drawn_side: bool
    hedge_market: int  # -1: no delta hedge
    delta_band_ppm: int
    hedge_interval_ns: int


class BehaviourParams(NamedTuple):
    """How the traders' positions live (`population`'s leverage family, pre-history, stop-losses, re-entry)."""

    leverage_lognormal: bool  # False: the choices with their weights
    leverage_median: float  # the lognormal's, fitted to the choices when the scenario gives 0
    leverage_sigma: float
    leverage_max: float
    history_ns: int  # entries on [-history_ns, entry window]; 0: none before the start
    history_volatility: float
    stop_fraction: float  # 0: no stop-losses
    stop_distance: float
    stop_distance_sigma: float
    stop_distance_max: float
    reentry_fraction: float  # 0: no re-entry
    reentry_delay_mean_ns: int


STATIC = BehaviourParams(False, 0.0, 0.0, 125.0, 0, 0.6, 0.0, 0.05, 0.5, 0.5, 0.0, 0)


class PopulationParams(NamedTuple):
    """The leveraged traders: the draw's inputs and how they hold and enter."""

    accounts: int
    long_fraction: float
    notional_median_minor: int
    notional_sigma: float
    notional_max_minor: int
    leverage: tuple[int, ...]
    leverage_weights: tuple[float, ...]
    entry_window_ns: int
    holding_mean_ns: int
    collateral_fraction: float
    collateral_asset: int  # index in `RunParams.collateral`, -1 for none
    margin_mode: MarginMode
    entry_at_backstop: bool  # positions open by a trade with the backstop, not through the book
    legs: tuple[tuple[int, float], ...]  # (market, multiple) of every non-zero leg, primary first
    modes: tuple[tuple[MarginMode, int], ...] = ()  # (mode, traders) in trader order; () : every trader in margin_mode
    strategies: tuple[StrategyParams, ...] = ()  # (): every trader holds `legs`
    behaviour: BehaviourParams = STATIC


class PortfolioParams(NamedTuple):
    """How portfolio-margined accounts are margined (`portfolio_margin_configured`), when any are."""

    method: str
    inter_commodity_credit_ppm: int
    extreme_multiple: int
    extreme_cover_pct: int
    es_window: int
    es_step_ns: int
    es_horizon: int
    es_tail: int
    grid: ev.GridMarginConfigured | None = None  # method "grid" only: the event that configures it, at time 0
    span: ev.SpanMarginConfigured | None = None  # method "span" only: its risk arrays' event, at time 0
    es: EsParams | None = None  # method "es" only: filtered historical simulation (its event needs the data files)


class EsParams(NamedTuple):
    """Filtered historical simulation of method "es": EWMA decay, time step, and the stress tapes by market index."""

    lambda_ppm: int
    time_step_ns: int
    stress_files: tuple[tuple[int, tuple[str, ...]], ...]  # (market, bar files), ascending by market
    horizon_minutes: int  # the stress returns' horizon: the window's, in whole minutes (at least 1)


def population_params(sc: Scenario) -> PopulationParams:
    """Return the population's parameters: its draw, margin modes, legs or strategies (markets by index)."""
    p = sc.population
    asset = [c.asset for c in sc.collateral].index(p.collateral_asset) if p.collateral_asset else -1
    legs = tuple((market, multiple) for market, multiple in enumerate(p.legs) if multiple)
    index = {m.symbol: i for i, (m, _) in enumerate(sc.listed())}
    strategies = tuple(
        StrategyParams(
            x.name, n, tuple(sorted((index[symbol], multiple) for symbol, multiple in x.legs.items() if multiple)),
            x.drawn_side, index[x.hedge] if x.hedge else -1, to_ppm(round(x.delta_band, 6), "delta_band"),
            _ns(x.hedge_interval_s),
        )
        for x, (_name, n) in zip(p.strategies, p.strategy_counts(), strict=True)
    )
    if strategies:  # the legs are every market a strategy holds, ascending
        held = {m for x in strategies for m, _ in x.legs} | {x.hedge_market for x in strategies if x.hedge_market >= 0}
        legs = tuple((market, 1.0) for market in sorted(held))
    return PopulationParams(
        p.accounts, p.long_fraction, sc.quote_minor(p.notional_median), p.notional_sigma, sc.quote_minor(p.notional_max),
        p.leverage, p.leverage_weights, _ns(p.entry_window_s), _ns(p.holding_mean_s), p.collateral_fraction, asset,
        MarginMode.of(p.margin_mode), p.entry == "backstop", legs,
        tuple((MarginMode.of(mode), n) for mode, n in p.mode_counts()), strategies, behaviour_params(sc),
    )  # fmt: skip


def behaviour_params(sc: Scenario) -> BehaviourParams:
    """Return how the population's positions live; a lognormal's 0 median or log-sd fitted to the leverage choices."""
    p = sc.population
    median, sigma = fit_lognormal(p.leverage, p.leverage_weights)
    stop, again = p.stop_loss, p.reentry
    return BehaviourParams(
        p.leverage_distribution == "lognormal", p.leverage_median or median, p.leverage_sigma or sigma, p.leverage_max,
        _ns(p.history_s), p.history_volatility, stop.fraction if stop.enabled else 0.0, stop.distance, stop.distance_sigma,
        stop.distance_max, again.fraction if again.enabled else 0.0, _ns(again.delay_mean_s),
    )  # fmt: skip


def portfolio_params(sc: Scenario) -> PortfolioParams | None:
    """Return how portfolio accounts are margined, with the grid's event for method "grid"; None without any."""
    if not sc.population.uses("portfolio"):
        return None
    p = sc.portfolio
    g = p.grid
    grid = ev.GridMarginConfigured(
        ts_ns=0, price_range_ppm=to_ppm(g.price_range, "price_range"), buckets=g.buckets,
        vol_up_ppm=to_ppm(g.vol_up, "vol_up"), vol_down_ppm=to_ppm(g.vol_down, "vol_down"),
        short_term_power_ppm=to_ppm(g.short_term_power, "short_term_power"),
        long_term_power_ppm=to_ppm(g.long_term_power, "long_term_power"),
        extended_moves_ppm=tuple(to_ppm(m, "extended_moves") for m in g.extended_moves),
        extended_weight_ppm=to_ppm(g.extended_weight, "extended_weight"), mm_factor_ppm=to_ppm(g.mm_factor, "mm_factor"),
        time_step_ns=_ns(g.time_step_s),
    )  # fmt: skip
    markets = [m for m, _ in sc.listed()]
    a = p.span
    span = ev.SpanMarginConfigured(
        ts_ns=0, vol_scan_ppm=(to_ppm(a.vol_scan, "vol_scan"),) * len(markets),
        intra_rate_ppm=(to_ppm(a.intra_rate, "intra_rate"),) * len(markets),
        short_option_minimum_ppm=to_ppm(a.short_option_minimum, "short_option_minimum"), time_step_ns=_ns(a.time_step_s),
    )  # fmt: skip
    index = {m.symbol: i for i, m in enumerate(markets)}
    es = EsParams(
        to_ppm(p.es.ewma_lambda, "ewma_lambda"), _ns(p.es.time_step_s),
        tuple(sorted((index[symbol], files) for symbol, files in p.es.stress_files.items())),
        max(1, round(p.es_step_s * p.es_horizon / 60)),
    )  # fmt: skip
    return PortfolioParams(
        p.method, to_ppm(p.inter_commodity_credit, "inter_commodity_credit"), p.extreme_multiple,
        int(p.extreme_cover * 100), p.es_window, _ns(p.es_step_s), p.es_horizon, p.es_tail,
        grid if p.method == "grid" else None, span if p.method == "span" else None, es if p.method == "es" else None,
    )  # fmt: skip


class MarginCallParams(NamedTuple):
    """Margin calls (`[margin_calls]`) in run units."""

    check_interval_ns: int
    call_level_ppm: int
    repeat_ns: int
    top_up_share: float
    reduce_share: float
    reaction_mean_ns: int
    outside_funds: float
    reduce_fraction_ppm: int


def margin_call_params(sc: Scenario) -> MarginCallParams | None:
    """Return margin calls' parameters, None when they are off."""
    c = sc.margin_calls
    if not c.enabled:
        return None
    return MarginCallParams(
        _ns(c.check_interval_s), to_ppm(c.call_level, "call_level"), _ns(c.repeat_s), c.top_up_share, c.reduce_share,
        _ns(c.reaction_mean_s), c.outside_funds, to_ppm(c.reduce_fraction, "reduce_fraction"),
    )  # fmt: skip
