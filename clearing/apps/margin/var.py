"""Value at risk and expected shortfall of a book by historical simulation and Monte Carlo, with risk attribution.

Both models revalue each position under joint scenarios of its underlying's return r (each
row moves every underlying together): a linear position by value x r, an option by Black-76
at F x (1 + r) with its volatility and time held, less its value now
(`clearing.core.portfolio.es.scenario_pnl`'s rule, per position). Historical: the joint
returns of the book's `[history]` bar files over `horizon_minutes`
(`clearing.core.portfolio.es.joint_returns_ppm`). Monte Carlo: normal log-returns with the
`[monte_carlo]` vols (annualised) and correlation over its horizon, r = exp(sigma sqrt(h) z -
sigma^2 h / 2) - 1, z = L x with L L' = the correlation (its eigen-decomposition, so a
semi-definite matrix works), drawn from a seeded generator.

With the losses L_s = -(portfolio P/L in scenario s) and k = max(1, ceil((1 - alpha) x S)):
VaR = the k-th largest loss, ES = the mean of the k largest (LCH's 6 of 2,500 is alpha =
0.9976). Attribution (Euler, from the scenario P/L, no revaluation per position): a position's
ES component is its mean loss over those k scenarios and its VaR component its loss in the
k-th, so the components sum to ES and to VaR exactly; its incremental contribution is the
measure less the measure of the book without it. Sources: docs/references.md [lch-pairs],
[riskmetrics-1996], [tasche-euler].
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from clearing.apps.margin.book import Book, MonteCarloConfig, underlying_index
from clearing.core.options.pricing import black76_price, greeks
from clearing.core.paths import Bars
from clearing.core.portfolio.es import joint_returns_ppm
from clearing.data import tapes
from clearing.data.directory import resolve_data_file
from clearing.errors import ConfigError, DataError
from clearing.units import Float64Array

MINUTES_PER_YEAR = 365 * 24 * 60


class Leg(NamedTuple):
    """One held position, for revaluation: its market, underlying, lots, and how it moves."""

    market: int
    underlying: int
    lots: int
    lot_value: float  # a linear lot's quote value now (minor units); 0 for an option
    option: tuple[float, float, bool, float, int, float] | None  # (forward ticks, strike ticks, call, vol, tau ns, unit)


def legs(book: Book) -> list[Leg]:
    """Return the book's held positions as `Leg`s, in market order."""
    out = []
    p = book.params
    for market in book.held():
        m, u = p.markets[market], underlying_index(p, market)
        k = m.contract
        if k is not None and k.instrument == "option":
            tick = Decimal(p.markets[u].tick_size)
            unit = float(Decimal(m.lot_size) * tick * 10**m.quote_decimals)
            strike = float(Decimal(k.strike) / tick)
            tau = max(k.expiry_ns - book.at_ns, 0)
            option = (float(book.prices_ticks[u]), strike, k.option_type == "call", book.vols[market], tau, unit)
            out.append(Leg(market, u, book.lots[market], 0.0, option))
        else:
            out.append(Leg(market, u, book.lots[market], float(book.prices_ticks[market] * m.unit_value), None))
    return out


def position_pnl(book: Book, returns: dict[int, Float64Array]) -> Float64Array:
    """Return each position's P/L (quote minor units, gain positive) in each scenario, shape (S, P).

    `returns`: per underlying market, its return in each scenario (S,); an underlying the book
    holds something on must be there.
    """
    held = legs(book)
    size = len(next(iter(returns.values()))) if returns else 0
    out = np.zeros((size, len(held)))
    for i, leg in enumerate(held):
        r = returns[leg.underlying]
        if leg.option is None:
            out[:, i] = leg.lots * leg.lot_value * r
        else:
            f, strike, call, vol, tau, unit = leg.option
            now = float(black76_price(f, strike, vol, tau, call))
            later = black76_price(np.maximum(f * (1.0 + r), 1e-12), strike, vol, tau, call)
            out[:, i] = leg.lots * unit * (later - now)
    return out


def needed_underlyings(book: Book) -> list[int]:
    """Return the underlyings of the book's positions, ascending."""
    return sorted({leg.underlying for leg in legs(book)})


