"""Time to liquidation and equity depletion of a book along a stress path, under each engine margin model.

A stress path moves each underlying by a factor per minute: from the data directory's
1-minute bars from a UTC time (each close over the close at the start), or a scripted shock
(a straight fall or rise of `change` over `minutes`, every named underlying alike), or many
Monte Carlo paths (`monte_carlo_path`: the book's `[monte_carlo]` model minute by minute, whose
`distribution` is reported). Along a path
the book's account in each model's state is marked minute by minute (a linear market at its
price times its underlying's factor; an option at its Black-76 value there, its volatility
held and its time to expiry running down) and margined by the engine (`account_risk`); the
time to liquidation is the first minute its equity is below its requirement. Depletion: the
equity lost per minute up to then (or the path's end), and per 1 % of the largest move of an
underlying by then. Only the markets the book holds and their underlyings are marked.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import NamedTuple

import numpy as np

from clearing import events as ev
from clearing.apps.margin.book import Book, option_tick_ratio, underlying_index
from clearing.apps.margin.engine import book_state
from clearing.apps.margin.var import log_returns
from clearing.core.options.pricing import black76_price
from clearing.core.risk import account_risk
from clearing.core.state import apply
from clearing.core.valuation import market_values, valuation_prices
from clearing.data import tapes
from clearing.data.directory import resolve_data_file
from clearing.errors import ConfigError, DataError

NS_PER_MINUTE = 60 * 10**9


class StressPath(NamedTuple):
    """Each moved underlying's price factor at minutes 0..T (factor 1 at 0), and what made it."""

    factors: dict[int, np.ndarray]  # underlying market -> (T + 1,)
    source: str


def tape_path(book: Book, files: dict[str, str], start: datetime, minutes: int) -> StressPath:
    """Return the path of the named underlyings' 1-minute closes from `start`, each over its close at `start`.

    A minute without a bar (a quiet minute of a spot tape) keeps the last close before it.

    Raises:
        ConfigError: a symbol that is not an underlying of the book's scenario.
        DataError: a missing file, or one without bars within an hour of the path's start and end.
    """
    index = {s: i for i, s in enumerate(book.symbols)}
    start_ms = int(start.timestamp() * 1000)
    factors = {}
    for symbol, name in files.items():
        market = index.get(symbol)
        if market is None or underlying_index(book.params, market) != market:
            raise ConfigError(f"{book.path}: stress.files: {symbol!r} is not an underlying of the scenario")
        bars = tapes.read_bars(resolve_data_file(name, book.data_dir), Decimal(book.params.markets[market].tick_size))
        times = start_ms + 60_000 * np.arange(minutes + 1)
        at = np.searchsorted(bars.open_ms, times, side="right") - 1  # the last bar at or before each minute
        if at[0] < 0 or start_ms - int(bars.open_ms[at[0]]) >= 3_600_000 or int(bars.open_ms[-1]) < int(times[-1]) - 3_600_000:
            raise DataError(f"{name}: no bars from {start.isoformat()} for {minutes} minutes")
        closes = bars.close[at].astype(np.float64)
        factors[market] = closes / closes[0]
    return StressPath(factors, ", ".join(f"{s} {n}" for s, n in files.items()) + f" from {start.isoformat()}")


def shock_path(book: Book, symbols: tuple[str, ...], change: float, minutes: int) -> StressPath:
    """Return a straight move of `change` (e.g. -0.2) over `minutes` of each named underlying."""
    index = {s: i for i, s in enumerate(book.symbols)}
    factors = {}
    for symbol in symbols:
        market = index.get(symbol)
        if market is None or underlying_index(book.params, market) != market:
            raise ConfigError(f"{book.path}: stress.underlyings: {symbol!r} is not an underlying of the scenario")
        factors[market] = 1.0 + change * np.arange(minutes + 1) / minutes
    return StressPath(factors, f"{change:+.1%} over {minutes} minutes on {', '.join(symbols)}")


class Depletion(NamedTuple):
    """One model along the path: when it liquidates, the equity path, and how fast equity went."""

    model: str
    minute: int | None  # the first minute equity < requirement (None: never on the path)
    equity: np.ndarray  # quote minor units, per minute until the liquidation or the end
    requirement: np.ndarray
    per_minute: float  # equity lost per minute up to the liquidation or the end
    per_percent: float  # equity lost per 1 % of the largest underlying move by then


def path_prices(book: Book, path: StressPath) -> dict[int, np.ndarray]:
    """Return the price (ticks) at each minute of `path` of every market the book holds and of their underlyings.

    A linear market moves by its underlying's factor; an option is Black-76 at its underlying's
    moved price with its volatility held and its time to expiry running down. The factors may
    carry leading axes (Monte Carlo paths): each price array has their shape.
    """
    p = book.params
    held = book.held()
    markets = sorted(set(held) | {underlying_index(p, m) for m in held})
    size = next(iter(path.factors.values())).shape
    minutes = np.arange(size[-1], dtype=np.int64)
    out = {}
    for market in markets:
        u = underlying_index(p, market)
        factor = path.factors[u] if u in path.factors else np.ones(size)
        k = p.markets[market].contract
        if k is None or k.instrument != "option":
            out[market] = np.maximum(1, np.rint(book.prices_ticks[market] * factor)).astype(np.int64)
            continue
        forward = book.prices_ticks[u] * factor
        strike = float(Decimal(k.strike) / Decimal(p.markets[u].tick_size))
        tau = np.maximum(k.expiry_ns - book.at_ns - minutes * NS_PER_MINUTE, 0)
        value = black76_price(forward, strike, book.vols[market], tau, k.option_type == "call")
        out[market] = np.maximum(1, np.floor(value / float(option_tick_ratio(p, market)) + 0.5)).astype(np.int64)
    return out


