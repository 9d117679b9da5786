"""`compile_params`: a scenario turned into the run's parameters, once, in exact integer units.

Every unit conversion of a scenario happens here (prices to ticks, amounts to quote minor
units, rates to ppm or ppb, times to nanoseconds), so the SimPy shell reads numbers it can
use as they are and never converts. `RunParams` is frozen; a run holds one, and a fork
replaces the whole set at its time with the parameters of the changed scenario
(`Scenario.after_fork`), compiled the same way (decision 0013).

Random draws are not parameters: the index paths, the population, oracle sources' random
outage windows and the collateral paths come from the seed, in the world.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import NamedTuple

from clearing.core.agents.arbitrageur import ArbitrageParams
from clearing.core.agents.market_maker import Anchor
from clearing.core.agents.noise import NoiseParams
from clearing.core.dynamic_margin import DynamicParams
from clearing.core.funding import FundingParams
from clearing.core.heston import HestonParams
from clearing.core.liquidation.params import (
    AdlRanking,
    AfterFund,
    Execution,
    LiquidationParams,
    MultiLeg,
    Partial,
    QueuePriority,
)
from clearing.core.mark import MarkMethod, MarkParams
from clearing.core.market import MarketTerms
from clearing.core.oracle import (
    Aggregation,
    CollateralOracleParams,
    LatencyModel,
    OracleParams,
    Policy,
    Reference,
    SourceSpec,
)
from clearing.scenario.holdings import (
    MarginCallParams,
    PopulationParams,
    PortfolioParams,
    margin_call_params,
    population_params,
    portfolio_params,
)
from clearing.scenario.participants import MarketMakersConfig, NoiseTakersConfig
from clearing.scenario.pricing import (
    ContractParams,
    CorrelationParams,
    VolatilityParams,
    contract_params,
    correlation_params,
    dynamic_params,
    heston_params,
    volatility_params,
)
from clearing.scenario.scenario import Scenario
from clearing.scenario.sections import (
    CollateralConfig,
    MarketConfig,
    OracleSourceConfig,
    OracleWindow,
    PriceConfig,
    PriceShock,
)
from clearing.units import NS_PER_MS, NS_PER_S, to_ppm, to_units

Shock = tuple[int, int, float]  # start ns, duration ns, change (a fraction)
Window = tuple[int, int]  # [start, end) ns


class IndexParams(NamedTuple):
    """A market's exogenous index: a generated path or a tape, in ticks and ns."""

    model: str  # "gbm", "jump" or "tape"
    initial_ticks: int
    step_ns: int
    volatility: float  # annualised
    drift: float  # annualised
    shocks: tuple[Shock, ...]
    jump_intensity_per_day: float
    jump_mean: float
    jump_stdev: float
    kind: str  # tapes: "bars" or "trades"
    files: tuple[str, ...]  # tapes: data file names, in order
    start_ms: int  # tapes: where time 0 falls, epoch ms
    hourly: tuple[tuple[str, Decimal, Decimal, Decimal, Decimal], ...]  # the hourly path written in the scenario


class MarketParams(NamedTuple):
    """One listed market: what `market_listed` records, its order-entry terms and its index."""

    symbol: str
    tick_size: str
    lot_size: str
    quote_decimals: int
    unit_value: int
    bracket_floors: tuple[int, ...]
    bracket_rates_ppm: tuple[int, ...]
    liquidation_fee_ppm: int
    taker_fee_ppm: int
    maker_fee_ppm: int
    terms: MarketTerms
    scan_range_ppm: int
    index_path: IndexParams
    contract: ContractParams | None = None  # None: a linear perpetual


class SourceParams(NamedTuple):
    """One oracle source as the scenario writes it: its spec with the scripted outages, and the
    rate and mean length of its random outages (drawn in the world, from the seed)."""

    spec: SourceSpec
    outage_rate_per_hour: float
    outage_mean_s: float


