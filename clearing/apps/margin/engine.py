"""The engine's margin models applied to a book: the state built by events, then `clearing.core.risk`.

For each model a `ClearingState` is built through the reducer from events, as a run builds
one: the scenario's markets and collateral (`list_markets`), a counterparty, the book's
account(s) in the model's mode, its cash and collateral, the trades that give it its
positions at the book's prices, each market's mark, a flat implied-volatility surface per
underlying with options, and for the portfolio models their configuration events. The
requirement is then `clearing.core.risk.account_risk`, the function the margin monitor
uses, so a book's numbers are the simulator's.

- isolated: each position in its own account (its maintenance alone; no offsets);
- cross: one account, the sum of each market's maintenance (options by the short rule);
- span, grid, es: one portfolio account under that method's scenario tables (`[portfolio]`
  of the scenario; es's scenarios are the book's `[history]` files, as stress rows).

Initial: isolated and cross, each position's value times its initial rate (the market's
`initial_margin_rate`, or its maintenance rate, with the size premium); portfolio methods,
maintenance over the grid's `mm_factor` or the margin-call level (`initial_requirements`).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from clearing import events as ev
from clearing.apps.margin.book import Book, underlying_index
from clearing.apps.margin.var import history_bars
from clearing.core.options.margin import option_requirements
from clearing.core.options.surface import moneyness_grid_ppm
from clearing.core.paths import Bars
from clearing.core.portfolio import span
from clearing.core.portfolio.revaluation import grid_scenarios
from clearing.core.rates import initial_margin_ppm
from clearing.core.risk import account_risk, initial_requirements
from clearing.core.scenario_margin import scenario_tables, table_rule, tables_ready
from clearing.core.state import ClearingState, MarginMode
from clearing.core.valuation import option_terms, value_of
from clearing.errors import ConfigError, DataError
from clearing.log.writer import MemorySink
from clearing.scenario.holdings import EsParams, portfolio_params
from clearing.sim.accounts import list_markets
from clearing.sim.bus import EventBus
from clearing.sim.world import stress_event
from clearing.units import PPM, mul_div_ceil, to_ppm

ENGINE_MODELS = ("isolated", "cross", "span", "grid", "es")
_CALL_LEVEL_PPM = 800_000  # initial = maintenance / 0.8 where the method sets no factor (`[margin_calls] call_level`)


class EngineResult(NamedTuple):
    """One engine model's requirement of the book, quote minor units, and its worst scenario when it has one."""

    model: str
    maintenance: int
    initial: int
    equity: int
    worst: str  # the scenario of the largest loss ("" for the rate-based models)


class BookState(NamedTuple):
    """A state holding the book: its account rows (one, or one per position when isolated)."""

    state: ClearingState
    rows: np.ndarray


def book_state(
    book: Book, model: str, positions: tuple[int, ...] | None = None, history: dict[int, Bars] | None = None,
    cash: tuple[int, ...] | None = None,
) -> BookState:  # fmt: skip
    """Return a state holding `positions` (default the book's lots per market) under `model` (`ENGINE_MODELS`).

    `history`: the bars of the book's `[history]` files (`history_bars`), read once by the caller; model "es" needs them.
    `cash`: each account's deposit (isolated: one per held position, in market order); default the book's cash
    in the first.
    """
    if model not in ENGINE_MODELS:
        raise ValueError(f"expected one of {ENGINE_MODELS}, was {model!r}")
    lots = book.lots if positions is None else positions
    held = [m for m, q in enumerate(lots) if q]
    state = ClearingState()
    bus = EventBus(state, MemorySink())
    params = book.params
    list_markets(bus, params)
    isolated = model == "isolated"
    mode = MarginMode.ISOLATED if isolated else MarginMode.CROSS if model == "cross" else MarginMode.PORTFOLIO
    count = max(len(held), 1) if isolated else 1
    bus.emit(ev.AccountsOpened(ts_ns=0, first_account=0, count=1, role="liquidity_provider", margin_mode="cross"))
    bus.emit(ev.AccountsOpened(ts_ns=0, first_account=1, count=count, role="trader", margin_mode=mode.label))
    rows = np.arange(1, 1 + count, dtype=np.int64)
    if model in ("span", "grid", "es"):
        _configure(bus, book, model, history)
    t = book.at_ns
    for asset, c in enumerate(params.collateral):
        bus.emit(ev.CollateralPriceDelivered(ts_ns=t, asset=asset, price_ticks=c.price_minor, ts_source_ns=t,
                                             ts_published_ns=t))  # fmt: skip
    for market in range(len(params.markets)):
        price = book.prices_ticks[market]
        bus.emit(ev.MarkPriceUpdated(ts_ns=t, market=market, price_ticks=price, index_ticks=price, method="book"))
    _surfaces(bus, book)
    for row, amount in enumerate(cash if cash is not None else (book.cash_minor,)):
        if amount:
            bus.emit(ev.Deposited(ts_ns=t, account=1 + row, amount=amount))
    for asset, amount in book.collateral:
        if amount:
            bus.emit(ev.CollateralDeposited(ts_ns=t, account=1, asset=asset, amount=amount))
    for i, market in enumerate(held):
        account = 1 + (i if isolated else 0)
        q = lots[market]
        buyer, seller = (account, 0) if q > 0 else (0, account)
        bus.emit(ev.TradeExecuted(ts_ns=t, market=market, buyer=buyer, seller=seller, lots=abs(q),
                                  price_ticks=book.prices_ticks[market], buyer_fee=0, seller_fee=0, liquidation=False,
                                  maker_order=0, taker_order=0, taker_side=0))  # fmt: skip
    return BookState(state, rows)