def isolated_cash(book: Book) -> tuple[int, ...]:
    """Return the book's cash shared among its isolated sub-accounts: each first its long options' value (the premium
    it paid, so a long option is never liquidated), the rest in proportion to their maintenance (largest remainder).
    """
    b = book_state(book, "isolated", cash=())
    s = b.state
    need = [int(x) for x in account_risk(s, b.rows)[1]]
    values = market_values(s, s.position[b.rows], valuation_prices(s))
    options = [m for m in range(s.n_markets) if m in s.contracts and s.contracts[m].instrument == "option"]
    premium = [int(np.maximum(values[i, options], 0).sum()) if options else 0 for i in range(len(need))]
    floor = premium if sum(premium) <= book.cash_minor else [0] * len(need)
    return tuple(f + x for f, x in zip(floor, _largest_remainder(book.cash_minor - sum(floor), need), strict=True))


def _largest_remainder(amount: int, weights: list[int]) -> list[int]:
    # `amount` shared in proportion to `weights` (equally when they are all 0), the remainder to the largest fractions.
    total = sum(weights)
    if not total:
        weights, total = [1] * len(weights), len(weights)
    shares = [amount * w // total for w in weights]
    by_remainder = sorted(range(len(weights)), key=lambda i: (-(amount * weights[i] % total), i))
    for i in by_remainder[: amount - sum(shares)]:
        shares[i] += 1
    return shares


def depletion(book: Book, path: StressPath, model: str) -> Depletion:
    """Return the book's equity and requirement along `path` under `model` (an engine model), and its liquidation minute.

    Isolated: the cash is shared among the sub-accounts (`isolated_cash`: long options' premium
    first, the rest in proportion to maintenance), and the book is liquidated when the first
    sub-account is.
    """
    return _walk(book, model, path_prices(book, path), path.factors)


def _walk(book: Book, model: str, prices: dict[int, np.ndarray], factors: dict[int, np.ndarray]) -> Depletion:
    # Mark the book's state minute by minute at `prices` (per market, (T + 1,)) until it is liquidated or the path ends.
    b = book_state(book, model, cash=isolated_cash(book) if model == "isolated" else None)
    s, rows = b.state, b.rows
    minutes = len(next(iter(factors.values()))) - 1
    equity, requirement = [], []
    liquidated = None
    for minute in range(minutes + 1):
        if minute:
            t = book.at_ns + minute * NS_PER_MINUTE
            for market, series in prices.items():
                price = int(series[minute])
                apply(s, ev.MarkPriceUpdated(ts_ns=t, market=market, price_ticks=price, index_ticks=price, method="stress"))
        e, r = account_risk(s, rows)
        equity.append(int(e.sum()))
        requirement.append(int(r.sum()))
        if (model == "isolated" and (e < r).any()) or (model != "isolated" and equity[-1] < requirement[-1]):
            liquidated = minute
            break
    end = len(equity) - 1
    lost = equity[0] - equity[-1]
    move = max((abs(float(f[end]) - 1.0) for f in factors.values()), default=0.0)
    return Depletion(model, liquidated, np.array(equity), np.array(requirement), lost / end if end else 0.0,
                     lost / (move * 100) if move else 0.0)  # fmt: skip


def monte_carlo_path(book: Book, paths: int, minutes: int, seed: int) -> StressPath:
    """Return `paths` Monte Carlo paths of `minutes` minutes: the `[monte_carlo]` model's correlated log-returns minute
    by minute, from `seed` (factors of shape (paths, minutes + 1), 1 at minute 0).

    Raises:
        ConfigError: no `[monte_carlo]`, or one that leaves out an underlying the book holds.
    """
    steps = log_returns(book, np.random.default_rng(seed), (paths, minutes), 1)
    factors = {u: np.exp(np.concatenate([np.zeros((paths, 1)), np.cumsum(r, axis=1)], axis=1)) for u, r in steps.items()}
    return StressPath(factors, f"{paths} Monte Carlo paths of {minutes} minutes (seed {seed})")


class Distribution(NamedTuple):
    """One model over Monte Carlo paths: each path's liquidation minute (-1: never) and its depletion speeds."""

    model: str
    minutes: int
    liquidated_at: np.ndarray  # (P,) int
    per_minute: np.ndarray  # (P,) equity lost per minute up to the liquidation or the end
    per_percent: np.ndarray  # (P,)

    def liquidated_by(self) -> np.ndarray:
        """Return the share of paths liquidated by each minute 0..T (cumulative)."""
        hit = self.liquidated_at[self.liquidated_at >= 0]
        return np.cumsum(np.bincount(hit, minlength=self.minutes + 1)) / len(self.liquidated_at)

    def quantile(self, q: float) -> int | None:
        """Return the q-quantile of the time to liquidation (None: beyond the path, fewer than q of the paths liquidated)."""
        by = self.liquidated_by()
        reached = np.flatnonzero(by >= q - 1e-12)
        return int(reached[0]) if reached.size else None


def distribution(book: Book, path: StressPath, model: str) -> Distribution:
    """Return the time to liquidation and depletion of the book under `model` along each of the Monte Carlo `path`s."""
    prices = path_prices(book, path)
    count, width = next(iter(path.factors.values())).shape
    at, per_minute, per_percent = np.full(count, -1), np.zeros(count), np.zeros(count)
    for i in range(count):
        d = _walk(book, model, {m: a[i] for m, a in prices.items()}, {u: f[i] for u, f in path.factors.items()})
        at[i] = -1 if d.minute is None else d.minute
        per_minute[i], per_percent[i] = d.per_minute, d.per_percent
    return Distribution(model, width - 1, at, per_minute, per_percent)
