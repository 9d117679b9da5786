"""The `[funding]` section: how a venue samples, averages, caps and pays its funding rate (`clearing.core.funding`)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field, model_validator

from clearing.scenario.sections import PositiveDecimal, Rate, Section
from clearing.units import to_units


class FundingConfig(Section):
    """Funding: premium samples, an average, the period's rate with its interest and cap, and each interval's share of
    it paid on the mark or the oracle price (`clearing.core.funding`; the defaults are Binance's)."""

    enabled: bool = True
    interval_s: float = Field(default=28_800, ge=0.001, description="time between payments")
    sample_s: float = Field(default=60, ge=0.001)
    impact_notional: PositiveDecimal = Decimal(4000)
    interest_rate: Annotated[Decimal, Field(ge=-1, lt=1)] = Decimal("0.0001")
    clamp: Rate = Decimal("0.0005")
    cap: Rate = Decimal("0.003")
    rate_period_s: float | None = Field(
        default=None, gt=0, description="the period the rate (interest, clamp, cap) is stated for; each payment is "
        "interval_s / rate_period_s of it (Hyperliquid, dYdX: 8 h paid hourly; Drift: a day). Default: interval_s",
    )  # fmt: skip
    average: Literal["weighted", "mean", "padded_mean"] = Field(
        default="weighted", description="weighted: weights 1..n (Binance); mean (Hyperliquid, Drift); padded_mean: "
        "missing samples count as zero (dYdX)",
    )  # fmt: skip
    interest_mode: Literal["clamped", "added"] = Field(
        default="clamped", description="clamped: P + clamp(I - P, +-clamp) (Binance, BitMEX, Hyperliquid); added: "
        "P + I (dYdX's default funding, Drift's 1/5000 a day)",
    )  # fmt: skip
    premium: Literal["impact", "impact_mid"] = Field(
        default="impact", description="impact: the impact bid/ask premium; impact_mid: (impact mid - oracle) / oracle "
        "(Drift's mark TWAP less its oracle TWAP)",
    )  # fmt: skip
    sample_clamp: Rate = Field(default=Decimal(0), description="each sample clamped to +-this (0: none; dYdX)")
    pays_on: Literal["mark", "oracle"] = Field(
        default="mark", description="the price positions are valued at for payments: mark (Binance, BitMEX) or "
        "oracle (Hyperliquid, dYdX, Drift)",
    )  # fmt: skip
    cap_margin_factor: Annotated[Decimal, Field(ge=0, le=1000)] | None = Field(
        default=None, description="the cap is this multiple of (initial - maintenance margin rate) (dYdX: 6)"
    )
    sample_clamp_margin_factor: Annotated[Decimal, Field(ge=0, le=1000)] | None = Field(
        default=None, description="the sample clamp is this multiple of (initial - maintenance margin rate) (dYdX: 60)"
    )
    impact_margin: PositiveDecimal | None = Field(
        default=None, description="the impact notional is this margin over the initial margin rate (Binance: 200)"
    )

    @model_validator(mode="after")
    def _exact_rates(self) -> FundingConfig:
        for name in ("interest_rate", "clamp", "cap", "sample_clamp"):
            to_units(getattr(self, name), Decimal("1e-9"), f"funding.{name}")
        for name in ("cap_margin_factor", "sample_clamp_margin_factor"):
            if getattr(self, name) is not None:
                to_units(getattr(self, name), Decimal("1e-6"), f"funding.{name}")
        if self.average == "padded_mean" and self.sample_s > self.interval_s:
            raise ValueError("funding.average padded_mean: sample_s is longer than interval_s")
        return self