def _configure(bus: EventBus, book: Book, model: str, history: dict[int, Bars] | None) -> None:
    # The scenario's [portfolio] under `model`, as a run with portfolio traders configures it.
    sc = book.scenario
    population = sc.population.model_copy(update={"margin_mode": "portfolio", "margin_modes": None})
    scenario = sc.model_copy(update={"population": population, "portfolio": sc.portfolio.model_copy(update={"method": model})})
    p = portfolio_params(scenario)
    assert p is not None
    samples: list[tuple[int, ...]] = []
    window, horizon = p.es_window, p.es_horizon
    if model == "es":  # the book's history is the window: a sample a minute, returns over its horizon
        h = book.history
        if h is None:
            raise ConfigError(f"{book.path}: model es needs a [history] table (its files are the window)")
        samples = window_samples(book, history_bars(book) if history is None else history)
        horizon = h.horizon_minutes
        window = len(samples) - horizon
        if window < p.es_tail:
            raise DataError(f"{book.path}: history.files give {max(window, 0)} returns over {horizon} minutes, "
                            f"fewer than es_tail {p.es_tail}")  # fmt: skip
    bus.emit(ev.PortfolioMarginConfigured(
        ts_ns=0, method=model, scan_range_ppm=tuple(m.scan_range_ppm for m in book.params.markets),
        inter_commodity_credit_ppm=p.inter_commodity_credit_ppm, extreme_multiple=p.extreme_multiple,
        extreme_cover_pct=p.extreme_cover_pct, es_window=window, es_horizon=horizon, es_tail=p.es_tail,
    ))  # fmt: skip
    for config in (p.grid, p.span):
        if config is not None:
            bus.emit(config)
    if model == "es":
        es = EsParams(to_ppm(sc.portfolio.es.ewma_lambda, "ewma_lambda"), round(sc.portfolio.es.time_step_s * 1e9), (), 1)
        bus.emit(stress_event(es, {}))
        for prices in samples:
            bus.emit(ev.ReturnWindowSampled(ts_ns=0, prices_ticks=prices))


