"""All wiring of a run: builds the SimPy environment, state, bus and processes.

Nothing here reads globals: two worlds can run side by side in one interpreter. The
world lists the market and opens the accounts with events at time 0 (traders first, then
the backstop liquidity provider, market makers, noise takers and arbitrageurs), starts the
processes, runs to the scenario's end and records the final checkpoint.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import numpy as np
import simpy

from clearing import events as ev
from clearing.core.agents.arbitrageur import ArbitrageParams
from clearing.core.agents.market_maker import MakerParams
from clearing.core.agents.noise import NoiseParams
from clearing.core.agents.population import draw_population, leg_lots
from clearing.core.invariants import violations
from clearing.core.oracle import random_outages
from clearing.core.paths import bridge_path, gbm_path, jump_diffusion_path, trades_path
from clearing.core.state import DIGEST_VERSION, ClearingState
from clearing.core.state.schema import Role
from clearing.data import tapes
from clearing.errors import InvariantViolation
from clearing.rng import generator
from clearing.scenario import MarketConfig, Scenario
from clearing.sim.bus import EventBus, Sink
from clearing.sim.causes import Latest
from clearing.sim.checkpointer import checkpoint_process
from clearing.sim.clock import Clock
from clearing.sim.collateral_feed import CollateralOracleParams, collateral_oracle_process, collateral_price_process
from clearing.sim.exchange import Exchange, MarketTerms
from clearing.sim.funding_clock import FundingParams, funding_process
from clearing.sim.liquidator import BlockBudget, FundDesk, LiquidationParams, liquidator_process, offload_process
from clearing.sim.margin_monitor import MarginMonitor
from clearing.sim.mark_clock import MarkParams, mark_process
from clearing.sim.market_maker import market_maker_process
from clearing.sim.oracle_feed import Oracle, OracleParams, SourceSpec
from clearing.sim.price_feed import index_feed_process
from clearing.sim.risk import Risk, return_window_process
from clearing.sim.takers import arbitrageur_process, noise_taker_process
from clearing.sim.traders import Leg, trader_process
from clearing.units import NS_PER_MS, to_ppm, to_units


@dataclass
class World:
    """One run's environment, state and bus."""

    scenario: Scenario
    seed: int
    env: Clock
    bus: EventBus

    @property
    def state(self) -> ClearingState:
        """Return the run's state (owned by the bus)."""
        return self.bus.state

    def run(self, progress: Callable[[int, int], None] | None = None) -> ClearingState:
        """Run to the scenario's end, record the final checkpoint, check conservation.

        With `progress`, the run goes in 200 slices and `progress(now_ns, end_ns)` is called
        after each: stopping SimPy at a time does not reorder its events, so the log is the
        same byte for byte.

        Raises:
            InvariantViolation: the final state breaks a conservation law (a bug).
        """
        end = self.scenario.duration_ns
        if progress is None:
            self.env.run(until=end)
        else:
            for k in range(1, 201):
                if end * k // 200 > self.env.now:
                    self.env.run(until=end * k // 200)
                    progress(self.env.now, end)
        self.bus.emit(ev.CheckpointRecorded(ts_ns=end, digest=self.state.digest(), digest_version=DIGEST_VERSION, final=True))
        problems = violations(self.state)
        if problems:
            raise InvariantViolation("; ".join(problems))
        return self.state


def index_path(scenario: Scenario, seed: int, inputs: dict[str, Path], market: int = 0) -> tuple[np.ndarray, int]:
    """Return (ticks at every step from 0 to the end, step_ns) of a market's exogenous index."""
    sc = scenario
    m, p = sc.listed()[market]
    step_ns = sc.ms_ns(p.step_ms)
    n_steps = sc.duration_ns // step_ns
    shocks = [(sc.seconds_ns(k.start_s), sc.seconds_ns(k.duration_s), k.change) for k in p.shocks]
    rng = generator(seed, "index" if market == 0 else f"index/{market}")
    initial = to_units(p.initial, m.tick_size, "price")
    if p.model == "gbm":
        return gbm_path(rng, initial, n_steps, step_ns, p.volatility, p.drift, shocks), step_ns
    if p.model == "jump":
        path = jump_diffusion_path(
            rng, initial, n_steps, step_ns, p.volatility, p.drift, p.jump_intensity_per_day, p.jump_mean, p.jump_stdev, shocks,
        )  # fmt: skip
        return path, step_ns
    start = p.start or sc.epoch
    start_ms = round(start.timestamp() * 1000)
    if p.kind == "trades":
        trades = tapes.read_trades(inputs[p.files[0]], m.tick_size)
        return trades_path(trades, start_ms * 1000, step_ns, n_steps, initial), step_ns
    if p.files and all(name in inputs for name in p.files):
        bars = tapes.concat_bars([tapes.read_bars(inputs[name], m.tick_size) for name in p.files], list(p.files))
    else:  # the files are not in the data directory: the hourly path written in the scenario
        bars = tapes.hourly_bars(list(p.hourly), m.tick_size)
    return bridge_path(rng, bars, start_ms, step_ns, n_steps), step_ns


def _stream(market: int, name: str) -> str:
    # Random stream names: the primary market keeps the one-market names, so adding
    # markets never changes market 0's draws.
    return name if market == 0 else f"market/{market}/{name}"


def build_world(scenario: Scenario, seed: int, sink: Sink, inputs: dict[str, Path] | None = None) -> World:
    """Open the markets and accounts, and start every process of the run."""
    sc = scenario
    inputs = inputs or {}
    env = Clock(initial_time=0)
    bus = EventBus(ClearingState(), sink)
    listed = sc.listed()
    for market, (m, _) in enumerate(listed):
        floors, rates = m.bracket_units()
        bus.emit(
            ev.MarketListed(
                ts_ns=0, market=market, symbol=m.symbol, tick_size=str(m.tick_size), lot_size=str(m.lot_size),
                quote_decimals=m.quote_decimals, unit_value=m.unit_value, maintenance_margin_ppm=rates[0],
                liquidation_fee_ppm=to_ppm(m.liquidation_fee_rate, "liquidation_fee_rate"),
                taker_fee_ppm=to_ppm(m.taker_fee_rate, "taker_fee_rate"),
                maker_fee_ppm=to_ppm(m.maker_fee_rate, "maker_fee_rate"),
                bracket_floors=tuple(floors), bracket_rates_ppm=tuple(rates),
            )
        )  # fmt: skip
    for asset, c in enumerate(sc.collateral):
        bus.emit(
            ev.CollateralListed(
                ts_ns=0, asset=asset, symbol=c.asset, decimals=c.decimals, haircut_ppm=to_ppm(c.haircut, "haircut")
            )
        )
    paths = [index_path(sc, seed, inputs, market) for market in range(len(listed))]
    accounts = _open_accounts(sc, bus)
    latest = Latest()
    exchange = Exchange(bus, sc.market.self_trade_prevention, latest=latest)
    for market, (m, _) in enumerate(listed):
        exchange.set_terms(market, _terms(sc, m))
    _portfolio(sc, env, bus)
    risk = Risk(bus)
    queue = simpy.PriorityStore(env)
    monitor = MarginMonitor(env, bus, queue, sc.liquidation.priority, sc.ms_ns(sc.liquidation.detection_latency_ms), risk)
    guards = []
    oracles = []
    for market, (path, step_ns) in enumerate(paths):
        env.process(index_feed_process(env, bus, market, path, step_ns, latest.index))
        oracle = Oracle(
            env, bus, market, _oracle_params(sc), _source_specs(sc, seed, market), latest, monitor.on_mark,
            generator(seed, _stream(market, "oracle/latency")),
        )  # fmt: skip
        oracle.start([generator(seed, _stream(market, f"oracle/source/{i}")) for i in range(len(oracle.sources))])
        guards.append(oracle.liquidation_allowed)
        oracles.append(oracle)
    _start_collateral(sc, seed, env, bus, monitor)
    if sc.mark.method != "oracle":
        mark = MarkParams(
            sc.mark.method, sc.ms_ns(sc.mark.interval_ms), sc.seconds_ns(sc.mark.basis_window_s),
            sc.seconds_ns(sc.funding.interval_s),
        )  # fmt: skip
        for market in range(len(listed)):
            env.process(mark_process(env, bus, market, mark, latest, monitor.on_mark))
    _start_agents(sc, seed, env, exchange, latest, accounts, [int(path[0]) for path, _ in paths], inputs, monitor)

    q = sc.liquidation
    params = _liquidation_params(sc)
    live = _LiveParams(params)
    if sc.fork is not None:  # the liquidators read the parameters through a holder the fork swaps
        params = cast(LiquidationParams, live)
    fund = None
    if q.execution == "fund":
        fund = FundDesk(accounts[Role.INSURANCE_FUND][0], to_units(q.fund_limit, Decimal("1e-6"), "fund_limit"))
        env.process(
            offload_process(
                env, exchange, fund, sc.ms_ns(q.fund_offload_interval_ms), sc.quote_minor(q.fund_offload_notional),
                params.max_slippage_ppm, risk,
            )
        )  # fmt: skip
    budget = BlockBudget(sc.ms_ns(q.block_ms), q.max_per_block)
    for _ in range(q.liquidators):
        env.process(
            liquidator_process(
                env, exchange, queue, accounts[Role.LIQUIDITY_PROVIDER][0], sc.ms_ns(q.service_time_ms), params,
                guards, budget, risk, fund,
            )
        )  # fmt: skip
    f = sc.funding
    if f.enabled:
        funding = FundingParams(
            sc.seconds_ns(f.sample_s), sc.seconds_ns(f.interval_s), sc.quote_minor(f.impact_notional),
            _ppb(f.interest_rate), _ppb(f.clamp), _ppb(f.cap),
        )  # fmt: skip
        for market in range(len(listed)):
            env.process(funding_process(env, bus, market, funding))
    env.process(checkpoint_process(env, bus, sc.seconds_ns(sc.checkpoint_interval_s)))
    if sc.fork is not None:
        env.process(_fork_process(env, sc, oracles, live, budget, fund, monitor))
    return World(sc, seed, env, bus)


def _liquidation_params(sc: Scenario) -> LiquidationParams:
    q = sc.liquidation
    return LiquidationParams(
        to_ppm(q.slippage, "slippage"), sc.quote_minor(q.impact_depth),
        to_ppm(q.max_slippage, "max_slippage"), q.execution, q.after_fund, q.adl_ranking, q.partial,
        to_ppm(q.partial_fraction, "partial_fraction"), sc.quote_minor(q.partial_min_notional), sc.seconds_ns(q.cooldown_s),
        sc.quote_minor(q.max_notional_per_block), to_ppm(q.vault_threshold, "vault_threshold"),
    )  # fmt: skip


class _LiveParams:
    """The liquidators' parameters in a forked run: attribute reads go to `current`, which the fork replaces."""

    __slots__ = ("current",)

    def __init__(self, current: LiquidationParams) -> None:
        self.current = current

    def __getattr__(self, name: str) -> Any:
        return getattr(self.current, name)


def _fork_process(
    env: Clock, sc: Scenario, oracles: list[Oracle], live: _LiveParams, budget: BlockBudget, fund: FundDesk | None,
    monitor: MarginMonitor,
) -> Any:  # fmt: skip
    # A fork's changes (`scenario.fork`, keys in `FORKABLE_KEYS`) take effect at `at_s`: the
    # shell objects that read them afresh at each use get the values of the changed
    # scenario. They are parameters, not state: no event is written.
    assert sc.fork is not None
    yield env.timeout(sc.seconds_ns(sc.fork.at_s))
    after = sc.after_fork()
    for oracle in oracles:
        oracle.params = _oracle_params(after)
    live.current = _liquidation_params(after)
    q = after.liquidation
    budget.block_ns, budget.max_per_block = after.ms_ns(q.block_ms), q.max_per_block
    monitor.detection_ns = after.ms_ns(q.detection_latency_ms)
    if fund is not None:
        fund.limit_ppm = to_units(q.fund_limit, Decimal("1e-6"), "fund_limit")


def _terms(sc: Scenario, m: MarketConfig) -> MarketTerms:
    return MarketTerms(
        m.self_trade_prevention, to_ppm(m.market_order_band, "market_order_band"),
        to_ppm(m.initial_margin_rate, "initial_margin_rate"), to_ppm(m.size_premium, "size_premium"),
        (sc.quote_minor(m.oi_lower_cap), sc.quote_minor(m.oi_upper_cap)),
    )  # fmt: skip


def _portfolio(sc: Scenario, env: Clock, bus: EventBus) -> None:
    # Portfolio margin's parameters are state (an event), and so is its return window.
    p = sc.portfolio
    if sc.population.margin_mode != "portfolio":
        return
    bus.emit(
        ev.PortfolioMarginConfigured(
            ts_ns=0, method=p.method, scan_range_ppm=tuple(to_ppm(m.scan_range, "scan_range") for m, _ in sc.listed()),
            inter_commodity_credit_ppm=to_ppm(p.inter_commodity_credit, "inter_commodity_credit"),
            extreme_multiple=p.extreme_multiple, extreme_cover_pct=int(p.extreme_cover * 100), es_window=p.es_window,
            es_horizon=p.es_horizon, es_tail=p.es_tail,
        )
    )  # fmt: skip
    if p.method == "es":
        env.process(return_window_process(env, bus, sc.seconds_ns(p.es_step_s)))


def _oracle_params(sc: Scenario) -> OracleParams:
    o = sc.oracle
    return OracleParams(
        policy=o.policy, aggregation=o.aggregation, min_sources=o.min_sources,
        outlier_cut_ppm=to_ppm(o.outlier_cut, "oracle.outlier_cut"), source_max_age_ns=sc.seconds_ns(o.source_max_age_s),
        observe_interval_ns=sc.ms_ns(o.observe_interval_ms), deviation_ppm=to_ppm(o.deviation, "oracle.deviation"),
        heartbeat_ns=sc.seconds_ns(o.heartbeat_s), cadence_ns=sc.ms_ns(o.cadence_ms),
        inclusion_delay_ns=sc.ms_ns(o.inclusion_delay_ms), latency_model=o.latency_model, latency_ns=sc.ms_ns(o.latency_ms),
        latency_max_ns=sc.ms_ns(o.latency_max_ms), latency_sigma=o.latency_sigma,
        latency_per_breach_ns=round(o.latency_per_breach_ms * NS_PER_MS),
        latency_window_ns=sc.seconds_ns(o.latency_window_s), pull_interval_ns=sc.ms_ns(o.pull_interval_ms),
        max_age_ns=sc.seconds_ns(o.max_age_s), sets_mark=sc.mark.method == "oracle",
        max_confidence_ppm=to_ppm(o.guards.max_confidence, "oracle.guards.max_confidence"),
        liquidation_max_age_ns=sc.seconds_ns(o.guards.liquidation_max_age_s),
        max_divergence_ppm=to_ppm(o.guards.max_mark_divergence, "oracle.guards.max_mark_divergence"),
    )  # fmt: skip


def _window(sc: Scenario, w: Any) -> tuple[int, int]:
    return (sc.seconds_ns(w.start_s), sc.seconds_ns(w.start_s + w.duration_s))


def _source_specs(sc: Scenario, seed: int, market: int = 0) -> list[SourceSpec]:
    o = sc.oracle
    if not o.sources:
        return [SourceSpec(o.source, o.source, 1, sc.ms_ns(o.observe_interval_ms), 0, 0.0, 0.0, (), (), ())]
    specs = []
    for i, src in enumerate(o.sources):
        outages = [_window(sc, w) for w in src.outages]
        rng = generator(seed, _stream(market, f"oracle/outages/{i}"))
        outages += random_outages(rng, src.outage_rate_per_hour, src.outage_mean_s, sc.duration_ns)
        specs.append(
            SourceSpec(
                src.name, src.reference, src.weight, sc.ms_ns(src.interval_ms), sc.ms_ns(src.delay_ms), src.noise_bps * 100,
                src.confidence_bps * 100, tuple(outages), tuple(_window(sc, w) for w in src.frozen),
                tuple((*_window(sc, w), w.offset) for w in src.dislocations),
            )
        )  # fmt: skip
    return specs


def _start_collateral(sc: Scenario, seed: int, env: Clock, bus: EventBus, monitor: MarginMonitor) -> None:
    latest: dict[int, int] = {}
    for asset, c in enumerate(sc.collateral):
        step_ns = sc.ms_ns(c.step_ms)
        shocks = [(sc.seconds_ns(k.start_s), sc.seconds_ns(k.duration_s), k.change) for k in c.shocks]
        price = to_units(c.price, sc.market.minor_unit, "collateral price")
        path = gbm_path(
            generator(seed, f"collateral/{c.asset}"), price, sc.duration_ns // step_ns, step_ns, c.volatility, 0.0, shocks
        )
        env.process(collateral_price_process(env, bus, asset, path, step_ns, latest))
        o = c.oracle
        params = CollateralOracleParams(
            o.policy, sc.ms_ns(o.observe_interval_ms if o.policy == "push" else o.cadence_ms), to_ppm(o.deviation, "deviation"),
            sc.seconds_ns(o.heartbeat_s), sc.ms_ns(o.latency_ms),
        )  # fmt: skip
        env.process(collateral_oracle_process(env, bus, asset, params, latest, monitor.on_collateral))


def _ppb(rate: Any) -> int:
    return to_units(rate, Decimal("1e-9"), "funding rate")


def _trader_legs(sc: Scenario) -> list[tuple[int, float]]:
    # (market, multiple) of every non-zero leg, primary market first.
    return [(market, multiple) for market, multiple in enumerate(sc.population.legs) if multiple]


def _open_accounts(sc: Scenario, bus: EventBus) -> dict[Role, list[int]]:
    # Accounts in a fixed order; each group opened by one event and funded by deposits.
    # Isolated traders hold one account per leg (leg-major); agents have their own
    # accounts on every market (market-major); the insurance fund's account comes last.
    p, n_markets = sc.population, len(sc.listed())
    traders = p.accounts * (len(_trader_legs(sc)) if p.margin_mode == "isolated" else 1)
    groups = [
        (Role.TRADER, traders, None, p.margin_mode),
        (Role.LIQUIDITY_PROVIDER, 1, sc.liquidity_provider.collateral, "cross"),
        (Role.MARKET_MAKER, sc.market_makers.count * n_markets, sc.market_makers.collateral, "cross"),
        (Role.NOISE_TRADER, sc.noise_takers.count * n_markets, sc.noise_takers.collateral, "cross"),
        (Role.ARBITRAGEUR, sc.arbitrageurs.count * n_markets, sc.arbitrageurs.collateral, "cross"),
        (Role.INSURANCE_FUND, int(sc.liquidation.execution == "fund"), None, "cross"),
    ]
    accounts: dict[Role, list[int]] = {}
    first = 0
    for role, count, collateral, mode in groups:
        accounts[role] = list(range(first, first + count))
        if count:
            bus.emit(ev.AccountsOpened(ts_ns=0, first_account=first, count=count, role=role.label, margin_mode=mode))
        if collateral is not None:
            for account in accounts[role]:
                bus.emit(ev.Deposited(ts_ns=0, account=account, amount=sc.quote_minor(collateral)))
        first += count
    f = sc.insurance_fund
    if f.initial > 0:
        bus.emit(ev.InsuranceFundDeposited(ts_ns=0, amount=sc.quote_minor(f.initial)))
    if f.max_per_event or f.max_per_period:
        bus.emit(
            ev.InsuranceFundConfigured(
                ts_ns=0, max_per_event=sc.quote_minor(f.max_per_event), max_per_period=sc.quote_minor(f.max_per_period),
                period_ns=sc.seconds_ns(f.period_s),
            )
        )  # fmt: skip
    return accounts


def _start_agents(
    sc: Scenario,
    seed: int,
    env: Clock,
    exchange: Exchange,
    latest: Latest,
    accounts: dict[Role, list[int]],
    initials: list[int],
    inputs: dict[str, Path],
    monitor: MarginMonitor,
) -> None:
    bus = exchange.bus
    mm, n, a = sc.market_makers, sc.noise_takers, sc.arbitrageurs
    depth_at = None
    if mm.depth_profile in inputs:  # a depth file named but missing is allowed only with depth_optional
        profile = tapes.read_depth_profile(inputs[mm.depth_profile])
        epoch_ms = round(sc.epoch.timestamp() * 1000)
        scale = 10**sc.market.quote_decimals

        mirror = mm.depth_sides == "asks"

        def depth_at(now_ns: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
            bid, ask = tapes.depth_at(profile, epoch_ms + now_ns // NS_PER_MS)
            return tuple(((ask if mirror else bid) * scale).tolist()), tuple((ask * scale).tolist())

    refresh = sc.ms_ns(mm.refresh_ms)
    noise = NoiseParams(n.rate_per_s, sc.quote_minor(n.median_notional), n.sigma, n.buy_fraction)
    arb = ArbitrageParams(a.threshold_bps, sc.quote_minor(a.max_order_notional), sc.quote_minor(a.max_position_notional))
    for market, (m, _) in enumerate(sc.listed()):
        unit_value, initial = m.unit_value, initials[market]
        maker = MakerParams(
            mm.levels, mm.half_spread_bps, mm.level_spacing_bps, sc.quote_minor(mm.level_notional), mm.calm_volatility,
            mm.spread_stress, mm.depth_stress, sc.seconds_ns(mm.volatility_halflife_s),
            max(1, sc.quote_minor(mm.inventory_limit) // (initial * unit_value)), mm.skew_bps,
        )  # fmt: skip
        makers = accounts[Role.MARKET_MAKER][market * mm.count : (market + 1) * mm.count]
        for i, account in enumerate(makers):
            quoting = market_maker_process(
                env, bus, market, account, maker, refresh, mm.anchor, latest, depth_at, mm.depth_scale / max(1, mm.count)
            )
            # Staggered so the makers do not all requote at the same instant; the first quotes at 0.
            env.process(_delayed(env, refresh * i // mm.count, quoting) if i else quoting)
        for i, account in enumerate(accounts[Role.NOISE_TRADER][market * n.count : (market + 1) * n.count]):
            rng = generator(seed, _stream(market, f"noise/{i}"))
            env.process(noise_taker_process(env, exchange, market, account, noise, rng))
        for account in accounts[Role.ARBITRAGEUR][market * a.count : (market + 1) * a.count]:
            env.process(arbitrageur_process(env, exchange, market, account, arb, sc.ms_ns(a.interval_ms), latest))
    p = sc.population
    lot_values = [initials[market] * m.unit_value for market, (m, _) in enumerate(sc.listed())]
    population = draw_population(
        generator(seed, "population"), p.accounts, p.long_fraction, sc.quote_minor(p.notional_median),
        p.notional_sigma, sc.quote_minor(p.notional_max), p.leverage, p.leverage_weights,
        sc.seconds_ns(p.entry_window_s), lot_values[0], sc.seconds_ns(p.holding_mean_s), p.collateral_fraction,
    )  # fmt: skip
    first = accounts[Role.TRADER][0]
    legs = []
    for j, (market, multiple) in enumerate(_trader_legs(sc)):
        lots = leg_lots(population.notional, multiple, lot_values[market])
        side = population.side if multiple > 0 else -population.side
        legs.append(Leg(market, lots, side, first + (j * p.accounts if p.margin_mode == "isolated" else 0)))
    asset = [c.asset for c in sc.collateral].index(p.collateral_asset) if p.collateral_asset else -1
    after_entry = monitor.on_entry if p.margin_mode == "portfolio" else None
    counterparty = accounts[Role.LIQUIDITY_PROVIDER][0] if p.entry == "backstop" else -1
    env.process(trader_process(env, exchange, legs, population, asset, after_entry, counterparty))


def _delayed(env: Clock, delay_ns: int, process: Any) -> Any:
    yield env.timeout(delay_ns)
    yield env.process(process)