class CollateralParams(NamedTuple):
    """A collateral asset: listing, its venue path (GBM with shocks) and its oracle."""

    asset: str
    decimals: int
    haircut_ppm: int
    price_minor: int  # quote minor units per whole asset unit, at time 0
    volatility: float
    step_ns: int
    shocks: tuple[Shock, ...]
    oracle: CollateralOracleParams
    follows: int = -1  # a market whose index path is the asset's price (-1: its own GBM)
    tick_minor: int = 0  # quote minor units per tick of that market


class MakersParams(NamedTuple):
    """The market makers of every market (per market: `per_market` makers)."""

    per_market: int
    collateral_minor: int
    refresh_ns: int
    anchor: Anchor
    levels: int
    half_spread_bps: float
    level_spacing_bps: float
    level_notional_minor: int
    calm_volatility: float
    spread_stress: float
    depth_stress: float
    halflife_ns: int
    inventory_limit_minor: int  # notional at the initial price
    skew_bps: float
    depth_profile: str  # data file name, "" for none
    depth_scale: float
    depth_mirror: bool  # both sides follow the file's ask side


class TakersParams(NamedTuple):
    """Noise takers and arbitrageurs (per market: `count` of each)."""

    noise_count: int
    noise_collateral_minor: int
    noise: NoiseParams
    arbitrageur_count: int
    arbitrageur_collateral_minor: int
    arbitrage_interval_ns: int
    arbitrage: ArbitrageParams


class QueueParams(NamedTuple):
    """The liquidation queue and its servers."""

    liquidators: int
    service_ns: int
    priority: QueuePriority
    detection_ns: int
    block_ns: int
    max_per_block: int  # 0: no cap


class FundParams(NamedTuple):
    """The insurance fund: its seed, payout caps and (execution "fund") its trading account."""

    initial_minor: int
    max_per_event_minor: int  # 0: no cap
    max_per_period_minor: int  # 0: no cap
    period_ns: int
    account: bool  # execution "fund": the fund trades through an account of its own (its limit: `LiquidationParams`)
    offload_interval_ns: int
    offload_notional_minor: int


class RunParams(NamedTuple):
    """Everything a run's processes read, in the units they use; compiled by `compile_params`."""

    duration_ns: int
    checkpoint_ns: int
    epoch_ms: int
    self_trade_prevention: str
    markets: tuple[MarketParams, ...]
    collateral: tuple[CollateralParams, ...]
    oracle: OracleParams
    sources: tuple[SourceParams, ...]  # empty: one noiseless source watching `oracle_source`
    oracle_source: str
    mark: MarkParams | None  # None: the delivered oracle price is the mark
    funding: FundingParams | None  # None: no funding
    makers: MakersParams
    takers: TakersParams
    population: PopulationParams
    backstop_collateral_minor: int
    liquidation: LiquidationParams
    queue: QueueParams
    fund: FundParams
    portfolio: PortfolioParams | None  # None: no portfolio-margined accounts
    fork_at_ns: int  # when a fork's changes take effect; 0: no fork
    volatility: VolatilityParams | None = None  # None: no options listed
    option_makers: MakersParams | None = None  # the option markets' makers; None: no options listed
    option_takers: TakersParams | None = None  # the option markets' noise takers (no arbitrageurs); None: no options
    correlation: CorrelationParams | None = None  # None: every index path drawn on its own
    heston: HestonParams | None = None  # None: no market on price.model heston
    dynamic: DynamicParams | None = None  # None: the listed rates hold all run
    margin_calls: MarginCallParams | None = None  # None: no margin calls, a breach goes straight to liquidation
    discovery: DiscoveryParams | None = None  # None: every index is its exogenous path

    def is_option(self, market: int) -> bool:
        """Return whether `market` lists an option."""
        contract = self.markets[market].contract
        return contract is not None and contract.instrument == "option"

    def makers_of(self, market: int) -> MakersParams:
        """Return the makers' parameters of `market`: the option makers' on an option, else the market makers'."""
        return self.option_makers if self.option_makers is not None and self.is_option(market) else self.makers

    def noise_of(self, market: int) -> tuple[int, int, NoiseParams]:
        """Return (count, collateral, flow) of `market`'s noise takers: the option takers' on an option."""
        t = self.option_takers if self.option_takers is not None and self.is_option(market) else self.takers
        return t.noise_count, t.noise_collateral_minor, t.noise


