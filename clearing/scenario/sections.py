"""Scenario sections of the markets and their prices: terms, index paths, the oracle, collateral, mark, funding.

Every value from outside is validated here by pydantic; amounts stay decimals until
`clearing.scenario.params` turns them into the exact integer units the core uses.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from clearing.core.correlation import validate_correlation
from clearing.core.margin import Brackets
from clearing.units import to_ppm, to_units

PositiveDecimal = Annotated[Decimal, Field(gt=0, allow_inf_nan=False)]
Rate = Annotated[Decimal, Field(ge=0, lt=1, allow_inf_nan=False)]
NonNegative = Annotated[Decimal, Field(ge=0, allow_inf_nan=False)]


class Section(BaseModel):
    """A scenario section: unknown keys refused, immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


INSTRUMENT_FIELDS = frozenset(
    {"kind", "expiry_s", "settlement_window_s", "underlying", "strike", "option_type", "settlement_asset"}
)


class MarketConfig(Section):
    """One market: what it trades, unit sizes and risk rates (rates are fractions, 0.005 = 0.5 %).

    `kind` "linear_perpetual" (the default) or "future": a dated future that trades and
    margins like the perpetual but pays no funding, and at `expiry_s` (seconds after the
    start) settles every position at the average of `underlying`'s index (its own when
    empty) over the last `settlement_window_s` (30 minutes, as Deribit and Binance do).
    "option": a European `option_type` option struck at `strike` (quote) on `underlying`,
    priced on the `[volatility]` surface, cash-settled at expiry at its intrinsic value;
    `tick_size` is its premium tick and `lot_size` its contract size in the underlying.
    "inverse_perpetual": a coin-margined perpetual (BitMEX XBTUSD, Binance COIN-M) whose
    `lot_size` is the contract's value in quote (1 USD, 100 USD) and whose PnL, fees and
    funding are paid in the `[[collateral]]` asset `settlement_asset`.
    """

    kind: Literal["linear_perpetual", "future", "option", "inverse_perpetual"] = "linear_perpetual"
    expiry_s: float | None = Field(default=None, gt=0, description="a future's expiry, seconds after the start")
    settlement_window_s: float = Field(default=1800.0, gt=0, description="the index averaging window before expiry")
    underlying: str = Field(default="", description="the market whose index settles a future (empty: its own) or an option")
    strike: PositiveDecimal | None = Field(default=None, description="an option's strike, quote")
    option_type: Literal["call", "put"] | None = None
    settlement_asset: str = Field(default="", description="an inverse perpetual's settlement asset, a [[collateral]] asset")
    symbol: str = Field(default="BTCUSDT-PERP", min_length=1)
    tick_size: PositiveDecimal = Decimal("0.1")
    lot_size: PositiveDecimal = Decimal("0.001")
    quote_decimals: int = Field(default=6, ge=0, le=12)
    maintenance_margin_rate: Rate = Decimal("0.005")
    liquidation_fee_rate: Rate = Decimal("0.0125")
    taker_fee_rate: Rate = Decimal("0.0005")
    maker_fee_rate: Rate = Decimal("0.0002")
    self_trade_prevention: Literal["expire_maker", "expire_taker", "expire_both"] = "expire_maker"
    market_order_band: Annotated[Decimal, Field(gt=0, lt=1)] = Decimal("0.05")
    initial_margin_rate: Rate = Field(default=Decimal(0), description="0: no initial margin check on orders")
    size_premium: Rate = Field(default=Decimal(0), description="initial and maintenance margin per square-root lot (Drift)")
    risk_limit_base: NonNegative = Field(default=Decimal(0), description="BitMEX: the base risk limit, a size (base asset)")
    risk_limit_step: NonNegative = Field(default=Decimal(0), description="BitMEX: a risk-limit step, a size; 0: none")
    oi_lower_cap: Annotated[Decimal, Field(ge=0)] = Decimal(0)
    oi_upper_cap: Annotated[Decimal, Field(ge=0)] = Decimal(0)
    maintenance_brackets: tuple[tuple[Annotated[Decimal, Field(ge=0)], Rate], ...] = Field(
        default=(), description="[[notional floor, rate], ...] from floor 0; empty: one bracket at maintenance_margin_rate"
    )
    scan_range: Rate = Field(default=Decimal("0.1"), description="portfolio margin: SPAN price scan range, a fraction")

    @model_validator(mode="after")
    def _expiry(self) -> MarketConfig:
        if self.kind != "option" and (self.strike is not None or self.option_type is not None):
            raise ValueError(f"a {self.kind} has no strike or option_type; set kind = \"option\"")
        if self.kind == "option" and (self.strike is None or self.option_type is None or not self.underlying):
            raise ValueError("an option needs strike, option_type (\"call\" or \"put\") and underlying")
        if self.kind == "option" and self.underlying == self.symbol:
            raise ValueError("an option's underlying must be another market")
        if (self.kind == "inverse_perpetual") != bool(self.settlement_asset):
            raise ValueError("an inverse_perpetual needs settlement_asset (a [[collateral]] asset), and only it has one")
        if self.kind in ("linear_perpetual", "inverse_perpetual"):
            if self.expiry_s is not None or self.underlying:
                raise ValueError(f"a {self.kind} has no expiry_s or underlying; set kind = \"future\"")
        elif self.expiry_s is None:
            raise ValueError(f"a {self.kind} needs expiry_s (seconds after the start)")
        elif self.settlement_window_s > self.expiry_s:
            raise ValueError(f"settlement_window_s {self.settlement_window_s} is longer than expiry_s {self.expiry_s}")
        return self

    def instrument_defaults(self) -> bool:
        """Return whether the market is a linear perpetual with every instrument field at its default."""
        return self.kind == "linear_perpetual" and self.settlement_window_s == 1800.0 and self.strike is None

    @model_validator(mode="after")
    def _exact_units(self) -> MarketConfig:
        value = (1 if self.kind == "inverse_perpetual" else self.tick_size) * self.lot_size * Decimal(10) ** self.quote_decimals
        if value != value.to_integral_value():
            raise ValueError(
                f"tick_size x lot_size = {self.tick_size * self.lot_size} is not a whole number of quote "
                f"minor units (1e-{self.quote_decimals}); raise quote_decimals or the sizes"
            )
        for name in (
            "maintenance_margin_rate", "liquidation_fee_rate", "taker_fee_rate", "maker_fee_rate", "market_order_band",
            "initial_margin_rate", "size_premium", "scan_range",
        ):  # fmt: skip
            to_ppm(getattr(self, name), name)
        if self.initial_margin_rate and to_ppm(self.initial_margin_rate, "initial") < self.bracket_units()[1][0]:
            raise ValueError("initial_margin_rate must be at least maintenance_margin_rate")
        if self.maintenance_brackets:
            floors, rates = self.bracket_units()
            Brackets.of(floors, rates)  # floors from 0 and ascending, rates not decreasing, whole amounts
        if bool(self.risk_limit_base) != bool(self.risk_limit_step):
            raise ValueError("risk limits need both risk_limit_base and risk_limit_step")
        by_size = [n for n in ("size_premium", "risk_limit_step") if getattr(self, n)]
        if by_size and (self.maintenance_brackets or self.kind in ("inverse_perpetual", "option") or len(by_size) > 1):
            raise ValueError(f"{by_size[0]} sets the rate by size: one rule, on a linear market with no maintenance_brackets")
        self.risk_limit_lots()  # whole lots
        return self

    def risk_limit_lots(self) -> tuple[int, int]:
        """Return BitMEX's base risk limit and step in lots (the position's size in the base asset); (0, 0): none."""
        return to_units(self.risk_limit_base, self.lot_size, "risk_limit_base"), to_units(
            self.risk_limit_step, self.lot_size, "risk_limit_step"
        )

    def bracket_units(self) -> tuple[list[int], list[int]]:
        """Return (floors in quote minor units, rates in ppm) of the maintenance brackets.

        With brackets, their first rate is the market's maintenance rate (and
        `maintenance_margin_rate` is not used); without, one bracket at that rate.
        """
        if not self.maintenance_brackets:
            return [0], [to_ppm(self.maintenance_margin_rate, "maintenance_margin_rate")]
        floors = [to_units(f, self.minor_unit, "maintenance bracket floor") for f, _ in self.maintenance_brackets]
        return floors, [to_ppm(r, "maintenance bracket rate") for _, r in self.maintenance_brackets]

    @property
    def unit_value(self) -> int:
        """Return the quote minor units one lot is worth per tick of price (an inverse perpetual's lot: at any price)."""
        if self.kind == "inverse_perpetual":
            return int(self.lot_size * Decimal(10) ** self.quote_decimals)
        return int(self.tick_size * self.lot_size * Decimal(10) ** self.quote_decimals)

    @property
    def minor_unit(self) -> Decimal:
        """Return the size of one quote minor unit."""
        return Decimal(1).scaleb(-self.quote_decimals)


