"""Scenario sections of the clearing rules: liquidation, portfolio margin, the insurance fund."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field, model_validator

from clearing.scenario.sections import PositiveDecimal, Rate, Section
from clearing.units import to_ppm


class LiquidationConfig(Section):
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
    partial: Literal["none", "fraction", "restore", "shortage"] = "none"
    multi_leg: Literal["whole", "incremental"] = Field(
        default="whole", description="several markets: close every leg whole, or reduce chunk by chunk (Deribit)"
    )
    partial_fraction: Rate = Decimal("0.2")
    margin_buffer: Rate = Field(default=Decimal("0.02"), description="partial shortage: Drift's liquidation margin buffer")
    partial_min_notional: Annotated[Decimal, Field(ge=0)] = Decimal(0)
    cooldown_s: float = Field(default=0.0, ge=0)
    block_ms: int = Field(default=1000, ge=1)
    max_per_block: int = Field(default=0, ge=0, description="0: no cap")
    max_notional_per_block: Annotated[Decimal, Field(ge=0)] = Field(default=Decimal(0), description="per account; 0: no cap")
    detection_latency_ms: int = Field(default=0, ge=0)
    adl_ranking: Literal["pnl_leverage", "leverage_pnl", "random", "pro_rata"] = "pnl_leverage"
    engine: Literal["on", "off"] = Field(
        default="on", description="'off': no account is checked or liquidated (a fork's counterfactual: the day without it)"
    )


class GridConfig(Section):
    """Deribit's scenario grid of portfolio method "grid" (its BTC parameters of 2024 by default).

    The underlying moves across +-`price_range` in `buckets` steps each way; each option's
    implied volatility is shocked up by `vol_up` x (30 / DTE)^p and down by `vol_down` x
    (30 / DTE)^p, p = `short_term_power` to 30 days and `long_term_power` beyond; the
    `extended_moves` count at `extended_weight` (0: not evaluated); initial = maintenance /
    `mm_factor`. Source: docs/references.md [deribit-pm].
    """

    price_range: Annotated[Decimal, Field(gt=0, lt=1)] = Decimal("0.16")
    buckets: int = Field(default=4, ge=1, le=100)
    vol_up: Annotated[Decimal, Field(ge=0, le=10)] = Decimal("0.5")
    vol_down: Annotated[Decimal, Field(ge=0, lt=1)] = Decimal("0.25")
    short_term_power: Annotated[Decimal, Field(ge=0, le=5)] = Decimal("0.3")
    long_term_power: Annotated[Decimal, Field(ge=0, le=5)] = Decimal("0.13")
    extended_moves: tuple[Annotated[Decimal, Field(gt=-1, le=100)], ...] = tuple(
        Decimal(x) for x in ("-0.66", "-0.33", "0.5", "1", "2", "3", "4", "5")
    )
    extended_weight: Annotated[Decimal, Field(ge=0, le=1)] = Decimal(0)
    mm_factor: Annotated[Decimal, Field(gt=0, le=1)] = Decimal("0.8")
    time_step_s: float = Field(default=60, ge=0.001, le=86_400, description="time to expiry is measured at the start of each")

    @model_validator(mode="after")
    def _exact(self) -> GridConfig:
        for name in ("price_range", "vol_up", "vol_down", "short_term_power", "long_term_power", "extended_weight", "mm_factor"):
            to_ppm(getattr(self, name), f"portfolio.grid.{name}")
        for move in self.extended_moves:
            to_ppm(move, "portfolio.grid.extended_moves")
        return self


class SpanConfig(Section):
    """SPAN's risk arrays with the volatility leg, for portfolio method "span".

    Each underlying's markets are revalued in CME's 16 scenarios over the underlying's
    `scan_range` (options with their volatility moved by +-`vol_scan`, absolute: 0.15 is 15
    volatility points); `intra_rate` of the delta matched across expiry tiers is charged
    (CME's flat-rate intra-commodity spread charge, as a fraction of its notional); the
    requirement is at least `short_option_minimum` of the underlying notional of each short
    option lot. Time to expiry is measured at the start of each `time_step_s`. The defaults
    are this project's, not a CME product's: CME sets them per product (docs/portfolio-margin.md).
    """

    vol_scan: Annotated[Decimal, Field(ge=0, le=10)] = Decimal("0.15")
    intra_rate: Annotated[Decimal, Field(ge=0, le=1)] = Decimal("0.005")
    short_option_minimum: Annotated[Decimal, Field(ge=0, le=1)] = Decimal("0.001")
    time_step_s: float = Field(default=60, ge=0.001, le=86_400)

    @model_validator(mode="after")
    def _exact(self) -> SpanConfig:
        for name in ("vol_scan", "intra_rate", "short_option_minimum"):
            to_ppm(getattr(self, name), f"portfolio.span.{name}")
        return self


class EsConfig(Section):
    """Filtered historical simulation for portfolio method "es" (LCH PAIRS, Eurex Prisma).

    The window's returns are rescaled to today's volatility by EWMA with decay `ewma_lambda`
    (LCH's 0.97); `stress_files` names, per underlying market symbol, 1-minute bar files in
    the data directory whose returns (over the window's horizon, whole minutes, at least
    one) are stress scenarios, joined on their timestamps so the underlyings move jointly,
    and floor the requirement. Time to expiry is measured at the start of each `time_step_s`.
    """

    ewma_lambda: Annotated[Decimal, Field(gt=0, lt=1)] = Decimal("0.97")
    stress_files: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    time_step_s: float = Field(default=60, ge=0.001, le=86_400)

    @model_validator(mode="after")
    def _exact(self) -> EsConfig:
        to_ppm(self.ewma_lambda, "portfolio.es.ewma_lambda")
        for symbol, files in self.stress_files.items():
            if not files:
                raise ValueError(f"portfolio.es.stress_files.{symbol} names no file")
        return self


class PortfolioConfig(Section):
    """How portfolio-margined accounts are margined: SPAN scenarios, Deribit's grid, or historical expected shortfall."""

    method: Literal["span", "es", "grid"] = "span"
    inter_commodity_credit: Annotated[Decimal, Field(ge=0, le=1)] = Decimal(0)
    extreme_multiple: int = Field(default=2, ge=1, le=10)
    extreme_cover: Annotated[Decimal, Field(ge=0, le=1)] = Decimal("0.35")
    es_window: int = Field(default=2500, ge=2, le=1_000_000, description="returns in the rolling window")
    es_step_s: float = Field(default=60, ge=0.001, description="sampling interval of the marks")
    es_horizon: int = Field(default=1, ge=1, le=10_000, description="return horizon, in samples")
    es_tail: int = Field(default=6, ge=1, description="worst returns averaged")
    grid: GridConfig = GridConfig()
    span: SpanConfig = SpanConfig()
    es: EsConfig = EsConfig()

    @model_validator(mode="after")
    def _tail_fits(self) -> PortfolioConfig:
        if self.es_tail > self.es_window:
            raise ValueError(f"es_tail {self.es_tail} exceeds es_window {self.es_window}")
        if self.extreme_cover * 100 != int(self.extreme_cover * 100):
            raise ValueError("extreme_cover must be a whole percentage")
        to_ppm(self.inter_commodity_credit, "inter_commodity_credit")
        return self


class MarginCallsConfig(Section):
    """Margin calls before liquidation (off by default), as risk-based venues run them.

    Every `check_interval_s` each trader whose equity is below its initial requirement but
    not its maintenance is called (again at most every `repeat_s`): the initial is the
    maintenance / `call_level` (a grid account's: / the grid's `mm_factor`). A called trader
    tops up (share `top_up_share`: deposits back to the initial requirement, within outside
    funds of `outside_funds` x its initial requirement at its first call), reduces (share
    `reduce_share`: closes `reduce_fraction` of every position by reduce-only market orders)
    or does nothing, after an exponential delay of mean `reaction_mean_s`. Below maintenance
    the liquidation engine acts as without calls.
    """

    enabled: bool = False
    check_interval_s: float = Field(default=10, ge=0.001)
    call_level: Annotated[Decimal, Field(gt=0, le=1)] = Decimal("0.8")
    repeat_s: float = Field(default=3600, ge=0)
    top_up_share: float = Field(default=0.5, ge=0, le=1)
    reduce_share: float = Field(default=0.2, ge=0, le=1)
    reaction_mean_s: float = Field(default=300, ge=0)
    outside_funds: float = Field(default=1.0, ge=0, le=1000)
    reduce_fraction: Annotated[Decimal, Field(gt=0, le=1)] = Decimal("0.5")

    @model_validator(mode="after")
    def _shares(self) -> MarginCallsConfig:
        if self.top_up_share + self.reduce_share > 1:
            raise ValueError(f"margin_calls: top_up_share + reduce_share is {self.top_up_share + self.reduce_share}, above 1")
        to_ppm(self.call_level, "margin_calls.call_level")
        to_ppm(self.reduce_fraction, "margin_calls.reduce_fraction")
        return self


class DynamicMarginConfig(Section):
    """Dynamic margin: the markets' maintenance rates rise with realised volatility and open interest (off by default).

    Each `interval_s` a market's rates become its listed bracket rates times a multiplier:
    max(1, EWMA vol of the mark / `reference_vol`) x (1 + `oi_sensitivity` x max(0, open
    interest / `oi_reference` - 1)), kept within [`floor`, `cap`] and moved at most
    `max_rise` up and `max_fall` down (fractions of the current multiplier) per interval
    (`clearing.core.dynamic_margin`). The initial rate scales with it.
    """

    enabled: bool = False
    interval_s: float = Field(default=60, ge=0.001)
    halflife_s: float = Field(default=3600, gt=0, description="half-life of the EWMA of the mark's squared returns")
    reference_vol: float = Field(default=0.6, gt=0, le=20, description="annualised volatility the listed rates are for")
    oi_reference: Annotated[Decimal, Field(ge=0, allow_inf_nan=False)] = Field(
        default=Decimal(0), description="open interest (quote) above which rates rise; 0: open interest does not count"
    )
    oi_sensitivity: float = Field(default=0.0, ge=0, le=100)
    floor: float = Field(default=1.0, ge=0.1, le=100)
    cap: float = Field(default=3.0, ge=0.1, le=100)
    max_rise: float = Field(default=0.25, ge=0, le=10)
    max_fall: float = Field(default=0.05, ge=0, lt=1)

    @model_validator(mode="after")
    def _ordered(self) -> DynamicMarginConfig:
        if self.floor > self.cap:
            raise ValueError(f"dynamic_margin.floor {self.floor} exceeds cap {self.cap}")
        return self


class InsuranceFundConfig(Section):
    """The insurance fund's starting balance and payout caps (0: no cap)."""

    initial: Annotated[Decimal, Field(ge=0, allow_inf_nan=False)] = Decimal(1_000_000)
    max_per_event: Annotated[Decimal, Field(ge=0, allow_inf_nan=False)] = Decimal(0)
    max_per_period: Annotated[Decimal, Field(ge=0, allow_inf_nan=False)] = Decimal(0)
    period_s: float = Field(default=3600, gt=0)