def _ns(seconds: float) -> int:
    return round(seconds * NS_PER_S)


def _ms(milliseconds: int) -> int:
    return milliseconds * NS_PER_MS


def _ppb(rate: Decimal) -> int:
    return to_units(rate, Decimal("1e-9"), "funding rate")


def _epoch_ms(when: datetime) -> int:
    return round(when.timestamp() * 1000)


def _shocks(shocks: tuple[PriceShock, ...]) -> tuple[Shock, ...]:
    return tuple((_ns(k.start_s), _ns(k.duration_s), k.change) for k in shocks)


def _window(w: OracleWindow) -> Window:
    return (_ns(w.start_s), _ns(w.start_s + w.duration_s))


def _index(sc: Scenario, m: MarketConfig, p: PriceConfig) -> IndexParams:
    return IndexParams(
        p.model, to_units(p.initial, m.tick_size, "price"), _ms(p.step_ms), p.volatility, p.drift, _shocks(p.shocks),
        p.jump_intensity_per_day, p.jump_mean, p.jump_stdev, p.kind, p.files, _epoch_ms(p.start or sc.epoch), p.hourly,
    )  # fmt: skip


def _market(sc: Scenario, m: MarketConfig, p: PriceConfig) -> MarketParams:
    floors, rates = m.bracket_units()
    terms = MarketTerms(
        m.self_trade_prevention, to_ppm(m.market_order_band, "market_order_band"),
        to_ppm(m.initial_margin_rate, "initial_margin_rate"), to_ppm(m.size_premium, "size_premium"),
        (sc.quote_minor(m.oi_lower_cap), sc.quote_minor(m.oi_upper_cap)), m.risk_limit_lots(),
    )  # fmt: skip
    return MarketParams(
        m.symbol, str(m.tick_size), str(m.lot_size), m.quote_decimals, m.unit_value, tuple(floors), tuple(rates),
        to_ppm(m.liquidation_fee_rate, "liquidation_fee_rate"), to_ppm(m.taker_fee_rate, "taker_fee_rate"),
        to_ppm(m.maker_fee_rate, "maker_fee_rate"), terms, to_ppm(m.scan_range, "scan_range"), _index(sc, m, p),
        contract_params(sc, m),
    )  # fmt: skip


def _oracle(sc: Scenario) -> OracleParams:
    o = sc.oracle
    return OracleParams(
        policy=Policy(o.policy), aggregation=Aggregation(o.aggregation), min_sources=o.min_sources,
        outlier_cut_ppm=to_ppm(o.outlier_cut, "oracle.outlier_cut"), source_max_age_ns=_ns(o.source_max_age_s),
        observe_interval_ns=_ms(o.observe_interval_ms), deviation_ppm=to_ppm(o.deviation, "oracle.deviation"),
        heartbeat_ns=_ns(o.heartbeat_s), cadence_ns=_ms(o.cadence_ms), inclusion_delay_ns=_ms(o.inclusion_delay_ms),
        latency_model=LatencyModel(o.latency_model), latency_ns=_ms(o.latency_ms), latency_max_ns=_ms(o.latency_max_ms),
        latency_sigma=o.latency_sigma, latency_per_breach_ns=round(o.latency_per_breach_ms * NS_PER_MS),
        latency_window_ns=_ns(o.latency_window_s), pull_interval_ns=_ms(o.pull_interval_ms), max_age_ns=_ns(o.max_age_s),
        sets_mark=MarkMethod(sc.mark.method) is MarkMethod.ORACLE,
        max_confidence_ppm=to_ppm(o.guards.max_confidence, "oracle.guards.max_confidence"),
        liquidation_max_age_ns=_ns(o.guards.liquidation_max_age_s),
        max_divergence_ppm=to_ppm(o.guards.max_mark_divergence, "oracle.guards.max_mark_divergence"),
        liquidation_validity=o.guards.liquidation_validity, twap_ns=_ns(o.guards.twap_s),
        too_volatile_ratio=o.guards.too_volatile_ratio,
        max_twap_divergence_ppm=to_ppm(o.guards.max_twap_divergence, "oracle.guards.max_twap_divergence"),
    )  # fmt: skip