class PriceShock(Section):
    """A scripted move: the price drifts by `change` (a fraction) over the window."""

    start_s: float = Field(ge=0, description="when the move starts, seconds after the start")
    duration_s: float = Field(gt=0, description="how long it takes, seconds")
    change: float = Field(gt=-1, le=10, description="the move, a fraction (-0.3: a fall of 30 %), spread evenly over the window")


HourlyBar = tuple[str, PositiveDecimal, PositiveDecimal, PositiveDecimal, PositiveDecimal]


class PriceConfig(Section):
    """The exogenous index: a historical tape, or GBM / jump diffusion with scripted shocks.

    Tapes: `file` names a data file, or a list of consecutive ones (found through the data
    directory); `kind` "bars" (Binance klines or ts,open,high,low,close,volume, expanded by a
    Brownian bridge) or "trades" (ts_us,side,price,amount; last trade price). `start` (UTC)
    is where the run's time 0 falls in the tape; default: the scenario epoch. `hourly`
    writes an hourly open/high/low/close path into the scenario itself (its source named in
    `hourly_source`): the bars used when a `file` is not in the data directory, or alone.
    """

    model: Literal["gbm", "jump", "tape", "heston"] = "gbm"
    initial: PositiveDecimal = Decimal(60000)
    volatility: float = Field(default=0.6, ge=0, le=20, description="annualised")
    drift: float = Field(default=0.0, ge=-50, le=50, description="annualised")
    step_ms: int = Field(default=1000, ge=1)
    shocks: tuple[PriceShock, ...] = ()
    jump_intensity_per_day: float = Field(default=0.0, ge=0, le=10_000)
    jump_mean: float = Field(default=0.0, ge=-1, le=1, description="mean log jump size")
    jump_stdev: float = Field(default=0.0, ge=0, le=2, description="stdev of log jump size")
    file: str | tuple[str, ...] = ""
    kind: Literal["bars", "trades"] = "bars"
    start: datetime | None = None
    hourly: tuple[HourlyBar, ...] = ()
    hourly_source: str = ""

    @field_validator("start")
    @classmethod
    def _start_utc(cls, value: datetime | None) -> datetime | None:
        if value is not None and (value.utcoffset() is None or value.utcoffset().total_seconds() != 0):  # type: ignore[union-attr]
            raise ValueError("must be a UTC time, e.g. 2020-03-12T10:00:00Z")
        return value

    @field_validator("file")
    @classmethod
    def _files(cls, value: str | tuple[str, ...]) -> str | tuple[str, ...]:
        if isinstance(value, tuple) and (not value or not all(value)):
            raise ValueError("a list of files needs at least one name, none empty")
        return value

    @property
    def files(self) -> tuple[str, ...]:
        """Return the tape's data files in order (none for a generated path or an hourly path alone)."""
        return (self.file,) if isinstance(self.file, str) and self.file else tuple(self.file or ())

    @model_validator(mode="after")
    def _tape_named(self) -> PriceConfig:
        if self.model == "tape" and not (self.files or self.hourly):
            raise ValueError("model 'tape' needs price.file, a data file name, or price.hourly")
        if self.model != "tape" and (self.files or self.hourly):
            raise ValueError(f"price.file and price.hourly are only read by model 'tape', not {self.model!r}")
        if self.hourly and self.kind != "bars":
            raise ValueError("price.hourly is a path of bars: it needs kind 'bars'")
        if self.hourly and not self.hourly_source:
            raise ValueError("price.hourly needs price.hourly_source: where its numbers come from")
        previous = None
        for i, (when, o, h, low, c) in enumerate(self.hourly):
            try:
                at = datetime.fromisoformat(when)
            except ValueError:
                raise ValueError(f"price.hourly.{i}: {when!r} is not an ISO time like 2020-03-12T10:00:00Z") from None
            if at.utcoffset() is None or at.utcoffset().total_seconds() != 0 or at.minute or at.second or at.microsecond:  # type: ignore[union-attr]
                raise ValueError(f"price.hourly.{i}: {when!r} is not the start of an hour in UTC")
            if previous is not None and (at - previous).total_seconds() != 3600:
                raise ValueError(f"price.hourly.{i}: {when} does not follow the previous hour")
            if h < max(o, c) or low > min(o, c):
                raise ValueError(f"price.hourly.{i}: high {h} / low {low} do not contain open {o} and close {c}")
            previous = at
        return self


