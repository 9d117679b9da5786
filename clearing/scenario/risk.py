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
    partial: Literal["none", "fraction", "restore"] = "none"
    partial_fraction: Rate = Decimal("0.2")
    partial_min_notional: Annotated[Decimal, Field(ge=0)] = Decimal(0)
    cooldown_s: float = Field(default=0.0, ge=0)
    block_ms: int = Field(default=1000, ge=1)
    max_per_block: int = Field(default=0, ge=0, description="0: no cap")
    max_notional_per_block: Annotated[Decimal, Field(ge=0)] = Field(default=Decimal(0), description="per account; 0: no cap")
    detection_latency_ms: int = Field(default=0, ge=0)
    adl_ranking: Literal["pnl_leverage", "random", "pro_rata"] = "pnl_leverage"


class PortfolioConfig(Section):
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


class InsuranceFundConfig(Section):
    """The insurance fund's starting balance and payout caps (0: no cap)."""

    initial: Annotated[Decimal, Field(ge=0, allow_inf_nan=False)] = Decimal(1_000_000)
    max_per_event: Annotated[Decimal, Field(ge=0, allow_inf_nan=False)] = Decimal(0)
    max_per_period: Annotated[Decimal, Field(ge=0, allow_inf_nan=False)] = Decimal(0)
    period_s: float = Field(default=3600, gt=0)
