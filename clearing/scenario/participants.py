"""Scenario sections of who trades: market makers, noise takers, arbitrageurs, the leveraged population, the backstop."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field, model_validator

from clearing.scenario.sections import PositiveDecimal, Section


class MarketMakersConfig(Section):
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


class OptionMakersConfig(MarketMakersConfig):
    """Market makers of the option markets: each quotes around its option's model value at the underlying's index.

    The perpetuals' makers' ladder, in bps of the premium: the spread widens with the
    underlying's volatility (`calm_volatility` is the underlying's calm level) and skews with
    inventory, and the ladder thins out under stress; an unchanged ladder is left resting.
    `anchor` and the depth keys do not apply (refused unless left alone). Defaults: one maker
    per option, refreshing every 5 s, spreads of 1 %.
    """

    count: int = Field(default=1, ge=0, le=1000)
    refresh_ms: int = Field(default=5000, ge=1)
    levels: int = Field(default=5, ge=1, le=200)
    half_spread_bps: float = Field(default=100.0, ge=0)
    level_spacing_bps: float = Field(default=100.0, gt=0)
    level_notional: PositiveDecimal = Decimal(20_000)
    calm_volatility: float = Field(default=0.6, gt=0, description="the underlying's calm annualised volatility")
    volatility_halflife_s: float = Field(default=120, gt=0)
    inventory_limit: PositiveDecimal = Field(default=Decimal(2_000_000), description="notional at the initial price")
    skew_bps: float = Field(default=100.0, ge=0)
    collateral: PositiveDecimal = Decimal(100_000_000)

    @model_validator(mode="after")
    def _model_anchor(self) -> OptionMakersConfig:
        depth = self.depth_profile or self.depth_scale != 1.0 or self.depth_optional or self.depth_sides != "both"
        if self.anchor != "index" or depth:
            raise ValueError("option makers quote around the model value: anchor and depth_* do not apply")
        return self


class NoiseTakersConfig(Section):
    """Poisson market-order flow."""

    count: int = Field(default=2, ge=0, le=1000)
    rate_per_s: float = Field(default=0.5, gt=0)
    median_notional: PositiveDecimal = Decimal(2000)
    sigma: float = Field(default=1.0, ge=0, le=5)
    buy_fraction: float = Field(default=0.5, ge=0, le=1)
    collateral: PositiveDecimal = Decimal(100_000_000)


class OptionTakersConfig(NoiseTakersConfig):
    """Poisson market-order flow on each option market (the noise takers trade the perpetuals and futures).

    Option series trade far less often than perpetuals: by default one taker per option,
    an order every 50 s on average.
    """

    count: int = Field(default=1, ge=0, le=1000)
    rate_per_s: float = Field(default=0.02, gt=0)
    median_notional: PositiveDecimal = Decimal(2000)
    collateral: PositiveDecimal = Decimal(50_000_000)


class ArbitrageursConfig(Section):
    """Traders who push the perpetual back toward the index within a capital limit."""

    count: int = Field(default=1, ge=0, le=1000)
    interval_ms: int = Field(default=1000, ge=1)
    threshold_bps: float = Field(default=10.0, ge=0)
    max_order_notional: PositiveDecimal = Decimal(1_000_000)
    max_position_notional: PositiveDecimal = Decimal(20_000_000)
    collateral: PositiveDecimal = Decimal(100_000_000)


def largest_remainder(shares: list[float], total: int) -> list[int]:
    """Return `total` split by `shares` (summing to 1): floors, the rest to the largest remainders (ties to the earlier)."""
    exact = [share * total for share in shares]
    counts = [int(x) for x in exact]
    for i in sorted(range(len(shares)), key=lambda i: (-(exact[i] - counts[i]), i))[: total - sum(counts)]:
        counts[i] += 1
    return counts


class StrategyConfig(Section):
    """One portfolio type of the population: its share of the traders, its legs, and its delta hedge.

    `legs` maps a market's symbol to a multiple of the trader's drawn notional, its sign the
    side (long > 0); an option leg's multiple is of its underlying notional (contracts x the
    underlying's price). With `drawn_side` each trader's drawn side (`long_fraction`) flips
    every leg, as for directional traders. With a `hedge` market, the trader's options are
    delta-hedged on it: at entry, and every `hedge_interval_s` when the net delta exceeds
    `delta_band` of the options' underlying exposure.
    """

    name: str = Field(min_length=1, max_length=40, pattern=r"^[a-z0-9_-]+$",
                      description="the portfolio type's name (lowercase, distinct); the log's `strategy_assigned` names it")
    share: float = Field(gt=0, le=1, description="the share of the traders of this type (the shares sum to 1)")
    legs: dict[str, Annotated[float, Field(ge=-100, le=100)]] = Field(
        min_length=1, description="market symbol -> multiple of the drawn notional, its sign the side (long > 0)"
    )
    drawn_side: bool = Field(default=False, description="true: each trader's drawn side flips every leg")
    hedge: str = Field(default="", description="a perpetual or future the options are delta-hedged on")
    delta_band: float = Field(default=0.1, ge=0, le=10,
                              description="re-hedge when the net delta exceeds this share of the options' underlying exposure")
    hedge_interval_s: float = Field(default=60, ge=0.001, description="how often the hedge is checked, seconds")

    @model_validator(mode="after")
    def _some_leg(self) -> StrategyConfig:
        if not any(self.legs.values()):
            raise ValueError(f"strategy {self.name!r}: legs needs a non-zero multiple")
        return self


class StopLossConfig(Section):
    """Stop-losses (off by default): a share of the traders closes its position when the mark crosses its stop.

    Each trader draws at entry whether it uses one (`fraction`) and its distance from its
    entry price, lognormal with median `distance` and log-sd `distance_sigma` (capped at
    `distance_max`): a long's stop is entry x (1 - d), a short's entry x (1 + d). When a mark
    reaches it (the trigger Binance calls `workingType=MARK_PRICE`) the trader sends one
    reduce-only market order for its whole position, citing that mark.
    """

    enabled: bool = False
    fraction: float = Field(default=0.3, ge=0, le=1)
    distance: float = Field(default=0.05, gt=0, lt=1)
    distance_sigma: float = Field(default=0.5, ge=0, le=5)
    distance_max: float = Field(default=0.5, gt=0, lt=1)


class ReentryConfig(Section):
    """Re-entry (off by default): a trader liquidated or stopped out opens again, with a probability, after a delay.

    Each time a trader's position is closed by its liquidation or its stop, it draws whether
    it comes back (`fraction`) and an exponential delay of mean `delay_mean_s`; then it
    deposits margin again and opens the same side, at the same leverage and the same drawn
    notional, at the price of that moment (re-entering as often as it is closed out).
    """

    enabled: bool = False
    fraction: float = Field(default=0.3, ge=0, le=1)
    delay_mean_s: float = Field(default=1800, ge=0)


class PopulationConfig(Section):
    """Leveraged traders, each holding one isolated position opened during the entry window.

    Leverage is drawn from `leverage` with `leverage_weights` ("choices"), or from a
    lognormal ("lognormal") of median `leverage_median` and log-sd `leverage_sigma`, clipped
    to [1, `leverage_max`]; 0 for either fits it to the choices' distribution function.
    With `history_s`, entry times are uniform on [-history_s, entry_window_s]: a trader who
    entered before the start holds a position opened at the price of a synthetic
    pre-history (a driftless geometric Brownian path of annualised volatility
    `history_volatility`, one step a minute, ending at the first price), conditioned on
    having survived it (`clearing.core.agents.history`).
    """

    accounts: int = Field(default=10_000, ge=1, le=1_000_000)
    long_fraction: float = Field(default=0.6, ge=0, le=1)
    notional_median: PositiveDecimal = Decimal(5000)
    notional_sigma: float = Field(default=1.0, ge=0, le=5)
    notional_max: PositiveDecimal = Decimal(1_000_000)
    leverage: tuple[Annotated[int, Field(ge=1)], ...] = (2, 5, 10, 20, 50)
    leverage_weights: tuple[Annotated[float, Field(gt=0)], ...] = (0.2, 0.3, 0.3, 0.15, 0.05)
    leverage_distribution: Literal["choices", "lognormal"] = "choices"
    leverage_median: float = Field(default=0, ge=0, description="lognormal: 0 fits it to the choices")
    leverage_sigma: float = Field(default=0, ge=0, le=5, description="lognormal: 0 fits it to the choices")
    leverage_max: float = Field(default=125, ge=1, le=1000)
    entry_window_s: float = Field(default=1800, ge=0)
    history_s: float = Field(default=0, ge=0, le=30 * 86_400, description="entries before the start, seconds")
    history_volatility: float = Field(default=0.6, gt=0, le=10, description="the pre-history's annualised volatility")
    stop_loss: StopLossConfig = StopLossConfig()
    reentry: ReentryConfig = ReentryConfig()
    holding_mean_s: float = Field(default=0, ge=0, description="0: hold to the end")
    collateral_asset: str = Field(default="", description="asset some traders post margin in")
    collateral_fraction: float = Field(default=0.0, ge=0, le=1)
    margin_mode: Literal["isolated", "cross", "portfolio"] = "isolated"
    margin_modes: dict[Literal["isolated", "cross", "portfolio"], Annotated[float, Field(ge=0, le=1)]] = Field(
        default_factory=dict, description="shares of the traders in each margin mode, summing to 1 (overrides margin_mode)"
    )
    entry: Literal["book", "backstop"] = Field(
        default="book", description="'backstop': positions open by a trade with the backstop at the mark, not the book"
    )
    legs: tuple[Annotated[float, Field(ge=-100, le=100)], ...] = Field(
        default=(1.0,), description="position on each market (primary first) as a multiple of the drawn notional"
    )
    strategies: tuple[StrategyConfig, ...] = Field(
        default=(), description="portfolio types with their shares of the traders (replace `legs`)"
    )

    @model_validator(mode="after")
    def _weights_match(self) -> PopulationConfig:
        if not self.leverage:
            raise ValueError("leverage needs at least one value")
        if not any(self.legs):
            raise ValueError("legs needs at least one non-zero multiple")
        if len(self.leverage_weights) != len(self.leverage):
            raise ValueError(f"leverage_weights has {len(self.leverage_weights)} values, leverage has {len(self.leverage)}")
        if self.leverage_distribution == "lognormal" and self.leverage_median > self.leverage_max:
            raise ValueError(f"leverage_median {self.leverage_median} is above leverage_max {self.leverage_max}")
        if self.leverage_distribution == "lognormal" and 0 < self.leverage_median < 1:
            raise ValueError(f"leverage_median {self.leverage_median} is below 1")
        if self.margin_modes and abs(sum(self.margin_modes.values()) - 1.0) > 1e-9:
            raise ValueError(f"margin_modes shares sum to {sum(self.margin_modes.values())}, not 1")
        if self.strategies and abs(sum(x.share for x in self.strategies) - 1.0) > 1e-9:
            raise ValueError(f"strategies' shares sum to {sum(x.share for x in self.strategies)}, not 1")
        if len({x.name for x in self.strategies}) != len(self.strategies):
            raise ValueError("strategies need distinct names")
        return self

    def strategy_counts(self) -> list[tuple[str, int]]:
        """Return how many traders each strategy holds, in the order given, by largest remainder (none: [])."""
        return list(zip([x.name for x in self.strategies], largest_remainder([x.share for x in self.strategies], self.accounts),
                        strict=True))  # fmt: skip

    def mode_counts(self) -> list[tuple[str, int]]:
        """Return how many traders each margin mode holds, in the order isolated, cross, portfolio (modes with none left out).

        `margin_modes`' shares times `accounts`, rounded by largest remainder (ties to the
        earlier mode); without shares every trader is in `margin_mode`.
        """
        if not self.margin_modes:
            return [(self.margin_mode, self.accounts)]
        order = [m for m in ("isolated", "cross", "portfolio") if self.margin_modes.get(m, 0.0) > 0]  # type: ignore[call-overload]
        counts = largest_remainder([self.margin_modes[m] for m in order], self.accounts)  # type: ignore[index]
        return [(m, n) for m, n in zip(order, counts, strict=True) if n]

    def uses(self, mode: str) -> bool:
        """Return whether any trader is margined in `mode`."""
        return any(m == mode for m, _n in self.mode_counts())


class LiquidityProviderConfig(Section):
    """The exchange's backstop liquidity account: takes the other side of entries and liquidations."""

    collateral: PositiveDecimal = Decimal(1_000_000_000)