def history_bars(book: Book) -> dict[int, Bars]:
    """Return the bars of the book's `[history]` files per market (each market's files joined in time).

    Raises:
        ConfigError: no `[history]`, a symbol not in the scenario, or an underlying the book holds without files.
        DataError: a file missing from the data directory or malformed.
    """
    h = book.history
    if h is None:
        raise ConfigError(f"{book.path}: historical VaR and ES need a [history] table")
    index = {s: i for i, s in enumerate(book.symbols)}
    by_market: dict[int, tuple[str, ...]] = {}
    for symbol, files in h.files.items():
        if symbol not in index:
            raise ConfigError(f"{book.path}: history.files: {symbol!r} is not a market of the scenario")
        by_market[index[symbol]] = files
    missing = [book.symbols[u] for u in needed_underlyings(book) if u not in by_market]
    if missing:
        raise ConfigError(f"{book.path}: history.files: no file for {', '.join(missing)}, which the book holds")
    out = {}
    for market, names in sorted(by_market.items()):
        tick = Decimal(book.params.markets[market].tick_size)
        out[market] = tapes.concat_bars([tapes.read_bars(resolve_data_file(n, book.data_dir), tick) for n in names], list(names))
        if out[market].interval_ms != 60_000:
            raise DataError(f"{book.path}: history.files: {', '.join(names)}: bars of {out[market].interval_ms // 1000} s, "
                            "expected 1-minute bars")  # fmt: skip
    return out


def historical_returns(book: Book, bars: dict[int, Bars], horizon_minutes: int | None = None) -> dict[int, Float64Array]:
    """Return the joint returns of the history's `bars` per underlying (`joint_returns_ppm`, as fractions).

    Raises:
        DataError: the files share no return over the horizon.
    """
    assert book.history is not None
    horizon = horizon_minutes or book.history.horizon_minutes
    markets = sorted(bars)
    joint = joint_returns_ppm([bars[m].open_ms for m in markets], [bars[m].close for m in markets], horizon * 60_000)
    if not joint.shape[0]:
        raise DataError(f"{book.path}: history.files share no return over {horizon} minutes")
    return {m: joint[:, j] / 1e6 for j, m in enumerate(markets)}


def monte_carlo_returns(book: Book, seed: int = 0, paths: int | None = None) -> dict[int, Float64Array]:
    """Return Monte Carlo returns per underlying: correlated normal log-returns over the horizon, from `seed`.

    Raises:
        ConfigError: no `[monte_carlo]`, an unknown symbol, or an underlying the book holds that it leaves out.
    """
    mc = _monte_carlo(book)
    logs = log_returns(book, np.random.default_rng(seed), (paths or mc.paths,), mc.horizon_minutes)
    return {m: np.expm1(r) for m, r in logs.items()}


def log_returns(book: Book, rng: np.random.Generator, shape: tuple[int, ...], minutes: int) -> dict[int, Float64Array]:
    """Return the `[monte_carlo]` model's log-returns over `minutes` per underlying, each of `shape`, drawn from `rng`.

    sigma sqrt(h) z - sigma^2 h / 2 with z = L x, L L' = the correlation (its eigen-decomposition).

    Raises:
        ConfigError: no `[monte_carlo]`, an unknown symbol, or an underlying the book holds that it leaves out.
    """
    mc = _monte_carlo(book)
    index = {s: i for i, s in enumerate(book.symbols)}
    values, vectors = np.linalg.eigh(np.array(mc.correlation, np.float64))
    root = vectors * np.sqrt(np.maximum(values, 0.0))
    z = rng.standard_normal((*shape, len(mc.underlyings))) @ root.T
    h = minutes / MINUTES_PER_YEAR
    sigma = np.array(mc.vols)
    r = sigma * math.sqrt(h) * z - 0.5 * sigma * sigma * h
    return {index[s]: r[..., j] for j, s in enumerate(mc.underlyings)}


