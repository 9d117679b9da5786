"""Scenarios: the validated description of a run, loaded from TOML with `--set` overrides.

Everything from outside (files, overrides, CLI values) is validated here by pydantic, and
turned into the exact integer units the core uses. A bad value gives one `ConfigError`
line naming the file (or override) and the dotted key.
"""

from __future__ import annotations

import hashlib
import tomllib
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from clearing.core.margin import Brackets
from clearing.errors import ConfigError
from clearing.units import INT64_MAX, NS_PER_MS, NS_PER_S, to_ppm, to_units

PositiveDecimal = Annotated[Decimal, Field(gt=0, allow_inf_nan=False)]
Rate = Annotated[Decimal, Field(ge=0, lt=1, allow_inf_nan=False)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MarketConfig(_Section):
    """One perpetual market: unit sizes and risk rates (rates are fractions, 0.005 = 0.5 %)."""

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
    size_premium: Rate = Field(default=Decimal(0), description="initial margin added per square-root lot (Drift)")
    oi_lower_cap: Annotated[Decimal, Field(ge=0)] = Decimal(0)
    oi_upper_cap: Annotated[Decimal, Field(ge=0)] = Decimal(0)
    maintenance_brackets: tuple[tuple[Annotated[Decimal, Field(ge=0)], Rate], ...] = Field(
        default=(), description="[[notional floor, rate], ...] from floor 0; empty: one bracket at maintenance_margin_rate"
    )
    scan_range: Rate = Field(default=Decimal("0.1"), description="portfolio margin: SPAN price scan range, a fraction")

    @model_validator(mode="after")
    def _exact_units(self) -> MarketConfig:
        value = self.tick_size * self.lot_size * Decimal(10) ** self.quote_decimals
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
        return self

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
        """Return the quote minor units one lot is worth per tick of price."""
        return int(self.tick_size * self.lot_size * Decimal(10) ** self.quote_decimals)

    @property
    def minor_unit(self) -> Decimal:
        """Return the size of one quote minor unit."""
        return Decimal(1).scaleb(-self.quote_decimals)


class PriceShock(_Section):
    """A scripted move: the price drifts by `change` (a fraction) over the window."""

    start_s: float = Field(ge=0)
    duration_s: float = Field(gt=0)
    change: float = Field(gt=-1, le=10)


HourlyBar = tuple[str, PositiveDecimal, PositiveDecimal, PositiveDecimal, PositiveDecimal]


class PriceConfig(_Section):
    """The exogenous index: a historical tape, or GBM / jump diffusion with scripted shocks.

    Tapes: `file` names a data file, or a list of consecutive ones (found through the data
    directory); `kind` "bars" (Binance klines or ts,open,high,low,close,volume, expanded by a
    Brownian bridge) or "trades" (ts_us,side,price,amount; last trade price). `start` (UTC)
    is where the run's time 0 falls in the tape; default: the scenario epoch. `hourly`
    writes an hourly open/high/low/close path into the scenario itself (its source named in
    `hourly_source`): the bars used when a `file` is not in the data directory, or alone.
    """

    model: Literal["gbm", "jump", "tape"] = "gbm"
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


class ListedMarketConfig(MarketConfig):
    """Another market listed beside the primary `market`: its own terms and its own index path.

    It quotes in the same currency (same `quote_decimals`); its oracle, mark, funding and
    agents follow the scenario's sections, each with its own random streams.
    """

    price: PriceConfig = PriceConfig()


class OracleWindow(_Section):
    """A time window of a source's failure; `offset` (a fraction) is for dislocations only."""

    start_s: float = Field(ge=0)
    duration_s: float = Field(gt=0)
    offset: float = Field(default=0.0, gt=-1, le=10)


class OracleSourceConfig(_Section):
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


class OracleGuardsConfig(_Section):
    """Checks before an action uses the oracle price (0 turns a guard off)."""

    liquidation_max_age_s: float = Field(default=0.0, ge=0)
    max_confidence: Rate = Decimal(0)
    max_mark_divergence: Rate = Decimal(0)


class OracleConfig(_Section):
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


class CollateralOracleConfig(_Section):
    """The collateral asset's own oracle: push (deviation or heartbeat) or fixed cadence."""

    policy: Literal["push", "cadence"] = "cadence"
    observe_interval_ms: int = Field(default=1000, ge=1)
    deviation: Rate = Decimal("0.005")
    heartbeat_s: float = Field(default=3600, gt=0)
    cadence_ms: int = Field(default=1000, ge=1)
    latency_ms: int = Field(default=0, ge=0)


class CollateralConfig(_Section):
    """A collateral asset: its venue price path (GBM with shocks), its oracle and its haircut."""

    asset: str = Field(min_length=1, max_length=20, pattern=r"^[A-Za-z0-9._-]+$")
    decimals: int = Field(default=6, ge=0, le=18)
    haircut: Rate = Decimal(0)
    price: PositiveDecimal = Decimal(1)
    volatility: float = Field(default=0.0, ge=0, le=20)
    step_ms: int = Field(default=1000, ge=1)
    shocks: tuple[PriceShock, ...] = ()
    oracle: CollateralOracleConfig = CollateralOracleConfig()


class MarkConfig(_Section):
    """How the mark price is made from the oracle price and the book."""

    method: Literal["oracle", "binance_median", "ema_basis"] = "oracle"
    interval_ms: int = Field(default=1000, ge=1)
    basis_window_s: float = Field(default=300, gt=0)


class FundingConfig(_Section):
    """Binance-style funding: premium samples, interest plus clamp, periodic payments."""

    enabled: bool = True
    interval_s: float = Field(default=28_800, gt=0)
    sample_s: float = Field(default=60, gt=0)
    impact_notional: PositiveDecimal = Decimal(4000)
    interest_rate: Annotated[Decimal, Field(ge=-1, lt=1)] = Decimal("0.0001")
    clamp: Rate = Decimal("0.0005")
    cap: Rate = Decimal("0.003")

    @model_validator(mode="after")
    def _exact_rates(self) -> FundingConfig:
        for name in ("interest_rate", "clamp", "cap"):
            to_units(getattr(self, name), Decimal("1e-9"), f"funding.{name}")
        return self


class MarketMakersConfig(_Section):
    """Market makers quoting ladders that widen and thin out as volatility rises."""

    count: int = Field(default=4, ge=0, le=1000)
    anchor: Literal["index", "oracle", "last"] = "index"
    refresh_ms: int = Field(default=1000, ge=1)
    levels: int = Field(default=10, ge=1, le=200)
    half_spread_bps: float = Field(default=2.0, ge=0)
    level_spacing_bps: float = Field(default=5.0, gt=0)
    level_notional: PositiveDecimal = Decimal(250_000)
    calm_volatility: float = Field(default=0.5, gt=0)
    spread_stress: float = Field(default=1.0, ge=0)
    depth_stress: float = Field(default=2.0, ge=0)
    volatility_halflife_s: float = Field(default=60, gt=0)
    inventory_limit: PositiveDecimal = Field(default=Decimal(20_000_000), description="notional at the initial price")
    skew_bps: float = Field(default=10.0, ge=0)
    collateral: PositiveDecimal = Decimal(500_000_000)
    depth_profile: str = Field(default="", description="data file: Binance bookDepth CSV")
    depth_scale: float = Field(default=1.0, gt=0)
    depth_optional: bool = Field(default=False, description="without the depth file, quote the level_notional ladder")
    depth_sides: Literal["both", "asks"] = Field(
        default="both", description="'asks': both sides of the book follow the file's ask side"
    )


class NoiseTakersConfig(_Section):
    """Poisson market-order flow."""

    count: int = Field(default=2, ge=0, le=1000)
    rate_per_s: float = Field(default=0.5, gt=0)
    median_notional: PositiveDecimal = Decimal(2000)
    sigma: float = Field(default=1.0, ge=0, le=5)
    buy_fraction: float = Field(default=0.5, ge=0, le=1)
    collateral: PositiveDecimal = Decimal(100_000_000)


class ArbitrageursConfig(_Section):
    """Traders who push the perpetual back toward the index within a capital limit."""

    count: int = Field(default=1, ge=0, le=1000)
    interval_ms: int = Field(default=1000, ge=1)
    threshold_bps: float = Field(default=10.0, ge=0)
    max_order_notional: PositiveDecimal = Decimal(1_000_000)
    max_position_notional: PositiveDecimal = Decimal(20_000_000)
    collateral: PositiveDecimal = Decimal(100_000_000)


class PopulationConfig(_Section):
    """Leveraged traders, each holding one isolated position opened during the entry window."""

    accounts: int = Field(default=10_000, ge=1, le=1_000_000)
    long_fraction: float = Field(default=0.6, ge=0, le=1)
    notional_median: PositiveDecimal = Decimal(5000)
    notional_sigma: float = Field(default=1.0, ge=0, le=5)
    notional_max: PositiveDecimal = Decimal(1_000_000)
    leverage: tuple[Annotated[int, Field(ge=1)], ...] = (2, 5, 10, 20, 50)
    leverage_weights: tuple[Annotated[float, Field(gt=0)], ...] = (0.2, 0.3, 0.3, 0.15, 0.05)
    entry_window_s: float = Field(default=1800, ge=0)
    holding_mean_s: float = Field(default=0, ge=0, description="0: hold to the end")
    collateral_asset: str = Field(default="", description="asset some traders post margin in")
    collateral_fraction: float = Field(default=0.0, ge=0, le=1)
    margin_mode: Literal["isolated", "cross", "portfolio"] = "isolated"
    entry: Literal["book", "backstop"] = Field(
        default="book", description="'backstop': positions open by a trade with the backstop at the mark, not the book"
    )
    legs: tuple[Annotated[float, Field(ge=-100, le=100)], ...] = Field(
        default=(1.0,), description="position on each market (primary first) as a multiple of the drawn notional"
    )

    @model_validator(mode="after")
    def _weights_match(self) -> PopulationConfig:
        if not self.leverage:
            raise ValueError("leverage needs at least one value")
        if not any(self.legs):
            raise ValueError("legs needs at least one non-zero multiple")
        if len(self.leverage_weights) != len(self.leverage):
            raise ValueError(f"leverage_weights has {len(self.leverage_weights)} values, leverage has {len(self.leverage)}")
        return self


class LiquidityProviderConfig(_Section):
    """The exchange's backstop liquidity account: takes the other side of entries and liquidations."""

    collateral: PositiveDecimal = Decimal(1_000_000_000)


class LiquidationConfig(_Section):
    """Liquidators: how many work at once, how long each takes, and how fills slip."""

    liquidators: int = Field(default=2, ge=1, le=10_000)
    service_time_ms: int = Field(default=250, ge=0)
    slippage: Rate = Decimal("0.001")
    impact_depth: PositiveDecimal = Field(default=Decimal(5_000_000), description="notional moving the fill 1 %")
    max_slippage: Rate = Decimal("0.25")
    execution: Literal["book", "bankruptcy", "fillable", "vault", "fund"] = "book"
    vault_threshold: Rate = Decimal("0.6667")
    fund_limit: Annotated[Decimal, Field(gt=0, le=100)] = Field(
        default=Decimal(1), description="execution fund: the most net notional the fund holds, per unit of its equity"
    )
    fund_offload_interval_ms: int = Field(default=1000, ge=1)
    fund_offload_notional: PositiveDecimal = Decimal(100_000)
    after_fund: Literal["bad_debt", "adl", "socialise"] = "bad_debt"
    priority: Literal["fifo", "worst_health", "largest"] = "fifo"
    partial: Literal["none", "fraction", "restore"] = "none"
    partial_fraction: Rate = Decimal("0.2")
    partial_min_notional: Annotated[Decimal, Field(ge=0)] = Decimal(0)
    cooldown_s: float = Field(default=0.0, ge=0)
    block_ms: int = Field(default=1000, ge=1)
    max_per_block: int = Field(default=0, ge=0, description="0: no cap")
    max_notional_per_block: Annotated[Decimal, Field(ge=0)] = Field(default=Decimal(0), description="per account; 0: no cap")
    detection_latency_ms: int = Field(default=0, ge=0)
    adl_ranking: Literal["pnl_leverage", "random", "pro_rata"] = "pnl_leverage"


class PortfolioConfig(_Section):
    """How portfolio-margined accounts are margined: SPAN scenarios or historical expected shortfall."""

    method: Literal["span", "es"] = "span"
    inter_commodity_credit: Annotated[Decimal, Field(ge=0, le=1)] = Decimal(0)
    extreme_multiple: int = Field(default=2, ge=1, le=10)
    extreme_cover: Annotated[Decimal, Field(ge=0, le=1)] = Decimal("0.35")
    es_window: int = Field(default=2500, ge=2, le=1_000_000, description="returns in the rolling window")
    es_step_s: float = Field(default=60, ge=0.001, description="sampling interval of the marks")
    es_horizon: int = Field(default=1, ge=1, le=10_000, description="return horizon, in samples")
    es_tail: int = Field(default=6, ge=1, description="worst returns averaged")

    @model_validator(mode="after")
    def _tail_fits(self) -> PortfolioConfig:
        if self.es_tail > self.es_window:
            raise ValueError(f"es_tail {self.es_tail} exceeds es_window {self.es_window}")
        if self.extreme_cover * 100 != int(self.extreme_cover * 100):
            raise ValueError("extreme_cover must be a whole percentage")
        to_ppm(self.inter_commodity_credit, "inter_commodity_credit")
        return self


class InsuranceFundConfig(_Section):
    """The insurance fund's starting balance and payout caps (0: no cap)."""

    initial: Annotated[Decimal, Field(ge=0, allow_inf_nan=False)] = Decimal(1_000_000)
    max_per_event: Annotated[Decimal, Field(ge=0, allow_inf_nan=False)] = Decimal(0)
    max_per_period: Annotated[Decimal, Field(ge=0, allow_inf_nan=False)] = Decimal(0)
    period_s: float = Field(default=3600, gt=0)


# Forks: scheduled changes of shell parameters ---------------------------------------------

_ORACLE_LIVE = (
    "aggregation", "min_sources", "outlier_cut", "source_max_age_s", "deviation", "heartbeat_s", "inclusion_delay_ms",
    "latency_ms", "latency_model", "latency_max_ms", "latency_sigma", "latency_per_breach_ms", "latency_window_s",
    "pull_interval_ms", "max_age_s", "guards.liquidation_max_age_s", "guards.max_confidence", "guards.max_mark_divergence",
)  # fmt: skip
_LIQUIDATION_LIVE = (
    "slippage", "impact_depth", "max_slippage", "execution", "vault_threshold", "after_fund", "adl_ranking", "partial",
    "partial_fraction", "partial_min_notional", "cooldown_s", "max_notional_per_block", "block_ms", "max_per_block",
    "detection_latency_ms", "fund_limit",
)  # fmt: skip
FORKABLE_KEYS = tuple(f"oracle.{k}" for k in _ORACLE_LIVE) + tuple(f"liquidation.{k}" for k in _LIQUIDATION_LIVE)
"""The keys a fork may change mid-run: parameters the SimPy shell reads afresh at each use."""

_STARTED = "is read once when its SimPy process starts at time 0"
_WHY_NOT = (
    # (dotted prefix, why a fork cannot change it); the first matching prefix wins.
    ("oracle.sources", "lists the oracle's sources at time 0 (oracle_source_listed) and starts their processes"),
    ("oracle.source", "is the default source, listed at time 0"),
    ("oracle.policy", "decides which oracle processes run from time 0"),
    ("oracle.observe_interval_ms", f"sets the sampling and round cadence, which {_STARTED}"),
    ("oracle.cadence_ms", f"sets the round cadence, which {_STARTED}"),
    ("liquidation.liquidators", "is the number of liquidator processes started at time 0"),
    ("liquidation.service_time_ms", f"{_STARTED} (each liquidator's)"),
    ("liquidation.priority", "ranks accounts already queued; mixing two rules in one queue has no meaning"),
    ("liquidation.fund_offload_", f"{_STARTED} (the fund's unwinding)"),
    ("market.", "is state listed at time 0 (market_listed)"),
    ("markets", "is state listed at time 0 (market_listed)"),
    ("collateral", "is state listed at time 0 (collateral_listed) with a price path drawn up front"),
    ("population", "was drawn at time 0 from the seed"),
    ("liquidity_provider", "is a deposit made at time 0"),
    ("insurance_fund", "is state set at time 0 (insurance_fund_deposited, insurance_fund_configured)"),
    ("portfolio", "is state set at time 0 (portfolio_margin_configured)"),
    ("price", "is the index path, drawn up front from the seed"),
    ("market_makers", f"{_STARTED} (each maker's ladder parameters)"),
    ("noise_takers", f"{_STARTED}"),
    ("arbitrageurs", f"{_STARTED}"),
    ("mark", f"{_STARTED} (the mark clock) or when the oracle is built"),
    ("funding", f"{_STARTED} (the funding clock)"),
    ("fork", "is the fork itself"),
    ("name", "describes the whole run"),
    ("description", "describes the whole run"),
    ("epoch", "describes the whole run"),
    ("duration_s", "describes the whole run"),
    ("checkpoint_interval_s", f"{_STARTED} (the checkpointer)"),
)


def fork_refusal(key: str) -> str | None:
    """Return why a fork cannot change the dotted `key` (None when it can)."""
    if key in FORKABLE_KEYS:
        return None
    for prefix, why in _WHY_NOT:
        if key.startswith(prefix) if prefix.endswith((".", "_")) else key == prefix or key.startswith(f"{prefix}."):
            return f"{key} {why}; a fork cannot change it; run a new scenario"
    return f"{key} is not a key a fork can change (only oracle and liquidation parameters, see docs/forks.md)"


def _flatten(table: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    # `[fork.set]` written as TOML dotted keys arrives as nested tables: back to dotted keys.
    out: dict[str, Any] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


class ForkConfig(_Section):
    """Changes of shell parameters scheduled at `at_s`: what `clearing fork` writes.

    `set` maps dotted scenario keys (only `FORKABLE_KEYS`) to their new values;
    `parent_run_id` names the run this one was forked from (informative).
    """

    at_s: float = Field(gt=0)
    parent_run_id: str = Field(default="", max_length=64)
    set: dict[str, bool | int | float | str] = Field(min_length=1)

    @field_validator("set", mode="before")
    @classmethod
    def _dotted(cls, value: Any) -> Any:
        return _flatten(value) if isinstance(value, dict) else value

    @field_validator("set")
    @classmethod
    def _forkable(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key in value:
            why = fork_refusal(key)
            if why:
                raise ValueError(why)
        return value


class Scenario(_Section):
    """A whole run: validated, immutable, hashable."""

    name: str = Field(min_length=1, max_length=120, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    description: str = ""
    epoch: datetime = datetime(2024, 1, 1, tzinfo=UTC)
    duration_s: float = Field(gt=0, le=30 * 86_400)
    checkpoint_interval_s: float = Field(default=600, gt=0)
    market: MarketConfig = MarketConfig()
    price: PriceConfig = PriceConfig()
    oracle: OracleConfig = OracleConfig()
    mark: MarkConfig = MarkConfig()
    funding: FundingConfig = FundingConfig()
    market_makers: MarketMakersConfig = MarketMakersConfig()
    noise_takers: NoiseTakersConfig = NoiseTakersConfig()
    arbitrageurs: ArbitrageursConfig = ArbitrageursConfig()
    population: PopulationConfig = PopulationConfig()
    liquidity_provider: LiquidityProviderConfig = LiquidityProviderConfig()
    liquidation: LiquidationConfig = LiquidationConfig()
    insurance_fund: InsuranceFundConfig = InsuranceFundConfig()
    collateral: tuple[CollateralConfig, ...] = ()
    markets: tuple[ListedMarketConfig, ...] = ()
    portfolio: PortfolioConfig = PortfolioConfig()
    fork: ForkConfig | None = Field(default=None, description="changes scheduled by `clearing fork`; absent: none")

    @field_validator("epoch")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None or value.utcoffset() is None or value.utcoffset().total_seconds() != 0:  # type: ignore[union-attr]
            raise ValueError("epoch must be a UTC time, e.g. 2020-03-12T00:00:00Z")
        return value.astimezone(UTC)

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        m = self.market
        assets = [c.asset for c in self.collateral]
        if len(set(assets)) != len(assets):
            raise ValueError("collateral assets need distinct names")
        if self.population.collateral_asset and self.population.collateral_asset not in assets:
            raise ValueError(f"population.collateral_asset {self.population.collateral_asset!r} is not a listed collateral asset")
        if self.population.collateral_fraction and not self.population.collateral_asset:
            raise ValueError("population.collateral_fraction needs population.collateral_asset")
        symbols = [m.symbol for m, _ in self.listed()]
        if len(set(symbols)) != len(symbols):
            raise ValueError("markets need distinct symbols")
        for i, extra in enumerate(self.markets):
            if extra.quote_decimals != m.quote_decimals:
                raise ValueError(f"markets.{i}: quote_decimals {extra.quote_decimals} differs from market's {m.quote_decimals}")
            to_units(extra.price.initial, extra.tick_size, f"markets.{i}.price.initial")
        if len(self.population.legs) > len(symbols):
            raise ValueError(f"population.legs has {len(self.population.legs)} multiples for {len(symbols)} market(s)")
        for c in self.collateral:
            to_units(c.price, m.minor_unit, f"collateral {c.asset} price")
            to_ppm(c.haircut, f"collateral {c.asset} haircut")
        mmr = max(market.bracket_units()[1][0] for market, _ in self.listed())
        for leverage in self.population.leverage:
            if leverage * mmr >= 1_000_000:
                raise ValueError(
                    f"population.leverage {leverage}x leaves no room above maintenance margin "
                    f"{Decimal(mmr) / 1_000_000}; use leverage below {Decimal(1_000_000) / mmr:.0f}x"
                )
        for name, amount in (
            ("price.initial", self.price.initial),
            ("funding.impact_notional", self.funding.impact_notional),
            ("market_makers.collateral", self.market_makers.collateral),
            ("market_makers.level_notional", self.market_makers.level_notional),
            ("market_makers.inventory_limit", self.market_makers.inventory_limit),
            ("noise_takers.collateral", self.noise_takers.collateral),
            ("noise_takers.median_notional", self.noise_takers.median_notional),
            ("arbitrageurs.collateral", self.arbitrageurs.collateral),
            ("arbitrageurs.max_order_notional", self.arbitrageurs.max_order_notional),
            ("arbitrageurs.max_position_notional", self.arbitrageurs.max_position_notional),
            ("liquidation.impact_depth", self.liquidation.impact_depth),
            ("liquidation.partial_min_notional", self.liquidation.partial_min_notional),
            ("liquidation.max_notional_per_block", self.liquidation.max_notional_per_block),
            ("liquidation.fund_offload_notional", self.liquidation.fund_offload_notional),
            ("population.notional_median", self.population.notional_median),
            ("population.notional_max", self.population.notional_max),
            ("liquidity_provider.collateral", self.liquidity_provider.collateral),
            ("insurance_fund.initial", self.insurance_fund.initial),
        ):
            unit = m.tick_size if name == "price.initial" else m.minor_unit
            try:
                to_units(amount, unit, name)
            except ValueError as e:
                raise ValueError(str(e)) from None
        total = (
            self.population.accounts * self.population.notional_max
            + self.liquidity_provider.collateral
            + self.insurance_fund.initial
            + self.market_makers.count * self.market_makers.collateral
            + self.noise_takers.count * self.noise_takers.collateral
            + self.arbitrageurs.count * self.arbitrageurs.collateral
        ) / m.minor_unit
        if total >= INT64_MAX // 4:
            raise ValueError("amounts too large for exact int64 accounting: lower quote_decimals or notional_max")
        if self.fork is not None:
            self._check_fork(self.fork)
        return self

    def _check_fork(self, fork: ForkConfig) -> None:
        if fork.at_s >= self.duration_s:
            raise ValueError(f"fork.at_s {fork.at_s} is not inside the run (duration_s {self.duration_s})")
        after = self.after_fork()  # the overridden scenario must itself be valid
        for key in fork.set:
            why = _fork_effect(self, after, key)
            if why:
                raise ValueError(f"fork.set: {key} {why}")

    def after_fork(self) -> Scenario:
        """Return the scenario as it stands after the fork's changes (itself when there is no fork).

        The changes go through `apply_override`, as `--set` does, and the result is validated.

        Raises:
            ValueError: the changed scenario does not validate (the message names the key).
        """
        if self.fork is None:
            return self
        data = self.model_dump(mode="json", exclude={"fork"})
        for key, value in self.fork.set.items():
            try:
                apply_override(data, key.split("."), value, f"{key}={value}")
            except ConfigError as e:
                raise ValueError(f"fork.set: {e}".replace("--set ", "")) from None
        try:
            return Scenario.model_validate(data)
        except ValidationError as e:
            raise ValueError(_format_error("fork.set", e)) from None

    # Derived integer units -------------------------------------------------------------

    def listed(self) -> list[tuple[MarketConfig, PriceConfig]]:
        """Return every market with its index path: the primary `market` (number 0), then `markets`."""
        return [(self.market, self.price), *((extra, extra.price) for extra in self.markets)]

    @property
    def duration_ns(self) -> int:
        """Return the run length in nanoseconds."""
        return round(self.duration_s * NS_PER_S)

    def seconds_ns(self, seconds: float) -> int:
        """Return `seconds` in whole nanoseconds."""
        return round(seconds * NS_PER_S)

    def ms_ns(self, milliseconds: int) -> int:
        """Return `milliseconds` in nanoseconds."""
        return milliseconds * NS_PER_MS

    def quote_minor(self, amount: Decimal) -> int:
        """Return a quote amount in exact minor units."""
        return to_units(amount, self.market.minor_unit, "amount")

    def price_ticks(self, price: Decimal) -> int:
        """Return a price in exact ticks."""
        return to_units(price, self.market.tick_size, "price")

    def canonical_json(self) -> str:
        """Return the canonical JSON the log header stores and hashes.

        A scenario without a fork section serialises without the `fork` key, as before the
        section existed, so older logs keep their scenario hash and run id.
        """
        return self.model_dump_json(exclude={"fork"} if self.fork is None else None)

    def hash(self) -> str:
        """Return the SHA-256 hex digest of `canonical_json`."""
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()


def _fork_effect(before: Scenario, after: Scenario, key: str) -> str | None:
    # Why a forkable key would have no effect in this scenario (None: it has one). Judged on
    # the scenario after the change, so a fork may switch a model and set its parameter.
    o, q = after.oracle, after.liquidation
    needs = {
        "oracle.deviation": (o.policy == "push", "only the push policy reads it"),
        "oracle.heartbeat_s": (o.policy == "push", "only the push policy reads it"),
        "oracle.inclusion_delay_ms": (o.policy == "push", "only the push policy reads it"),
        "oracle.pull_interval_ms": (o.policy == "pull", "only the pull policy reads it"),
        "oracle.max_age_s": (o.policy == "pull", "only the pull policy reads it"),
        "oracle.latency_ms": (o.policy != "pull", "a pull oracle has no delivery latency"),
        "oracle.latency_model": (o.policy != "pull", "a pull oracle has no delivery latency"),
        "oracle.latency_max_ms": (o.policy != "pull" and o.latency_model == "uniform", "only latency_model uniform reads it"),
        "oracle.latency_sigma": (o.policy != "pull" and o.latency_model == "lognormal", "only latency_model lognormal reads it"),
        "oracle.latency_per_breach_ms": (o.policy != "pull" and o.latency_model == "load", "only latency_model load reads it"),
        "oracle.latency_window_s": (o.policy != "pull" and o.latency_model == "load", "only latency_model load reads it"),
        "liquidation.vault_threshold": (q.execution == "vault", "only execution vault reads it"),
        "liquidation.fund_limit": (q.execution == "fund", "only execution fund reads it"),
        "liquidation.adl_ranking": (q.after_fund == "adl", "only after_fund adl reads it"),
        "liquidation.partial_fraction": (q.partial == "fraction", "only partial fraction reads it"),
        "liquidation.max_slippage": (
            before.liquidation.execution != "fund",
            "with execution fund the fund's unwinding process also reads it, once at time 0",
        ),
        "liquidation.execution": (
            "fund" not in (before.liquidation.execution, q.execution),
            "to or from fund would need the fund's account, opened at time 0",
        ),
    }
    ok, why = needs.get(key, (True, ""))
    return None if ok else f"has no effect here: {why}"


# Loading and overrides -------------------------------------------------------------------


def _format_error(where: str, error: ValidationError) -> str:
    first = error.errors()[0]
    loc = ".".join(str(p) for p in first["loc"]) or "(top level)"
    message = first["msg"].removeprefix("Value error, ")
    got = first.get("input")
    shown = "" if isinstance(got, dict) or first["type"] in ("missing", "value_error") else f" (got {got!r})"
    more = len(error.errors()) - 1
    tail = f"; and {more} more problem{'s' * (more > 1)}" if more else ""
    return f"{where}: {loc}: {message}{shown}{tail}"


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split `dotted.key=value`; the value is read as a TOML value, else as a bare string.

    Raises:
        ConfigError: the override has no `=` or an empty key.
    """
    key, sep, raw = text.partition("=")
    path = key.strip().split(".")
    if not sep or not all(path):
        raise ConfigError(f"--set {text}: expected dotted.key=value")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return path, value


def apply_override(data: dict[str, Any], path: list[str], value: Any, text: str) -> None:
    """Set `value` at `path` inside raw scenario data, creating tables on the way."""
    node: Any = data
    for i, part in enumerate(path[:-1]):
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ConfigError(f"--set {text}: {'.'.join(path[: i + 1])}: no such list item")
            node = node[int(part)]
        else:
            child = node.setdefault(part, {})
            if not isinstance(child, dict | list):
                raise ConfigError(f"--set {text}: {'.'.join(path[: i + 1])} is a value, not a table")
            node = child
    last = path[-1]
    if isinstance(node, list):
        if not last.isdigit() or int(last) >= len(node):
            raise ConfigError(f"--set {text}: {'.'.join(path)}: no such list item")
        node[int(last)] = value
    else:
        node[last] = value


PRESETS = Path(__file__).resolve().parent / "presets"


def preset_names() -> list[str]:
    """Return the names of the presets shipped with clearing ("oracle/chainlink-push", ...)."""
    return sorted(str(p.relative_to(PRESETS).with_suffix("")) for p in PRESETS.rglob("*.toml"))


def merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """Return `base` updated by `top`: tables merge key by key, any other value is replaced."""
    out = dict(base)
    for key, value in top.items():
        out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _with_includes(data: dict[str, Any], path: Path, chain: tuple[Path, ...]) -> dict[str, Any]:
    # `include = ["oracle/chainlink-push", "../mine.toml"]`: presets by name, files relative
    # to the including file; later includes override earlier ones, the file itself all.
    names = data.pop("include", [])
    names = [names] if isinstance(names, str) else names
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ConfigError(f"{path}: include: expected a list of preset names or file paths")
    merged: dict[str, Any] = {}
    for name in names:
        file = (path.parent / name) if name.endswith(".toml") else PRESETS / f"{name}.toml"
        if not file.is_file():
            raise ConfigError(f"{path}: include {name!r}: no such preset or file (presets: {', '.join(preset_names())})")
        if file.resolve() in chain:
            raise ConfigError(f"{path}: include {name!r}: includes itself")
        try:
            included = tomllib.loads(file.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{file}: invalid TOML: {e}") from None
        merged = merge(merged, _with_includes(included, file, (*chain, file.resolve())))
    return merge(merged, data)


def load_scenario(path: Path | str, overrides: list[str] | tuple[str, ...] = ()) -> Scenario:
    """Read, override and validate a scenario file.

    Raises:
        ConfigError: missing file, bad TOML, unknown key, wrong type or out-of-range value.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such scenario file") from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read scenario ({e.__class__.__name__}: {e})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: invalid TOML: {e}") from None
    parsed = [(parse_override(o), o) for o in overrides]
    for (keys, value), text_ in parsed:  # `--set include=...` picks presets before they are merged
        if keys == ["include"]:
            apply_override(data, keys, value, text_)
    data = _with_includes(data, path, ())
    data.setdefault("name", path.stem)
    for (keys, value), text_ in parsed:
        if keys != ["include"]:
            apply_override(data, keys, value, text_)
    try:
        return Scenario.model_validate(data)
    except ValidationError as e:
        where = str(path)
        if parsed:
            loc = ".".join(str(p) for p in e.errors()[0]["loc"])
            hits = [t for (keys, _), t in parsed if loc.startswith(".".join(keys)) or ".".join(keys).startswith(loc)]
            if hits:
                where = f"{path} with --set {hits[-1]}"
        raise ConfigError(_format_error(where, e)) from None