class VolatilityConfig(Section):
    """The implied-volatility surface of every underlying with options listed on it.

    "synthetic": an ATM level driven by the underlying's own index (the leverage effect:
    `leverage_down` vol added per unit of fall in log price, `leverage_up` removed per unit
    of rise, reverting to `base` with `half_life_s`), one `skew` (vol per unit of
    log-moneyness ln(K/F)) and a `term_slope` (vol per year of expiry after the first),
    published every `interval_s` on a k grid from -0.5 to +0.5. "heston": the same surface,
    its ATM level the underlying's own Heston volatility path (`price.model = "heston"`).
    "okx": the OKX BTC option chain of 2025-10-10 (`file`), fitted every minute (level and
    skew per expiry); option expiries must then be the chain's. Source: docs/references.md [bouchaud-leverage-2001].
    """

    model: Literal["synthetic", "okx", "heston"] = "synthetic"
    base: float = Field(default=0.6, gt=0, le=5, description="annualised ATM vol the level reverts to")
    skew: float = Field(default=-0.2, ge=-5, le=5, description="vol per unit of log-moneyness")
    term_slope: float = Field(default=0.0, ge=-10, le=10, description="vol per year of expiry after the first")
    leverage_down: float = Field(default=1.5, ge=0, le=100)
    leverage_up: float = Field(default=0.0, ge=-100, le=100)
    half_life_s: float = Field(default=21_600.0, gt=0)
    floor: float = Field(default=0.05, gt=0, le=5)
    cap: float = Field(default=5.0, gt=0, le=50)
    interval_s: float = Field(default=60.0, ge=0.001)
    file: str = "okx_btc_options_chain_1m_2025-10-10.csv"
    file_optional: bool = Field(default=False, description="okx without its file: the synthetic surface instead")

    @model_validator(mode="after")
    def _bounds(self) -> VolatilityConfig:
        if not self.floor <= self.base <= self.cap:
            raise ValueError(f"volatility base {self.base} must lie within [floor {self.floor}, cap {self.cap}]")
        return self


