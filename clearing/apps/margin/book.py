"""A portfolio to analyse (`clearing margin`): its file, its validation, and the book in run units.

A book file (TOML) names a scenario (the markets, the venue's rules and the portfolio-margin
parameters come from it, so the analysis margins with the engine's own functions), the
positions (in the file, or a CSV of `symbol,quantity` rows), the collateral, the prices
(the scenario's initial prices, written ones, or a data-directory tape's at a UTC time),
implied volatilities per underlying, and the inputs of the historical and Monte Carlo
models. Errors are one line naming the file and the field or the CSV row.
"""

from __future__ import annotations

import csv
import itertools
import math
import tomllib
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, NamedTuple

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from clearing.core.options.pricing import black76_price
from clearing.core.options.surface import VolSurface, implied_vol
from clearing.data import tapes
from clearing.data.directory import resolve_data_file
from clearing.errors import ConfigError, DataError
from clearing.scenario import Scenario, load_scenario
from clearing.scenario.loading import PRESETS, preset_names, read_input
from clearing.scenario.overrides import format_error
from clearing.scenario.params import RunParams, compile_params
from clearing.units import to_units

NS_PER_S = 1_000_000_000


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PositionRow(_Section):
    """One position: a listed market's symbol and a signed quantity in its base units (a whole number of lots)."""

    symbol: str = Field(min_length=1)
    quantity: Decimal


class CollateralRow(_Section):
    """An amount of one of the scenario's collateral assets (valued at its price less its haircut)."""

    asset: str
    amount: Annotated[Decimal, Field(ge=0)]