def _monte_carlo(book: Book) -> MonteCarloConfig:
    # The book's [monte_carlo], checked against its scenario and its positions.
    mc = book.monte_carlo
    if mc is None:
        raise ConfigError(f"{book.path}: Monte Carlo needs a [monte_carlo] table")
    index = {s: i for i, s in enumerate(book.symbols)}
    unknown = [s for s in mc.underlyings if s not in index]
    if unknown:
        raise ConfigError(f"{book.path}: monte_carlo.underlyings: {unknown[0]!r} is not a market of the scenario")
    markets = [index[s] for s in mc.underlyings]
    missing = [book.symbols[u] for u in needed_underlyings(book) if u not in markets]
    if missing:
        raise ConfigError(f"{book.path}: monte_carlo.underlyings: {', '.join(missing)} missing, which the book holds")
    return mc


class TailMeasure(NamedTuple):
    """VaR and ES of a book under a set of scenarios, with each position's Euler and incremental contributions."""

    confidence: float
    scenarios: int
    tail: int  # k: the scenarios ES averages
    var: float  # quote minor units (a loss, positive)
    es: float
    worst: int  # the scenario of the largest loss
    var_components: Float64Array  # (P,) sums to `var`
    es_components: Float64Array  # (P,) sums to `es`
    var_incremental: Float64Array  # (P,) var - var without the position
    es_incremental: Float64Array


def tail_measure(pnl: npt.ArrayLike, confidence: float) -> TailMeasure:
    """Return VaR, ES and their attribution of per-position scenario P/L (S, P) at `confidence`.

    Raises:
        ValueError: no scenario, or a confidence outside (0, 1).
    """
    pnl = np.atleast_2d(np.asarray(pnl, np.float64))
    s = pnl.shape[0]
    if s == 0 or not 0 < confidence < 1:
        raise ValueError(f"expected scenarios and a confidence in (0, 1), was {s}, {confidence}")
    k = max(1, math.ceil(round((1.0 - confidence) * s, 9)))
    losses = -pnl.sum(axis=1)
    order = np.argsort(-losses, kind="stable")
    tail = order[:k]
    var, es = float(losses[order[k - 1]]), float(losses[tail].mean())
    var_components = -pnl[order[k - 1]]
    es_components = -pnl[tail].mean(axis=0)
    var_without = np.empty(pnl.shape[1])
    es_without = np.empty(pnl.shape[1])
    for i in range(pnl.shape[1]):  # the k largest losses without position i: a partition, not a sort
        rest = losses + pnl[:, i]
        top = rest[np.argpartition(rest, s - k)[s - k :]]
        var_without[i], es_without[i] = top.min(), top.mean()
    return TailMeasure(confidence, s, k, var, es, int(order[0]), var_components, es_components, var - var_without,
                       es - es_without)  # fmt: skip


class UnderlyingGreeks(NamedTuple):
    """The book's Greeks on one underlying: delta and gamma in its base units, vega and theta in quote."""

    symbol: str
    delta: float  # underlying units (coins): d value / d price x price unit
    gamma_1pct: float  # change of delta for a 1 % rise, underlying units
    vega_point: float  # quote per 1 volatility point
    theta_day: float  # quote per calendar day


def book_greeks(book: Book) -> list[UnderlyingGreeks]:
    """Return the book's Greeks by underlying (linear positions: delta only)."""
    p = book.params
    out: dict[int, list[float]] = {}
    scale = 10.0 ** -p.markets[0].quote_decimals
    for leg in legs(book):
        g = out.setdefault(leg.underlying, [0.0, 0.0, 0.0, 0.0])
        m = p.markets[leg.market]
        base = float(Decimal(m.lot_size))
        if leg.option is None:
            g[0] += leg.lots * base
            continue
        f, strike, call, vol, tau, unit = leg.option
        x = greeks(f, strike, vol, tau, call)
        g[0] += leg.lots * base * float(x.delta)
        g[1] += leg.lots * base * float(x.gamma) * f * 0.01
        g[2] += leg.lots * unit * float(x.vega) / 100 * scale
        g[3] += leg.lots * unit * float(x.theta) / 365 * scale  # theta is -dV/dT: the value's change as time passes
    return [UnderlyingGreeks(p.markets[u].symbol, *v) for u, v in sorted(out.items())]