class StressConfig(Section):
    """When correlated markets are stressed, and what stress does: correlations pulled toward 1, volatilities multiplied.

    A scheduled window (`start_s`, `duration_s`), or a Markov chain between calm and stress
    (`enter_per_hour`, `leave_per_hour`); not both. Source: docs/references.md [longin-solnik-2001].
    """

    start_s: float | None = Field(default=None, ge=0)
    duration_s: float = Field(default=0.0, ge=0)
    enter_per_hour: float = Field(default=0.0, ge=0, le=3600)
    leave_per_hour: float = Field(default=0.0, ge=0, le=3600)
    pull: float = Field(default=0.0, ge=0, le=1, description="rho_stress = rho + pull x (1 - rho)")
    vol_multiplier: float = Field(default=1.0, ge=0, le=100)

    @model_validator(mode="after")
    def _one_switch(self) -> StressConfig:
        chain = self.enter_per_hour > 0 or self.leave_per_hour > 0
        if self.start_s is not None and chain:
            raise ValueError("stress is a scheduled window (start_s) or a Markov chain (enter/leave_per_hour), not both")
        if chain and not (self.enter_per_hour > 0 and self.leave_per_hour > 0):
            raise ValueError("a stress chain needs both enter_per_hour and leave_per_hour > 0")
        return self