def window_samples(book: Book, bars: dict[int, Bars]) -> list[tuple[int, ...]]:
    """Return every market's price at each minute the history's bars share: the es model's return window.

    A market with bars of its own takes their closes; one whose underlying has bars, the
    underlying's closes times its book price over the underlying's (a future keeps its
    basis); any other market, its book price (an option moves with its underlying in the
    tables, not with its own column).
    """
    markets = sorted(bars)
    shared = bars[markets[0]].open_ms
    for m in markets[1:]:
        shared = np.intersect1d(shared, bars[m].open_ms)
    closes = {m: bars[m].close[np.searchsorted(bars[m].open_ms, shared)] for m in markets}
    columns = []
    for market, price in enumerate(book.prices_ticks):
        u = underlying_index(book.params, market)
        contract = book.params.markets[market].contract
        if market in closes:
            columns.append(closes[market])
        elif u in closes and contract is not None and contract.instrument != "option":
            columns.append(np.maximum(1, (closes[u] * price) // max(book.prices_ticks[u], 1)))
        else:
            columns.append(np.full(shared.size, price, np.int64))
    return [tuple(row) for row in np.column_stack(columns).tolist()]


def _surfaces(bus: EventBus, book: Book) -> None:
    # Per underlying with live options (expiries after the book's time): the book's surface, else a flat one at its vol.
    params, t = book.params, book.at_ns
    expiries: dict[int, set[int]] = {}
    for market, m in enumerate(params.markets):
        k = m.contract
        if k is not None and k.instrument == "option" and k.expiry_ns > t:
            expiries.setdefault(underlying_index(params, market), set()).add(k.expiry_ns)
    grid = moneyness_grid_ppm(-2_000_000, 2_000_000, 500_000)
    for u, dates in sorted(expiries.items()):
        written = book.surfaces.get(u)
        if written is not None:  # the book's own surface (its smile and term structure)
            bus.emit(ev.VolatilitySurfaceUpdated(ts_ns=t, underlying=u, expiries_ns=written.expiries_ns,
                                                 log_moneyness_ppm=written.log_moneyness_ppm, vol_ppm=written.vol_ppm,
                                                 source="book"))  # fmt: skip
            continue
        vol = round(book.vols[u] * PPM)
        bus.emit(ev.VolatilitySurfaceUpdated(ts_ns=t, underlying=u, expiries_ns=tuple(sorted(dates)), log_moneyness_ppm=grid,
                                             vol_ppm=tuple((vol,) * len(grid) for _ in dates), source="book"))  # fmt: skip


def engine_requirement(
    book: Book, model: str, positions: tuple[int, ...] | None = None, history: dict[int, Bars] | None = None
) -> EngineResult:
    """Return the book's maintenance and initial requirement under an engine model (`ENGINE_MODELS`)."""
    return requirement_of(book, model, book_state(book, model, positions, history))


def requirement_of(book: Book, model: str, b: BookState) -> EngineResult:
    """Return the requirement of the book held in `b` (`book_state`) under `model`."""
    s, rows = b.state, b.rows
    equity, maintenance = account_risk(s, rows)
    if model in ("isolated", "cross"):
        initial = _rate_initial(book, s, rows)
        worst = ""
    else:
        level = _CALL_LEVEL_PPM
        initial = int(initial_requirements(s, rows, maintenance, level).sum())
        worst = worst_scenario(s, rows) if tables_ready(s) else ""
    return EngineResult(model, int(maintenance.sum()), initial, int(equity.sum()), worst)


def _rate_initial(book: Book, s: ClearingState, rows: np.ndarray) -> int:
    # Each linear position's value times its initial rate (or its maintenance rate), with the size premium;
    # each short option's initial margin by the standard rule (`option_requirements`); a long option needs none.
    total = 0
    terms = {t.market: t for t in option_terms(s)}
    for row in rows.tolist():
        for market in np.flatnonzero(s.position[row]).tolist():
            lots = int(s.position[row, market])
            t = terms.get(market)
            if t is not None:
                if lots < 0:
                    initial, _maintenance = option_requirements(
                        np.array([lots]), np.array(t.is_call), np.array(t.strike_ticks, np.int64),
                        s.mark_ticks[t.underlying : t.underlying + 1], s.mark_ticks[market : market + 1],
                        np.array(t.underlying_unit_value, np.int64), s.unit_value[market : market + 1],
                    )  # fmt: skip
                    total += int(initial[0])
                continue
            entry = book.params.markets[market].terms
            maintenance = int(s.maintenance_margin_ppm[market])
            rate = int(
                initial_margin_ppm(
                    entry.initial_margin_ppm or maintenance, np.array([lots]), 0, entry.size_premium_ppm, 0, 0,
                    entry.risk_limit_lots, maintenance,
                )[0]
            )  # fmt: skip
            value = abs(value_of(s, market, lots, int(s.mark_ticks[market])))
            total += int(mul_div_ceil(value, rate, PPM))
    return total


def worst_scenario(s: ClearingState, rows: np.ndarray) -> str:
    """Return the scenario in which the book loses most under the state's scenario tables, described."""
    tables = scenario_tables(s)
    joint: np.ndarray | None = None
    for _u, table in sorted(tables.items()):
        pnl = s.position[rows][:, table.markets].astype(np.float64) @ table.pnl
        joint = pnl.sum(axis=0) if joint is None else joint + pnl.sum(axis=0)
    if joint is None or not joint.size:
        return ""
    j = int(np.argmin(joint))
    rule = table_rule(s)
    method = s.table_method
    if method == "es":
        block = "window" if j < rule.split else "stress"
        return f"{block} row {j if j < rule.split else j - rule.split} (of the joint returns)"
    vol = {1.0: "vol up", -1.0: "vol down", 0.0: "vol unchanged"}
    if method == "grid":
        assert s.grid is not None
        g = grid_scenarios(s.grid)
        return f"scenario {j + 1} of {joint.size}: price {g.moves[j]:+.1%}, {vol[float(g.vol_dirs[j])]}"
    config = s.portfolio_config
    assert config is not None
    t = span.scenarios(config.extreme_multiple, config.extreme_cover_pct / 100)
    return f"scenario {j + 1} of {joint.size}: price {t.moves[j]:+.2f} scan ranges, {vol[float(t.vol[j])]}"