def _source(s: OracleSourceConfig) -> SourceParams:
    spec = SourceSpec(
        s.name, Reference(s.reference), s.weight, _ms(s.interval_ms), _ms(s.delay_ms), s.noise_bps * 100,
        s.confidence_bps * 100, tuple(_window(w) for w in s.outages), tuple(_window(w) for w in s.frozen),
        tuple((*_window(w), w.offset) for w in s.dislocations),
    )  # fmt: skip
    return SourceParams(spec, s.outage_rate_per_hour, s.outage_mean_s)


def _collateral(sc: Scenario, c: CollateralConfig) -> CollateralParams:
    o = c.oracle
    policy = Policy(o.policy)
    oracle = CollateralOracleParams(
        policy, _ms(o.observe_interval_ms if policy is Policy.PUSH else o.cadence_ms), to_ppm(o.deviation, "deviation"),
        _ns(o.heartbeat_s), _ms(o.latency_ms),
    )  # fmt: skip
    follows, tick_minor = -1, 0
    if c.follows:
        listed = [m for m, _ in sc.listed()]
        follows = [m.symbol for m in listed].index(c.follows)
        tick_minor = to_units(listed[follows].tick_size, sc.market.minor_unit, f"collateral {c.asset} follows: tick")
    return CollateralParams(
        c.asset, c.decimals, to_ppm(c.haircut, "haircut"), to_units(c.price, sc.market.minor_unit, "collateral price"),
        c.volatility, _ms(c.step_ms), _shocks(c.shocks), oracle, follows, tick_minor,
    )  # fmt: skip


def _makers(sc: Scenario, mm: MarketMakersConfig) -> MakersParams:
    return MakersParams(
        mm.count, sc.quote_minor(mm.collateral), _ms(mm.refresh_ms), Anchor(mm.anchor), mm.levels, mm.half_spread_bps,
        mm.level_spacing_bps, sc.quote_minor(mm.level_notional), mm.calm_volatility, mm.spread_stress, mm.depth_stress,
        _ns(mm.volatility_halflife_s), sc.quote_minor(mm.inventory_limit), mm.skew_bps, mm.depth_profile, mm.depth_scale,
        mm.depth_sides == "asks",
    )  # fmt: skip


def _takers(sc: Scenario, n: NoiseTakersConfig) -> TakersParams:
    a = sc.arbitrageurs
    return TakersParams(
        n.count, sc.quote_minor(n.collateral),
        NoiseParams(n.rate_per_s, sc.quote_minor(n.median_notional), n.sigma, n.buy_fraction),
        a.count, sc.quote_minor(a.collateral), _ms(a.interval_ms),
        ArbitrageParams(a.threshold_bps, sc.quote_minor(a.max_order_notional), sc.quote_minor(a.max_position_notional)),
    )  # fmt: skip


class DiscoveryParams(NamedTuple):
    """`[price_discovery]`: the venue's weight in its index, what its price is, how fast the index reverts."""

    weight: float
    venue_price: str  # "mid" or "last"
    reversion_halflife_ns: int


def _discovery(sc: Scenario) -> DiscoveryParams | None:
    d = sc.price_discovery
    return DiscoveryParams(d.weight, d.venue_price, _ns(d.reversion_halflife_s)) if d.weight else None