class CorrelationConfig(Section):
    """Markets whose synthetic (GBM) index paths are drawn jointly, with a correlation matrix and a stress regime.

    `markets` names listed markets with `price.model = "gbm"` and one `price.step_ms`; each
    keeps its own initial price, volatility, drift and shocks. `matrix` is symmetric with a
    unit diagonal and positive definite (checked by its Cholesky factor).
    """

    markets: tuple[str, ...] = ()
    matrix: tuple[tuple[float, ...], ...] = ()
    stress: StressConfig = StressConfig()

    @model_validator(mode="after")
    def _valid(self) -> CorrelationConfig:
        if len(self.matrix) != len(self.markets) or any(len(row) != len(self.markets) for row in self.matrix):
            raise ValueError(f"correlation.matrix must be {len(self.markets)} x {len(self.markets)}, one row per market")
        if len(set(self.markets)) != len(self.markets):
            raise ValueError("correlation.markets must be distinct")
        if self.markets:
            validate_correlation(self.matrix)
        return self


class HestonConfig(Section):
    """Heston stochastic volatility for markets with `price.model = "heston"` (annualised; variance units).

    dv = kappa (theta - v) dt + xi sqrt(v) dW2, corr(dW1, dW2) = rho; v0 the variance at the
    start. The path's volatility sqrt(v) is also the ATM level of its surface when
    `volatility.model = "heston"`. Source: docs/references.md [heston-1993].
    """

    kappa: float = Field(default=3.0, gt=0, le=1000)
    theta: float = Field(default=0.36, gt=0, le=100)
    xi: float = Field(default=1.5, gt=0, le=100)
    rho: float = Field(default=-0.6, gt=-1, lt=1)
    v0: float = Field(default=0.36, ge=0, le=100)


class ListedMarketConfig(MarketConfig):
    """Another market listed beside the primary `market`: its own terms and its own index path.

    It quotes in the same currency (same `quote_decimals`); its oracle, mark, funding and
    agents follow the scenario's sections, each with its own random streams.
    """

    price: PriceConfig = PriceConfig()


class OracleWindow(Section):
    """A time window of a source's failure; `offset` (a fraction) is for dislocations only."""

    start_s: float = Field(ge=0, description="when the window opens, seconds after the start")
    duration_s: float = Field(gt=0, description="how long it stays open, seconds")
    offset: float = Field(default=0.0, gt=-1, le=10,
                          description="dislocations only: the reading is reference x (1 + offset) (-0.3: 30 % below)")


class OracleSourceConfig(Section):
    """One source feeding the oracle: what it watches, how often, how late, how it fails."""

    name: str = Field(min_length=1, max_length=60)
    reference: Literal["index", "mid", "last"] = "index"
    weight: int = Field(default=1, ge=1, le=1000)
    interval_ms: int = Field(default=1000, ge=1)
    delay_ms: int = Field(default=0, ge=0)
    noise_bps: float = Field(default=0.0, ge=0, le=10_000)
    confidence_bps: float = Field(default=0.0, ge=0, le=10_000)
    outages: tuple[OracleWindow, ...] = ()
    outage_rate_per_hour: float = Field(default=0.0, ge=0, le=3600)
    outage_mean_s: float = Field(default=60.0, gt=0)
    frozen: tuple[OracleWindow, ...] = ()
    dislocations: tuple[OracleWindow, ...] = ()


class OracleGuardsConfig(Section):
    """Checks before an action uses the oracle price (0 turns a guard off)."""

    liquidation_max_age_s: float = Field(default=0.0, ge=0)
    max_confidence: Rate = Decimal(0)
    max_mark_divergence: Rate = Decimal(0)
    liquidation_validity: bool = Field(
        default=False, description="Drift: a liquidation is refused only when the oracle price is not positive, more "
        "than too_volatile_ratio times from its TWAP over twap_s, or further than max_twap_divergence from it "
        "(replaces liquidation_max_age_s and max_mark_divergence for liquidations)",
    )  # fmt: skip
    twap_s: float = Field(default=300.0, gt=0)
    too_volatile_ratio: int = Field(default=5, ge=2, le=1000)
    max_twap_divergence: Rate = Decimal("0.5")