class TapePrice(_Section):
    """A market's price from a 1-minute bar file of the data directory: the close of the bar open at or before `at`."""

    file: str
    at: datetime

    @field_validator("at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("expected a UTC time with its zone, e.g. 2025-10-10T21:15:00Z")
        return value.astimezone(UTC)


class SurfaceConfig(_Section):
    """An underlying's implied-volatility surface: written on a grid, or fitted to an option-chain file at a time.

    Written: vols on a grid of expiries (days from the book's time) x log-moneyness k = ln(K / F).
    From a chain: the OKX chain file's level-and-skew fit at the minute at or before `at` (default
    the book's time; `clearing.data.option_chain.load_okx_surfaces`). Interpolated as the engine
    interpolates (`clearing.core.options.surface.implied_vol`): linear in k along each expiry's
    smile, flat beyond the wings, linear in total variance between expiries.
    """

    expiry_days: tuple[Annotated[float, Field(gt=0)], ...] = ()
    log_moneyness: tuple[float, ...] = ()
    vols: tuple[tuple[Annotated[float, Field(gt=0, le=20)], ...], ...] = ()
    chain: str = ""
    at: datetime | None = None

    @model_validator(mode="after")
    def _grid(self) -> SurfaceConfig:
        if bool(self.chain) == bool(self.expiry_days or self.log_moneyness or self.vols):
            raise ValueError("give either expiry_days, log_moneyness and vols (a written surface) or chain (a file)")
        if self.at is not None and self.at.tzinfo is None:
            raise ValueError("at: expected a UTC time with its zone, e.g. 2025-10-10T20:00:00Z")
        if self.chain:
            return self
        if not self.expiry_days or not self.log_moneyness:
            raise ValueError("a written surface needs expiry_days, log_moneyness and vols")
        for name, axis in (("expiry_days", self.expiry_days), ("log_moneyness", self.log_moneyness)):
            if any(b <= a for a, b in itertools.pairwise(axis)):
                raise ValueError(f"{name} must be strictly increasing")
        if len(self.vols) != len(self.expiry_days) or any(len(row) != len(self.log_moneyness) for row in self.vols):
            raise ValueError(f"expected {len(self.expiry_days)} rows of {len(self.log_moneyness)} vols "
                             "(one row per expiry, one vol per log-moneyness)")  # fmt: skip
        return self

    def surface(self, at_ns: int) -> VolSurface:
        """Return the written surface in the engine's integers, its expiries counted from `at_ns`."""
        return VolSurface(tuple(at_ns + round(d * 86_400 * NS_PER_S) for d in self.expiry_days),
                          tuple(round(k * 1_000_000) for k in self.log_moneyness),
                          tuple(tuple(round(v * 1_000_000) for v in row) for row in self.vols))  # fmt: skip


class HistoryConfig(_Section):
    """Historical simulation: each underlying's 1-minute bar files, joined on their times; returns over `horizon_minutes`."""

    files: dict[str, tuple[str, ...]]
    horizon_minutes: int = Field(default=1, ge=1, le=10_080)


class MonteCarloConfig(_Section):
    """Monte Carlo: joint normal log-returns of the `underlyings` with annualised `vols` and a `correlation` matrix."""

    underlyings: tuple[str, ...] = Field(min_length=1)
    vols: tuple[Annotated[float, Field(gt=0, le=20)], ...]
    correlation: tuple[tuple[float, ...], ...]
    paths: int = Field(default=100_000, ge=100, le=10_000_000)
    horizon_minutes: int = Field(default=1440, ge=1, le=525_600)

    @model_validator(mode="after")
    def _shape(self) -> MonteCarloConfig:
        n = len(self.underlyings)
        if len(self.vols) != n or len(self.correlation) != n or any(len(row) != n for row in self.correlation):
            raise ValueError(f"expected {n} vols and a {n} x {n} correlation matrix, one per underlying")
        c = np.array(self.correlation)
        if not np.allclose(c, c.T) or not np.allclose(np.diag(c), 1) or (np.abs(c) > 1).any():
            raise ValueError("the correlation matrix must be symmetric with a unit diagonal and entries in [-1, 1]")
        if np.linalg.eigvalsh(c).min() < -1e-10:
            raise ValueError("the correlation matrix is not positive semi-definite")
        return self


class HedgeRow(_Section):
    """An instrument the optimisers may trade: up to `max_quantity` either way.

    A lot costs (spread + fee) x its underlying notional.
    """

    symbol: str
    max_quantity: Annotated[Decimal, Field(gt=0)]
    spread: Annotated[Decimal, Field(ge=0, le=1)] = Decimal(0)  # the half-spread paid, of the underlying notional
    fee: Annotated[Decimal, Field(ge=0, le=1)] = Decimal(0)


class RebalanceConfig(_Section):
    """Target Greeks per underlying (delta in its units, vega in quote per volatility point) and their tolerances."""

    delta: dict[str, float] = Field(default_factory=dict)
    vega: dict[str, float] = Field(default_factory=dict)
    delta_tolerance: float = Field(default=0.01, ge=0)
    vega_tolerance: float = Field(default=1.0, ge=0)

    @model_validator(mode="after")
    def _some(self) -> RebalanceConfig:
        if not self.delta and not self.vega:
            raise ValueError("name at least one delta or vega target")
        return self


class StressConfig(_Section):
    """A stress path (`clearing margin --stress`): the data directory's 1-minute bars from `start`, a scripted shock,
    or `paths` Monte Carlo paths of the book's `[monte_carlo]` model, minute by minute."""

    files: dict[str, str] = Field(default_factory=dict)  # underlying symbol -> 1-minute bar file
    start: datetime | None = None
    shock: float | None = Field(default=None, gt=-1, le=10)  # the move over `minutes`, e.g. -0.2
    underlyings: tuple[str, ...] = ()  # the shocked underlyings
    paths: int | None = Field(default=None, ge=10, le=100_000)  # Monte Carlo paths
    minutes: int = Field(default=60, ge=1, le=10_080)

    @model_validator(mode="after")
    def _one(self) -> StressConfig:
        if sum((bool(self.files), self.shock is not None, self.paths is not None)) != 1:
            raise ValueError("give one of: files and start (a tape path), shock and underlyings (a scripted one), "
                             "or paths (Monte Carlo paths of the book's [monte_carlo] model)")  # fmt: skip
        if self.files and self.start is None:
            raise ValueError("a tape path needs its start, a UTC time")
        if self.start is not None and self.start.tzinfo is None:
            raise ValueError("start: expected a UTC time with its zone, e.g. 2025-10-10T20:00:00Z")
        if self.shock is not None and not self.underlyings:
            raise ValueError("a shock needs the underlyings it moves")
        return self


class BookFile(_Section):
    """The book file as written (see docs/margin-analysis.md)."""

    name: str = Field(min_length=1, max_length=120)
    description: str = ""
    scenario: str
    set: tuple[str, ...] = ()
    at_s: float = Field(default=0, ge=0)
    cash: Annotated[Decimal, Field(ge=0)] = Decimal(0)
    positions: tuple[PositionRow, ...] = ()
    positions_csv: str = ""
    collateral: tuple[CollateralRow, ...] = ()
    prices: dict[str, Decimal] = Field(default_factory=dict)
    prices_from: dict[str, TapePrice] = Field(default_factory=dict)
    vols: dict[str, Annotated[float, Field(gt=0, le=20)]] = Field(default_factory=dict)
    default_vol: float = Field(default=0.6, gt=0, le=20)
    surfaces: dict[str, SurfaceConfig] = Field(default_factory=dict)
    history: HistoryConfig | None = None
    monte_carlo: MonteCarloConfig | None = None
    hedges: tuple[HedgeRow, ...] = ()
    rebalance: RebalanceConfig | None = None
    stress: StressConfig | None = None


class Book(NamedTuple):
    """A book in run units: the scenario's markets, each market's lots, prices and vols, the collateral."""

    name: str
    path: Path
    scenario: Scenario
    params: RunParams
    lots: tuple[int, ...]  # per market, signed
    prices_ticks: tuple[int, ...]  # per market (an option's in its own ticks)
    vols: tuple[float, ...]  # per market: an option's implied vol (its underlying's surface, else flat), else the flat vol
    at_ns: int
    cash_minor: int
    collateral: tuple[tuple[int, int], ...]  # (asset, amount in its minor units)
    history: HistoryConfig | None
    monte_carlo: MonteCarloConfig | None
    data_dir: str | Path | None
    hedges: tuple[HedgeRow, ...] = ()
    rebalance: RebalanceConfig | None = None
    stress: StressConfig | None = None
    surfaces: Mapping[int, VolSurface] = MappingProxyType({})  # per underlying market

    @property
    def symbols(self) -> list[str]:
        """Return the markets' symbols, in listing order."""
        return [m.symbol for m in self.params.markets]

    def held(self) -> list[int]:
        """Return the markets the book holds, ascending."""
        return [m for m, lots in enumerate(self.lots) if lots]


def load_book(path: Path | str, preset: str | None = None, data_dir: str | Path | None = None) -> Book:
    """Read and validate a book file; `preset` (e.g. "venue/binance-usdm") applies a venue's rules on top of its scenario.

    Raises:
        ConfigError: a missing or malformed file, an unknown symbol or asset, a quantity that is
            not a whole number of lots, a bad CSV row; named by file and field or row.
        DataError: a price tape missing from the data directory, or with no bar at the time.
    """
    path = Path(path)
    try:
        data = tomllib.loads(read_input(path, "book"))
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: invalid TOML: {e}") from None
    data.setdefault("name", path.stem)
    try:
        f = BookFile.model_validate(data)
    except ValidationError as e:
        raise ConfigError(format_error(str(path), e)) from None
    scenario = _scenario(path, f, preset)
    params = compile_params(scenario)
    index = {m.symbol: i for i, m in enumerate(params.markets)}
    rows = [(f"positions.{i}", p.symbol, p.quantity) for i, p in enumerate(f.positions)]
    if f.positions_csv:
        rows += _csv_rows(path.parent / f.positions_csv)
    lots = [0] * len(params.markets)
    for where, symbol, quantity in rows:
        market = index.get(symbol)
        if market is None:
            raise ConfigError(f"{path}: {where}: {symbol!r} is not a market of {f.scenario} ({', '.join(index)})")
        m = params.markets[market]
        if m.contract is not None and m.contract.instrument == "inverse_perpetual":
            raise ConfigError(f"{path}: {where}: {symbol} is an inverse perpetual; clearing margin takes linear markets")
        try:
            lots[market] += to_units(quantity, Decimal(m.lot_size), f"{where}: quantity")
        except ValueError as e:
            raise ConfigError(f"{path}: {e} ({symbol}'s lot size)") from None
    if not any(lots):
        raise ConfigError(f"{path}: the book holds no position (positions or positions_csv)")
    at_ns = round(f.at_s * NS_PER_S)
    prices = _prices(path, f, scenario, params, index, data_dir)
    surfaces = _surfaces(path, f, params, index, at_ns, round(scenario.epoch.timestamp()) * NS_PER_S, data_dir)
    vols = _vols(path, f, params, index, surfaces, prices, at_ns)
    prices = _option_prices(params, prices, vols, at_ns)
    assets = [c.asset for c in scenario.collateral]
    collateral = []
    for i, c in enumerate(f.collateral):
        if c.asset not in assets:
            raise ConfigError(f"{path}: collateral.{i}.asset: {c.asset!r} is not a collateral asset of {f.scenario}")
        asset = assets.index(c.asset)
        decimals = scenario.collateral[asset].decimals
        collateral.append((asset, _units(path, c.amount, Decimal(1).scaleb(-decimals), f"collateral.{i}.amount")))
    cash = _units(path, f.cash, scenario.market.minor_unit, "cash")
    return Book(f.name, path, scenario, params, tuple(lots), tuple(prices), tuple(vols), at_ns, cash, tuple(collateral),
                f.history, f.monte_carlo, data_dir, f.hedges, f.rebalance, f.stress, surfaces)  # fmt: skip


def _units(path: Path, amount: Decimal, unit: Decimal, what: str) -> int:
    try:
        return to_units(amount, unit, what)
    except ValueError as e:
        raise ConfigError(f"{path}: {e}") from None


def _scenario(path: Path, f: BookFile, preset: str | None) -> Scenario:
    # The book's scenario, its `set` overrides, and a venue preset on top of its own includes.
    file = path.parent / f.scenario
    overrides = list(f.set)
    if preset is not None:
        if not (PRESETS / f"{preset}.toml").is_file():
            raise ConfigError(f"--preset {preset!r}: no such preset ({', '.join(preset_names())})")
        try:
            own = tomllib.loads(file.read_text(encoding="utf-8")).get("include", [])
        except (OSError, tomllib.TOMLDecodeError):
            own = []  # load_scenario reports it
        own = [own] if isinstance(own, str) else list(own)
        own = [str((file.parent / n).resolve()) if n.endswith(".toml") else n for n in own]
        overrides.append("include=[" + ", ".join(f'"{n}"' for n in [*own, preset]) + "]")
    return load_scenario(file, overrides)


def _csv_rows(csv_path: Path) -> list[tuple[str, str, Decimal]]:
    # `symbol,quantity` rows (a header row is optional), each named by file and line.
    text = read_input(csv_path, "positions")
    out = []
    for line, row in enumerate(csv.reader(text.splitlines()), start=1):
        if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
            continue
        if line == 1 and [x.strip().lower() for x in row] == ["symbol", "quantity"]:
            continue
        if len(row) != 2:
            raise ConfigError(f"{csv_path}:{line}: expected 2 columns symbol,quantity, was {len(row)}")
        symbol, text_quantity = row[0].strip(), row[1].strip()
        try:
            quantity = Decimal(text_quantity)
        except InvalidOperation:
            raise ConfigError(f"{csv_path}:{line}: quantity {text_quantity!r} is not a number") from None
        if not quantity.is_finite():
            raise ConfigError(f"{csv_path}:{line}: quantity {text_quantity!r} is not a number")
        out.append((f"{csv_path.name}:{line}", symbol, quantity))
    return out


def _prices(
    path: Path, f: BookFile, scenario: Scenario, params: RunParams, index: dict[str, int], data_dir: str | Path | None
) -> list[int]:
    # Each linear market's price in ticks: written, from a tape, else the scenario's initial price (options: 0 here).
    out = []
    for (m, price), p in zip(scenario.listed(), params.markets, strict=True):
        out.append(0 if m.kind == "option" else _units(path, price.initial, m.tick_size, f"{m.symbol} initial price"))
        del p
    for symbol, value in f.prices.items():
        market = _market(path, index, symbol, "prices")
        if value <= 0:
            raise ConfigError(f"{path}: prices.{symbol}: expected a price > 0, was {value}")
        out[market] = _units(path, value, Decimal(params.markets[market].tick_size), f"prices.{symbol}")
    for symbol, tape in f.prices_from.items():
        market = _market(path, index, symbol, "prices_from")
        bars = tapes.read_bars(resolve_data_file(tape.file, data_dir), Decimal(params.markets[market].tick_size))
        at_ms = int(tape.at.timestamp() * 1000)
        i = int(np.searchsorted(bars.open_ms, at_ms, side="right")) - 1
        if i < 0 or at_ms - int(bars.open_ms[i]) >= 60_000 * 60:
            raise DataError(f"{tape.file}: no bar at or within an hour before {tape.at.isoformat()} (prices_from.{symbol})")
        out[market] = int(bars.close[i])
    return out


def _market(path: Path, index: dict[str, int], symbol: str, where: str) -> int:
    market = index.get(symbol)
    if market is None:
        raise ConfigError(f"{path}: {where}.{symbol}: not a market of the scenario ({', '.join(index)})")
    return market


def _surfaces(
    path: Path, f: BookFile, params: RunParams, index: dict[str, int], at_ns: int, epoch_ns: int,
    data_dir: str | Path | None,
) -> dict[int, VolSurface]:  # fmt: skip
    # Each surface in the engine's integers (expiries in ns since the scenario's epoch), keyed by its underlying market.
    out = {}
    for symbol, config in f.surfaces.items():
        market = _market(path, index, symbol, "surfaces")
        if underlying_index(params, market) != market:
            raise ConfigError(f"{path}: surfaces.{symbol}: not an underlying (a surface belongs to the market options are on)")
        try:
            out[market] = _chain_surface(config, at_ns, epoch_ns, data_dir) if config.chain else config.surface(at_ns)
        except ValueError as e:
            raise ConfigError(f"{path}: surfaces.{symbol}: {e}") from None
    return out


def _chain_surface(config: SurfaceConfig, at_ns: int, epoch_ns: int, data_dir: str | Path | None) -> VolSurface:
    # The chain's fitted surface at the minute at or before `at` (default the book's time), in scenario time.
    from clearing.data.option_chain import load_okx_surfaces

    when = epoch_ns + at_ns if config.at is None else round(config.at.timestamp()) * NS_PER_S
    minutes = load_okx_surfaces(config.chain, data_dir)
    before = [surface for minute, surface in minutes if minute <= when]
    stamp = datetime.fromtimestamp(when // NS_PER_S, UTC).isoformat()
    if not before or when - max(m for m, _ in minutes if m <= when) >= 3_600 * NS_PER_S:
        raise DataError(f"{config.chain}: no surface at or within an hour before {stamp}")
    s = before[-1]
    if s.expiries_ns[0] - epoch_ns <= at_ns:
        raise DataError(f"{config.chain}: the surface at {stamp} has an expiry at or before the book's time")
    return VolSurface(tuple(e - epoch_ns for e in s.expiries_ns), s.log_moneyness_ppm, s.vol_ppm)


def _vols(
    path: Path, f: BookFile, params: RunParams, index: dict[str, int], surfaces: dict[int, VolSurface], prices: list[int],
    at_ns: int,
) -> list[float]:  # fmt: skip
    # Each market's vol: a live option on an underlying with a surface, the surface's at its expiry and strike;
    # else its underlying's flat vol, written per underlying or `default_vol`.
    flat = [f.default_vol] * len(params.markets)
    for symbol, vol in f.vols.items():
        flat[_market(path, index, symbol, "vols")] = vol
    out = []
    for market, m in enumerate(params.markets):
        u, k = underlying_index(params, market), m.contract
        if u in surfaces and k is not None and k.instrument == "option" and k.expiry_ns > at_ns and prices[u] > 0:
            strike = float(Decimal(k.strike) / Decimal(params.markets[u].tick_size))
            out.append(float(implied_vol(surfaces[u], at_ns, k.expiry_ns, float(prices[u]), strike)))
        else:
            out.append(flat[u])
    return out


def underlying_index(params: RunParams, market: int) -> int:
    """Return the market whose price moves `market`: a future's or an option's underlying, else itself."""
    contract = params.markets[market].contract
    return market if contract is None or contract.underlying < 0 else contract.underlying


def option_tick_ratio(params: RunParams, market: int) -> Decimal:
    """Return an option's price tick in its underlying's ticks."""
    u = underlying_index(params, market)
    return Decimal(params.markets[market].tick_size) / Decimal(params.markets[u].tick_size)


def _option_prices(params: RunParams, prices: list[int], vols: list[float], at_ns: int) -> list[int]:
    # An option's price: Black-76 at its underlying's price and the book's vol, in its own ticks (at least one).
    out = list(prices)
    for market, m in enumerate(params.markets):
        k = m.contract
        if k is None or k.instrument != "option":
            continue
        u = underlying_index(params, market)
        strike = float(Decimal(k.strike) / Decimal(params.markets[u].tick_size))
        tau = max(k.expiry_ns - at_ns, 0)
        value = float(black76_price(float(prices[u]), strike, vols[market], tau, k.option_type == "call"))
        out[market] = max(1, math.floor(value / float(option_tick_ratio(params, market)) + 0.5))
    return out


def epoch_at(book: Book) -> datetime:
    """Return the UTC time the book is valued at (the scenario's epoch plus `at_s`)."""
    return datetime.fromtimestamp(book.scenario.epoch.timestamp() + book.at_ns / NS_PER_S, UTC)
