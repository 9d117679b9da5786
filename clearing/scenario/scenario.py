"""The scenario: a whole run described, validated and hashed; its derived integer units."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from clearing.core.dynamic_margin import rate_step
from clearing.core.inverse import coin_per_lot_tick
from clearing.errors import ConfigError
from clearing.scenario.discovery import PriceDiscoveryConfig
from clearing.scenario.forks import ForkConfig
from clearing.scenario.funding import FundingConfig
from clearing.scenario.overrides import apply_override, format_error
from clearing.scenario.participants import (
    ArbitrageursConfig,
    LiquidityProviderConfig,
    MarketMakersConfig,
    NoiseTakersConfig,
    OptionMakersConfig,
    OptionTakersConfig,
    PopulationConfig,
)
from clearing.scenario.risk import (
    DynamicMarginConfig,
    InsuranceFundConfig,
    LiquidationConfig,
    MarginCallsConfig,
    PortfolioConfig,
)
from clearing.scenario.sections import (
    INSTRUMENT_FIELDS,
    CollateralConfig,
    CorrelationConfig,
    HestonConfig,
    ListedMarketConfig,
    MarkConfig,
    MarketConfig,
    OracleConfig,
    PriceConfig,
    Section,
    VolatilityConfig,
)
from clearing.units import INT64_MAX, NS_PER_S, to_ppm, to_units

# Top-level sections added after the first logs: `canonical_json` leaves each out while it
# holds its default, so the scenario hash (and run id) of an older scenario never changes.
ADDED_FIELDS = {
    "population": ("margin_modes", "strategies", "leverage_distribution", "leverage_median", "leverage_sigma",
                   "leverage_max", "history_s", "history_volatility", "stop_loss", "reentry"),
    "portfolio": ("grid", "span", "es"),
    "liquidation": ("multi_leg", "engine"),
    "funding": ("rate_period_s", "average", "interest_mode", "premium", "sample_clamp", "pays_on", "cap_margin_factor",
                "sample_clamp_margin_factor", "impact_margin"),
}  # fields of older sections added later
ADDED_GUARD_FIELDS = ("liquidation_validity", "twap_s", "too_volatile_ratio", "max_twap_divergence")  # of oracle.guards
ADDED_SECTIONS = ("volatility", "option_makers", "option_takers", "correlation", "heston", "dynamic_margin", "margin_calls",
                  "price_discovery")


# Every time a scenario gives (a field named *_s or *_ms: an expiry, a window, a delay) is at most ten years, so each,
# in nanoseconds and added to another, stays far inside int64.
MAX_TIME_S = 10 * 365 * 86_400


def _check_times(model: BaseModel, where: str) -> None:
    # Walks the sections, lists and maps of `model`; raises naming the first time out of range by its dotted path.
    for name in type(model).model_fields:
        value = getattr(model, name)
        path = f"{where}{name}"
        scale = 1 if name.endswith("_s") else 1000 if name.endswith("_ms") else 0
        timed = scale and "per_" not in name and isinstance(value, int | float) and not isinstance(value, bool)
        if timed and not value <= MAX_TIME_S * scale:  # NaN too
            raise ValueError(f"{path}: {value:g} is beyond ten years ({MAX_TIME_S * scale:g}); times must be shorter")
        items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, tuple | list) else ()
        if isinstance(value, BaseModel):
            _check_times(value, f"{path}.")
        for key, item in items:
            if isinstance(item, BaseModel):
                _check_times(item, f"{path}.{key}.")


class Scenario(Section):
    """A whole run: validated, immutable, hashable."""

    name: str = Field(min_length=1, max_length=120, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    description: str = ""
    epoch: datetime = datetime(2024, 1, 1, tzinfo=UTC)
    duration_s: float = Field(gt=0, le=30 * 86_400)
    checkpoint_interval_s: float = Field(default=600, ge=0.001)
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
    volatility: VolatilityConfig = Field(default=VolatilityConfig(), description="the surface options are priced on")
    option_makers: OptionMakersConfig = Field(default=OptionMakersConfig(), description="makers of the option markets")
    option_takers: OptionTakersConfig = Field(default=OptionTakersConfig(), description="noise flow on the option markets")
    correlation: CorrelationConfig = Field(default=CorrelationConfig(), description="jointly drawn synthetic paths")
    heston: HestonConfig = Field(default=HestonConfig(), description="stochastic volatility of price.model heston")
    dynamic_margin: DynamicMarginConfig = Field(default=DynamicMarginConfig(), description="rates that follow volatility")
    margin_calls: MarginCallsConfig = Field(default=MarginCallsConfig(), description="calls below the initial requirement")
    price_discovery: PriceDiscoveryConfig = Field(default=PriceDiscoveryConfig(), description="liquidations move the index")
    fork: ForkConfig | None = Field(default=None, description="changes scheduled by `clearing fork`; absent: none")

    @field_validator("epoch")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None or value.utcoffset() is None or value.utcoffset().total_seconds() != 0:  # type: ignore[union-attr]
            raise ValueError("epoch must be a UTC time, e.g. 2020-03-12T00:00:00Z")
        return value.astimezone(UTC)

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        _check_times(self, "")
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
        kinds = {listed.symbol: listed.kind for listed, _ in self.listed()}
        for i, (listed, _) in enumerate(self.listed()):
            where = "market" if i == 0 else f"markets.{i - 1}"
            if listed.underlying and listed.underlying not in symbols:
                raise ValueError(f"{where}.underlying {listed.underlying!r} is not a listed market's symbol")
            if listed.kind == "option" and kinds[listed.underlying] == "option":
                raise ValueError(f"{where}.underlying {listed.underlying!r} is an option; options are on perpetuals or futures")
            if listed.kind == "option" and listed.strike is not None:  # whole in the underlying's ticks (as the reducer holds)
                under = next(u for u, _ in self.listed() if u.symbol == listed.underlying)
                ticks = to_units(listed.strike, under.tick_size, f"{where}.strike (in {listed.underlying}'s ticks)")
                if ticks >= 2**62:
                    raise ValueError(f"{where}.strike {listed.strike} is beyond the integers of {listed.underlying}'s ticks")
                tick_value = listed.lot_size * under.tick_size * 10**m.quote_decimals  # of one lot, quote minor units
                if tick_value != tick_value.to_integral_value():
                    raise ValueError(f"{where}.lot_size {listed.lot_size} times {listed.underlying}'s tick "
                                     f"({under.tick_size}) is not a whole number of quote minor units")  # fmt: skip
            if listed.kind == "option" and i < len(self.population.legs) and self.population.legs[i]:
                raise ValueError(
                    f"population.legs gives option {listed.symbol!r} a multiple; traders hold perpetuals and futures"
                )
        self._check_dynamics(symbols)
        self._check_inverse(symbols, assets)
        if self.dynamic_margin.enabled:
            for listed, _ in self.listed():
                step = rate_step(tuple(listed.bracket_units()[0]))
                if step > 100:
                    raise ValueError(f"dynamic_margin: {listed.symbol}'s bracket floors allow rates only in steps of {step} "
                                     "ppm; use floors that are whole multiples of 10,000 minor units")  # fmt: skip
        for i, extra in enumerate(self.markets):
            if extra.quote_decimals != m.quote_decimals:
                raise ValueError(f"markets.{i}: quote_decimals {extra.quote_decimals} differs from market's {m.quote_decimals}")
            to_units(extra.price.initial, extra.tick_size, f"markets.{i}.price.initial")
        for strategy in self.population.strategies:
            for symbol in (*strategy.legs, *([strategy.hedge] if strategy.hedge else [])):
                if symbol not in kinds:
                    raise ValueError(f"population.strategies {strategy.name!r}: {symbol!r} is not a listed market's symbol")
            if strategy.hedge and kinds[strategy.hedge] not in ("linear_perpetual", "future"):
                raise ValueError(
                    f"population.strategies {strategy.name!r}: hedge {strategy.hedge!r} is not a perpetual or future"
                )
            if strategy.hedge and not any(kinds[symbol] == "option" for symbol in strategy.legs):
                raise ValueError(f"population.strategies {strategy.name!r}: a hedge needs an option leg")
            if any(kinds[symbol] == "inverse_perpetual" for symbol in strategy.legs):
                raise ValueError(f"population.strategies {strategy.name!r}: inverse perpetuals are not strategy legs")
        underlyings = {listed.symbol for listed, _ in self.listed() if listed.kind != "option" and not listed.underlying}
        for symbol in self.portfolio.es.stress_files:
            if symbol not in underlyings:
                raise ValueError(f"portfolio.es.stress_files: {symbol!r} is not an underlying (a listed perpetual, or a "
                                 "future on no other market)")  # fmt: skip
        for section in ("span", "es"):
            if self.portfolio.method != section and getattr(self.portfolio, section) != type(self.portfolio).model_fields[
                section
            ].get_default(call_default_factory=True):
                raise ValueError(f"portfolio.{section} is set but portfolio.method is {self.portfolio.method!r}")
        if len(self.population.legs) > len(symbols):
            raise ValueError(f"population.legs has {len(self.population.legs)} multiples for {len(symbols)} market(s)")
        for c in self.collateral:
            to_units(c.price, m.minor_unit, f"collateral {c.asset} price")
            to_ppm(c.haircut, f"collateral {c.asset} haircut")
        mmr = max(market.bracket_units()[1][0] for market, _ in self.listed())
        if self.price_discovery.weight and any(m.kind == "option" for m, _ in self.listed()):
            raise ValueError("price_discovery.weight: options are priced from their underlying's drawn path; "
                             "an endogenous index needs a scenario without options")  # fmt: skip
        p = self.population
        behaviours = [name for name, on in (("history_s", p.history_s > 0), ("stop_loss", p.stop_loss.enabled),
                                            ("reentry", p.reentry.enabled)) if on]  # fmt: skip
        if behaviours and (p.strategies or sum(1 for x in p.legs if x) != 1 or not p.legs[0]):
            raise ValueError(f"population.{behaviours[0]} needs traders holding one position on the first market "
                             "(no strategies, legs = [1])")  # fmt: skip
        if behaviours and self.listed()[0][0].kind not in ("linear_perpetual", "future"):
            raise ValueError(f"population.{behaviours[0]} needs a linear perpetual or future as the first market")
        levers = p.leverage if p.leverage_distribution == "choices" else (p.leverage_max,)
        for leverage in levers:
            if leverage * mmr >= 1_000_000:
                raise ValueError(
                    f"population.{'leverage' if p.leverage_distribution == 'choices' else 'leverage_max'} {leverage:g}x "
                    "leaves no room above maintenance margin "
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

    def _check_inverse(self, symbols: list[str], assets: list[str]) -> None:
        # Inverse perpetuals settle in a listed asset without a haircut, priced by a market
        # (`follows`); the liquidation rules written only in quote are refused with them.
        kinds = {listed.symbol: listed.kind for listed, _ in self.listed()}
        for c in self.collateral:
            if c.follows and c.follows not in symbols:
                raise ValueError(f"collateral {c.asset}: follows {c.follows!r} is not a listed market's symbol")
            if c.follows and kinds[c.follows] == "option":
                raise ValueError(f"collateral {c.asset}: follows {c.follows!r}, an option; follow its underlying")
        inverse = [listed for listed, _ in self.listed() if listed.kind == "inverse_perpetual"]
        for listed in inverse:
            if listed.settlement_asset not in assets:
                raise ValueError(
                    f"{listed.symbol}: settlement_asset {listed.settlement_asset!r} is not a listed collateral asset"
                )
            asset = self.collateral[assets.index(listed.settlement_asset)]
            if asset.haircut:
                raise ValueError(f"{listed.symbol}: settlement asset {listed.settlement_asset!r} must have no haircut")
            try:
                coin_per_lot_tick(listed.unit_value, listed.quote_decimals, str(listed.tick_size), asset.decimals)
            except ValueError as e:
                raise ValueError(f"{listed.symbol}: lot_size {listed.lot_size} x 10^{asset.decimals} / tick_size: {e}") from None
        if not inverse:
            return
        refused = {"fund": "liquidation.execution \"fund\"", "fillable": "liquidation.execution \"fillable\""}
        if self.liquidation.execution in refused:
            raise ValueError(f"{refused[self.liquidation.execution]} is not modelled for inverse perpetuals; use book, "
                             "bankruptcy or vault")  # fmt: skip
        if self.population.uses("portfolio"):
            raise ValueError("portfolio margin of inverse perpetuals is not modelled; use isolated or cross margin")

    def _check_fork(self, fork: ForkConfig) -> None:
        if fork.at_s >= self.duration_s:
            raise ValueError(f"fork.at_s {fork.at_s} is not inside the run (duration_s {self.duration_s})")
        after = self.after_fork()  # the overridden scenario must itself be valid
        for key in fork.set:
            why = fork_effect(self, after, key)
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
            raise ValueError(format_error("fork.set", e)) from None

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

    def quote_minor(self, amount: Decimal) -> int:
        """Return a quote amount in exact minor units."""
        return to_units(amount, self.market.minor_unit, "amount")

    def _check_dynamics(self, symbols: list[str]) -> None:
        # The correlated markets draw GBM paths on one clock; Heston surfaces need Heston paths.
        prices = {market.symbol: price for market, price in self.listed()}
        for name in self.correlation.markets:
            if name not in symbols:
                raise ValueError(f"correlation.markets names {name!r}, not a listed market's symbol")
            if prices[name].model != "gbm":
                raise ValueError(f"correlation.markets: {name!r} has price.model {prices[name].model!r}; it must be gbm")
        if len({prices[name].step_ms for name in self.correlation.markets}) > 1:
            raise ValueError("correlation.markets must share one price.step_ms")
        if self.volatility.model == "heston":
            for market, _ in self.listed():
                if market.kind == "option" and prices[market.underlying].model != "heston":
                    raise ValueError(f"volatility.model heston: underlying {market.underlying!r} needs price.model heston")

    def canonical_json(self) -> str:
        """Return the canonical JSON the log header stores and hashes.

        A scenario without a fork section serialises without the `fork` key, the sections
        of `ADDED_SECTIONS` are left out at their defaults, and a perpetual market without its
        instrument fields (`INSTRUMENT_FIELDS`), as before they existed,
        so older logs keep their scenario hash and run id.
        """
        exclude: dict[str, Any] = {"fork": True} if self.fork is None else {}
        for name in ADDED_SECTIONS:  # sections added after logs were first written: left out at their defaults
            if getattr(self, name) == type(self).model_fields[name].default:
                exclude[name] = True
        if self.market.instrument_defaults():
            exclude["market"] = set(INSTRUMENT_FIELDS)
        perpetuals = {i: set(INSTRUMENT_FIELDS) for i, m in enumerate(self.markets) if m.instrument_defaults()}
        if perpetuals:
            exclude["markets"] = perpetuals
        for section, fields in ADDED_FIELDS.items():  # fields added later: left out at their defaults
            value = getattr(self, section)
            defaults = type(value).model_fields
            left = {f for f in fields if getattr(value, f) == defaults[f].get_default(call_default_factory=True)}
            if left:
                exclude[section] = left
        guards = self.oracle.guards  # oracle.guards fields added later: left out at their defaults
        left = {f for f in ADDED_GUARD_FIELDS if getattr(guards, f) == type(guards).model_fields[f].default}
        if left:
            exclude["oracle"] = {"guards": left}
        own_paths = {i: {"follows"} for i, c in enumerate(self.collateral) if not c.follows}
        if own_paths:  # `follows` came later: an asset on its own path serialises as before
            exclude["collateral"] = own_paths
        return self.model_dump_json(exclude=exclude or None)

    def hash(self) -> str:
        """Return the SHA-256 hex digest of `canonical_json`."""
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()


def fork_effect(before: Scenario, after: Scenario, key: str) -> str | None:
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
        "liquidation.margin_buffer": (q.partial == "shortage", "only partial shortage reads it"),
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