class OracleConfig(Section):
    """The oracle: sources, aggregation, publication policy, delivery latency and guards.

    With no `sources`, one noiseless source watches `source` every `observe_interval_ms`.
    """

    policy: Literal["push", "pull", "cadence"] = "push"
    source: Literal["index", "mid", "last"] = "index"
    sources: tuple[OracleSourceConfig, ...] = ()
    aggregation: Literal["median", "weighted_median", "pyth"] = "median"
    min_sources: int = Field(default=1, ge=1)
    outlier_cut: Rate = Decimal(0)
    source_max_age_s: float = Field(default=60.0, gt=0)
    observe_interval_ms: int = Field(default=1000, ge=1)
    deviation: Rate = Decimal("0.005")
    heartbeat_s: float = Field(default=3600, gt=0)
    cadence_ms: int = Field(default=3000, ge=1)
    inclusion_delay_ms: int = Field(default=0, ge=0)
    latency_ms: int = Field(default=0, ge=0)
    latency_model: Literal["fixed", "uniform", "lognormal", "load"] = "fixed"
    latency_max_ms: int = Field(default=0, ge=0)
    latency_sigma: float = Field(default=0.0, ge=0, le=5)
    latency_per_breach_ms: float = Field(default=0.0, ge=0)
    latency_window_s: float = Field(default=60.0, gt=0)
    pull_interval_ms: int = Field(default=1000, ge=1)
    max_age_s: float = Field(default=60.0, gt=0)
    guards: OracleGuardsConfig = OracleGuardsConfig()

    @model_validator(mode="after")
    def _consistent(self) -> OracleConfig:
        if len({s.name for s in self.sources}) != len(self.sources):
            raise ValueError("oracle.sources need distinct names")
        if self.min_sources > max(1, len(self.sources)):
            raise ValueError(f"min_sources {self.min_sources} exceeds the {max(1, len(self.sources))} source(s)")
        if self.latency_model == "uniform" and self.latency_max_ms < self.latency_ms:
            raise ValueError("latency_model 'uniform' needs latency_max_ms >= latency_ms")
        return self


class CollateralOracleConfig(Section):
    """The collateral asset's own oracle: push (deviation or heartbeat) or fixed cadence."""

    policy: Literal["push", "cadence"] = "cadence"
    observe_interval_ms: int = Field(default=1000, ge=1)
    deviation: Rate = Decimal("0.005")
    heartbeat_s: float = Field(default=3600, gt=0)
    cadence_ms: int = Field(default=1000, ge=1)
    latency_ms: int = Field(default=0, ge=0)


class CollateralConfig(Section):
    """A collateral asset: its venue price path (GBM with shocks, or a market's index), its oracle and its haircut.

    `follows` names a market whose index path (in quote per unit, one sample per the
    market's step) is the asset's venue price: the coin an inverse perpetual settles in is
    priced by that market's underlying, as BitMEX and Binance value it at the index.
    """

    asset: str = Field(min_length=1, max_length=20, pattern=r"^[A-Za-z0-9._-]+$")
    decimals: int = Field(default=6, ge=0, le=18)
    haircut: Rate = Decimal(0)
    price: PositiveDecimal = Decimal(1)
    volatility: float = Field(default=0.0, ge=0, le=20)
    step_ms: int = Field(default=1000, ge=1)
    shocks: tuple[PriceShock, ...] = ()
    oracle: CollateralOracleConfig = CollateralOracleConfig()
    follows: str = Field(default="", description="a market whose index path is this asset's price (empty: its own GBM)")


class MarkConfig(Section):
    """How the mark price is made from the oracle price and the book."""

    method: Literal["oracle", "binance_median", "ema_basis"] = "oracle"
    interval_ms: int = Field(default=1000, ge=1)
    basis_window_s: float = Field(default=300, gt=0)