def _liquidation(sc: Scenario) -> LiquidationParams:
    q = sc.liquidation
    return LiquidationParams(
        to_ppm(q.slippage, "slippage"), sc.quote_minor(q.impact_depth), to_ppm(q.max_slippage, "max_slippage"),
        Execution(q.execution), AfterFund(q.after_fund), AdlRanking(q.adl_ranking), Partial(q.partial),
        to_ppm(q.partial_fraction, "partial_fraction"),
        sc.quote_minor(q.partial_min_notional), _ns(q.cooldown_s), sc.quote_minor(q.max_notional_per_block),
        to_ppm(q.vault_threshold, "vault_threshold"), to_units(q.fund_limit, Decimal("1e-6"), "fund_limit"),
        MultiLeg(q.multi_leg), q.engine == "on", to_ppm(q.margin_buffer, "margin_buffer"),
    )  # fmt: skip


def _fund(sc: Scenario) -> FundParams:
    f, q = sc.insurance_fund, sc.liquidation
    return FundParams(
        sc.quote_minor(f.initial), sc.quote_minor(f.max_per_event), sc.quote_minor(f.max_per_period), _ns(f.period_s),
        q.execution == "fund", _ms(q.fund_offload_interval_ms),
        sc.quote_minor(q.fund_offload_notional),
    )  # fmt: skip


def compile_params(sc: Scenario) -> RunParams:
    """Return the run's parameters: the scenario in exact integer units.

    Raises:
        ValueError: an amount is not exact in its unit (the scenario's own validation
            refuses these first, so this means a bug).
    """
    q, f = sc.liquidation, sc.funding
    mark = None
    if MarkMethod(sc.mark.method) is not MarkMethod.ORACLE:
        mark = MarkParams(MarkMethod(sc.mark.method), _ms(sc.mark.interval_ms), _ns(sc.mark.basis_window_s), _ns(f.interval_s))
    funding = None
    if f.enabled:
        funding = FundingParams(
            _ns(f.sample_s), _ns(f.interval_s), sc.quote_minor(f.impact_notional), _ppb(f.interest_rate), _ppb(f.clamp),
            _ppb(f.cap), _ns(f.rate_period_s) if f.rate_period_s else 0, f.average, f.interest_mode, f.premium,
            _ppb(f.sample_clamp), f.pays_on, to_ppm(f.cap_margin_factor or 0, "funding.cap_margin_factor"),
            to_ppm(f.sample_clamp_margin_factor or 0, "funding.sample_clamp_margin_factor"),
            sc.quote_minor(f.impact_margin) if f.impact_margin else 0,
        )  # fmt: skip
    options = any(m.kind == "option" for m, _ in sc.listed())
    return RunParams(
        duration_ns=sc.duration_ns, checkpoint_ns=_ns(sc.checkpoint_interval_s), epoch_ms=_epoch_ms(sc.epoch),
        self_trade_prevention=sc.market.self_trade_prevention,
        markets=tuple(_market(sc, m, p) for m, p in sc.listed()),
        collateral=tuple(_collateral(sc, c) for c in sc.collateral), oracle=_oracle(sc),
        sources=tuple(_source(src) for src in sc.oracle.sources), oracle_source=sc.oracle.source, mark=mark,
        funding=funding, makers=_makers(sc, sc.market_makers),
        takers=_takers(sc, sc.noise_takers), population=population_params(sc),
        backstop_collateral_minor=sc.quote_minor(sc.liquidity_provider.collateral),
        liquidation=_liquidation(sc),
        queue=QueueParams(q.liquidators, _ms(q.service_time_ms), QueuePriority(q.priority), _ms(q.detection_latency_ms),
                          _ms(q.block_ms), q.max_per_block),
        fund=_fund(sc), portfolio=portfolio_params(sc), fork_at_ns=_ns(sc.fork.at_s) if sc.fork is not None else 0,
        volatility=volatility_params(sc),
        option_makers=_makers(sc, sc.option_makers) if options else None,
        option_takers=_takers(sc, sc.option_takers) if options else None,
        correlation=correlation_params(sc), heston=heston_params(sc), dynamic=dynamic_params(sc),
        margin_calls=margin_call_params(sc),
        discovery=_discovery(sc),
    )  # fmt: skip
