"""All wiring of a run: builds the SimPy environment, state, bus and processes.

Nothing here reads globals or converts units: the scenario is compiled once into
`RunParams` (`clearing.scenario.params`), and every process reads its parameters through
one `Live` holder, which a fork's process swaps whole at its time. Two worlds can run side
by side in one interpreter. The world lists the markets and opens the accounts with events
at time 0 (`clearing.sim.accounts`), starts the processes, runs to the scenario's end and
records the final checkpoint.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import simpy

from clearing import events as ev
from clearing.core.agents.history import prehistory, survivors
from clearing.core.agents.market_maker import Anchor, MakerParams
from clearing.core.agents.population import HELD, Population, draw_population, leg_lots
from clearing.core.invariants import violations
from clearing.core.oracle import Reference, SourceSpec, random_outages
from clearing.core.paths import Bars, gbm_path
from clearing.core.portfolio.es import joint_returns_ppm
from clearing.core.state import ClearingState, MarginMode, Role
from clearing.core.valuation import lot_value, option_terms
from clearing.data import tapes
from clearing.errors import DataError, InvariantViolation
from clearing.rng import generator
from clearing.scenario import Scenario
from clearing.scenario.holdings import EsParams
from clearing.scenario.params import PopulationParams, RunParams, compile_params
from clearing.sim.accounts import leg_accounts, list_markets, modes, open_accounts, trader_groups, trader_strategies
from clearing.sim.behaviour import Behaviour
from clearing.sim.bus import EventBus, Sink
from clearing.sim.causes import Latest
from clearing.sim.checkpointer import checkpoint_process
from clearing.sim.clock import Clock
from clearing.sim.collateral_feed import collateral_oracle_process, collateral_price_process
from clearing.sim.dynamic_margin import dynamic_margin_process
from clearing.sim.exchange import Exchange
from clearing.sim.expiry import expiry_process
from clearing.sim.funding_clock import funding_process
from clearing.sim.hedger import Hedger
from clearing.sim.index import depth_source, index_paths, stream
from clearing.sim.liquidator import BlockBudget, liquidator_process, offload_process
from clearing.sim.live import Live, fork_process
from clearing.sim.margin_calls import MarginCaller
from clearing.sim.margin_monitor import MarginMonitor
from clearing.sim.mark_clock import mark_process
from clearing.sim.market_maker import market_maker_process
from clearing.sim.options import option_markets, start_options
from clearing.sim.oracle_feed import Oracle
from clearing.sim.price_feed import discovered_index_process, index_feed_process
from clearing.sim.risk import Risk, return_window_process
from clearing.sim.takers import arbitrageur_process, noise_taker_process
from clearing.sim.traders import Desk, Leg, trader_process
from clearing.units import Int64Array


@dataclass
class World:
    """One run's environment, state and bus."""

    scenario: Scenario
    seed: int
    env: Clock
    bus: EventBus
    stopped: Callable[[], bool] = lambda: False  # asked to stop (an interrupt): checked between two SimPy steps
    check_every: int = 0  # > 0: check the conservation laws every this many events (`--check-invariants`)
    final_digest: str = ""  # the state digest the final checkpoint records (set by `run`)

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
            KeyboardInterrupt: `stopped()` became true; the run stopped between two steps.
            InvariantViolation: with `check_every`, a conservation law broken after an event (named by its seq).
        """
        end = self.scenario.duration_ns
        stopped = self._checked(self.stopped) if self.check_every > 0 else self.stopped
        if progress is None:
            self.env.run_until(end, stopped)
        else:
            for k in range(1, 201):
                if end * k // 200 > self.env.now:
                    self.env.run_until(end * k // 200, stopped)
                    progress(self.env.now, end)
        self.final_digest = self.bus.checkpoint(end, final=True)
        problems = violations(self.state)
        if problems:
            raise InvariantViolation("; ".join(problems))
        return self.state


    def _checked(self, stopped: Callable[[], bool]) -> Callable[[], bool]:
        # `stopped`, checking the conservation laws first whenever `check_every` more events were applied.
        state, every = self.state, self.check_every
        due = [every]

        def check() -> bool:
            if state.events_applied >= due[0]:
                problems = violations(state)
                if problems:
                    raise InvariantViolation(f"after seq {state.events_applied}: " + "; ".join(problems))
                due[0] = state.events_applied + every
            return stopped()

        return check


def build_world(
    scenario: Scenario, seed: int, sink: Sink, inputs: dict[str, Path] | None = None,
    stopped: Callable[[], bool] | None = None, check_every: int = 0,
) -> World:  # fmt: skip
    """Open the markets and accounts, and start every process of the run (`stopped`, `check_every`: see `World`)."""
    inputs = inputs or {}
    params = compile_params(scenario)
    live = Live(params)
    env = Clock(initial_time=0)
    bus = EventBus(ClearingState(), sink)
    list_markets(bus, params)
    drawn = index_paths(params, seed, inputs)
    paths = drawn.paths
    accounts = open_accounts(bus, params)
    latest = Latest()
    exchange = Exchange(bus, params.self_trade_prevention, latest=latest)
    for market, m in enumerate(params.markets):
        exchange.set_terms(market, m.terms)
    _portfolio(env, bus, params, inputs)
    risk = Risk(bus)
    queue = simpy.PriorityStore(env)
    monitor = MarginMonitor(env, bus, queue, live, risk)
    on_mark, behaviour = _mark_listeners(params, monitor)
    options = option_markets(params)
    guards = {}
    for market, (path, step_ns) in enumerate(paths):
        if market in options:  # priced from its underlying and the surface (`start_options`)
            continue
        if params.discovery is not None:  # the path is the outside fundamental; the venue's trading moves the index
            env.process(discovered_index_process(env, bus, market, path, step_ns, latest, params.discovery))
        else:
            env.process(index_feed_process(env, bus, market, path, step_ns, latest.index))
        oracle = Oracle(
            env, bus, market, live, _source_specs(params, seed, market), latest, on_mark,
            generator(seed, stream(market, "oracle/latency")),
        )  # fmt: skip
        oracle.start([generator(seed, stream(market, f"oracle/source/{i}")) for i in range(len(oracle.sources))])
        guards[market] = oracle.liquidation_allowed
    for market in options:  # an option's oracle is its underlying's
        contract = params.markets[market].contract
        assert contract is not None
        guards[market] = guards[contract.underlying]
    _start_collateral(env, bus, params, seed, monitor, paths)
    if params.mark is not None:
        for market in range(len(params.markets)):
            if market not in options:
                env.process(mark_process(env, bus, market, params.mark, latest, on_mark))
    initials = [int(path[0]) for path, _ in paths]
    for market, price in start_options(env, bus, params, drawn, inputs, latest, monitor.on_mark).items():
        initials[market] = price
    closed = _start_agents(env, exchange, params, seed, latest, accounts, initials, inputs, monitor, behaviour)
    fund = None
    if params.fund.account:
        fund = accounts[Role.INSURANCE_FUND][0]
        env.process(offload_process(env, exchange, fund, live))
    budget = BlockBudget()
    backstop = accounts[Role.LIQUIDITY_PROVIDER][0]
    for _ in range(params.queue.liquidators):
        env.process(liquidator_process(env, exchange, queue, backstop, live, [guards[m] for m in sorted(guards)], budget, fund,
                                       closed))  # fmt: skip
    for market, m in enumerate(params.markets):
        if m.contract is not None and m.contract.expiry_ns:
            env.process(expiry_process(env, bus, market))
        elif params.funding is not None:  # dated instruments pay no funding
            funding = params.funding.for_market(m.terms.initial_margin_ppm or m.bracket_rates_ppm[0], m.bracket_rates_ppm[0])
            env.process(funding_process(env, bus, market, funding))
    if params.dynamic is not None:
        for market in range(len(params.markets)):
            if market not in options:  # an option's margin is its own rule
                env.process(dynamic_margin_process(env, bus, market, live))
    if params.margin_calls is not None:
        traders = np.array(accounts[Role.TRADER], np.int64)
        caller = MarginCaller(env, exchange, monitor.risk, traders, params.margin_calls, generator(seed, "margin_calls"))
        env.process(caller.process())
    env.process(checkpoint_process(env, bus, params.checkpoint_ns))
    if scenario.fork is not None:
        env.process(fork_process(env, live, compile_params(scenario.after_fork())))
    world = World(scenario, seed, env, bus, check_every=check_every)
    if stopped is not None:
        world.stopped = stopped
    return world


def _mark_listeners(params: RunParams, monitor: MarginMonitor) -> tuple[Callable[[int, int], None], list[Behaviour]]:
    # What a new mark calls: the margin monitor, after the traders' stop-losses when they use them
    # (the `Behaviour` is made with the population, into the returned list).
    if not params.population.behaviour.stop_fraction:
        return monitor.on_mark, []
    behaviour: list[Behaviour] = []

    def on_mark(market: int, mark_seq: int) -> None:
        behaviour[0].on_mark(market, mark_seq)
        monitor.on_mark(market, mark_seq)

    return on_mark, behaviour


def _portfolio(env: Clock, bus: EventBus, params: RunParams, inputs: dict[str, Path]) -> None:
    # Portfolio margin's parameters are state (an event), and so is its return window.
    p = params.portfolio
    if p is None:
        return
    bus.emit(
        ev.PortfolioMarginConfigured(
            ts_ns=0, method=p.method, scan_range_ppm=tuple(m.scan_range_ppm for m in params.markets),
            inter_commodity_credit_ppm=p.inter_commodity_credit_ppm, extreme_multiple=p.extreme_multiple,
            extreme_cover_pct=p.extreme_cover_pct, es_window=p.es_window, es_horizon=p.es_horizon, es_tail=p.es_tail,
        )
    )  # fmt: skip
    for config in (p.grid, p.span):
        if config is not None:
            bus.emit(config)
    if p.es is not None:
        bus.emit(es_event(params, p.es, inputs))
    if p.method == "es":
        env.process(return_window_process(env, bus, p.es_step_ns))


def es_event(params: RunParams, es: EsParams, inputs: dict[str, Path]) -> ev.EsMarginConfigured:
    """Return the filtered expected shortfall's event: its stress returns read from the data directory's bars."""
    bars = {}
    for market, files in es.stress_files:
        tick = Decimal(params.markets[market].tick_size)
        bars[market] = tapes.concat_bars([tapes.read_bars(inputs[name], tick) for name in files], list(files))
    return stress_event(es, bars)


def stress_event(es: EsParams, bars: dict[int, Bars]) -> ev.EsMarginConfigured:
    """Return the filtered expected shortfall's event with the joint returns of `bars` (each stress market's) as stress rows."""
    rows: tuple[tuple[int, ...], ...] = ()
    names = [name for _market, files in es.stress_files for name in files]
    if es.stress_files:
        markets = [m for m, _files in es.stress_files]
        for market, files in es.stress_files:
            if bars[market].interval_ms != 60_000:
                raise DataError(f"portfolio.es.stress_files: {', '.join(files)}: bars of {bars[market].interval_ms // 1000} s, "
                                "expected 1-minute bars")  # fmt: skip
        horizon_ms = es.horizon_minutes * 60_000
        joint = joint_returns_ppm([bars[m].open_ms for m in markets], [bars[m].close for m in markets], horizon_ms)
        if not joint.shape[0]:
            raise DataError(f"portfolio.es.stress_files: {', '.join(names)} share no {es.horizon_minutes}-minute returns")
        rows = tuple(tuple(row) for row in joint.tolist())
    return ev.EsMarginConfigured(
        ts_ns=0, lambda_ppm=es.lambda_ppm, stress_markets=tuple(m for m, _ in es.stress_files), stress_returns_ppm=rows,
        stress_source=", ".join(names), time_step_ns=es.time_step_ns,
    )  # fmt: skip


def _source_specs(params: RunParams, seed: int, market: int) -> list[SourceSpec]:
    # The sources as written, with each one's random outage windows drawn from its stream.
    if not params.sources:
        source = params.oracle_source
        return [SourceSpec(source, Reference(source), 1, params.oracle.observe_interval_ns, 0, 0.0, 0.0, (), (), ())]
    specs = []
    for i, src in enumerate(params.sources):
        rng = generator(seed, stream(market, f"oracle/outages/{i}"))
        drawn = random_outages(rng, src.outage_rate_per_hour, src.outage_mean_s, params.duration_ns)
        specs.append(src.spec._replace(outages=(*src.spec.outages, *drawn)))
    return specs


def _start_collateral(
    env: Clock, bus: EventBus, params: RunParams, seed: int, monitor: MarginMonitor, paths: list[tuple[Int64Array, int]]
) -> None:
    latest: dict[int, int] = {}
    for asset, c in enumerate(params.collateral):
        if c.follows >= 0:  # priced by a market's index path (an inverse perpetual's coin)
            index, step_ns = paths[c.follows]
            path = index * c.tick_minor
        else:
            rng = generator(seed, f"collateral/{c.asset}")
            path = gbm_path(rng, c.price_minor, params.duration_ns // c.step_ns, c.step_ns, c.volatility, 0.0, list(c.shocks))
            step_ns = c.step_ns
        env.process(collateral_price_process(env, bus, asset, path, step_ns, latest))
        env.process(collateral_oracle_process(env, bus, asset, c.oracle, latest, monitor.on_collateral))


def _start_agents(
    env: Clock,
    exchange: Exchange,
    params: RunParams,
    seed: int,
    latest: Latest,
    accounts: dict[Role, list[int]],
    initials: list[int],
    inputs: dict[str, Path],
    monitor: MarginMonitor,
    behaviour: list[Behaviour],
) -> Callable[[int, int], None] | None:
    # Starts the makers, takers, arbitrageurs and the population; returns what the liquidators
    # tell of an account closed out (the traders' re-entry), None without it.
    bus = exchange.bus
    t = params.takers
    depth_at = depth_source(params, inputs)
    options = option_markets(params)
    first_maker = first_noise = 0
    for market in range(len(params.markets)):
        mm = params.makers_of(market)
        # An option's makers quote around its model value on their own ladder (`option_underlying`).
        anchor, depth = (Anchor.INDEX, None) if market in options else (mm.anchor, depth_at)
        inventory_lots = max(1, mm.inventory_limit_minor // lot_value(bus.state, market, initials[market]))
        maker = MakerParams(
            mm.levels, mm.half_spread_bps, mm.level_spacing_bps, mm.level_notional_minor, mm.calm_volatility,
            mm.spread_stress, mm.depth_stress, mm.halflife_ns, inventory_lots, mm.skew_bps,
        )  # fmt: skip
        makers = accounts[Role.MARKET_MAKER][first_maker : first_maker + mm.per_market]
        first_maker += mm.per_market
        for i, account in enumerate(makers):
            depth_share = mm.depth_scale / max(1, mm.per_market)
            quoting = market_maker_process(
                env, bus, market, account, maker, mm.refresh_ns, anchor, latest, depth, depth_share,
                option_underlying=_underlying(params, market) if market in options else None,
            )
            # Staggered so the makers do not all requote at the same instant; the first quotes at 0.
            env.process(_delayed(env, mm.refresh_ns * i // mm.per_market, quoting) if i else quoting)
        count, _collateral, flow = params.noise_of(market)
        for i, account in enumerate(accounts[Role.NOISE_TRADER][first_noise : first_noise + count]):
            rng = generator(seed, stream(market, f"noise/{i}"))
            env.process(noise_taker_process(env, exchange, market, account, flow, rng))
        first_noise += count
        for account in accounts[Role.ARBITRAGEUR][market * t.arbitrageur_count : (market + 1) * t.arbitrageur_count]:
            if market in options or market in bus.state.inverse:  # only linear perpetuals and futures are arbitraged
                break
            env.process(arbitrageur_process(env, exchange, market, account, t.arbitrage, t.arbitrage_interval_ns, latest))
    p = params.population
    lot_values = [lot_value(bus.state, market, initials[market]) for market in range(len(params.markets))]
    population = _population(params, seed, lot_values[0], initials[p.legs[0][0]])
    holders = leg_accounts(p, accounts[Role.TRADER][0])
    counterparty = accounts[Role.LIQUIDITY_PROVIDER][0] if p.entry_at_backstop else -1
    strategy_of = trader_strategies(p)
    for k, strategy in enumerate(p.strategies):
        members = np.unique(np.concatenate([column[strategy_of == k] for column in holders]))
        bus.emit(ev.StrategyAssigned(ts_ns=env.now, strategy=k, name=strategy.name, accounts=tuple(members.tolist())))
    legs = _legs(bus.state, p, population, strategy_of, holders, lot_values, initials)
    entry_hooks: list[Callable[[list[int], int, int], None]] = []
    for k, strategy in enumerate(p.strategies):
        if strategy.hedge_market >= 0:
            hedged = _hedged_accounts(p, strategy_of == k, holders)
            if hedged.size:
                hedger = Hedger(env, exchange, strategy, hedged, counterparty)
                entry_hooks.append(hedger.on_entry)
                env.process(hedger.process())
    if any(mode is MarginMode.PORTFOLIO for mode, _n in modes(p)):
        entry_hooks.append(monitor.on_entry)  # after the hedges: the requirement counts them
    b = p.behaviour
    lives = b.stop_fraction > 0 or b.reentry_fraction > 0
    if lives:
        entry_hooks.append(lambda accounts, market, seq: behaviour[0].after_entry(accounts, market, seq))
    after_entry = None
    if entry_hooks:
        def after_entry(accounts: list[int], market: int, seq: int) -> None:
            for hook in entry_hooks:
                hook(accounts, market, seq)
    backstop = accounts[Role.LIQUIDITY_PROVIDER][0]
    desk = Desk(env, exchange, legs, population, p.collateral_asset, after_entry, counterparty, initials, backstop)
    if lives:
        behaviour.append(Behaviour(desk, b, generator(seed, "population/behaviour")))
    env.process(trader_process(desk))
    return behaviour[0].closed if lives and b.reentry_fraction > 0 else None


def _population(params: RunParams, seed: int, lot_value_minor: int, first_ticks: int) -> Population:
    # The drawn population; with a pre-history, the entries before the start conditioned on surviving it.
    p, b = params.population, params.population.behaviour
    population = draw_population(
        generator(seed, "population"), p.accounts, p.long_fraction, p.notional_median_minor, p.notional_sigma,
        p.notional_max_minor, p.leverage, p.leverage_weights, p.entry_window_ns, lot_value_minor, p.holding_mean_ns,
        p.collateral_fraction, (b.leverage_median, b.leverage_sigma, b.leverage_max) if b.leverage_lognormal else None,
        b.history_ns,
    )  # fmt: skip
    if not b.history_ns:
        return population
    rng = generator(seed, "population/history")
    path = prehistory(rng, first_ticks, b.history_volatility, b.history_ns)
    maintenance = params.markets[p.legs[0][0]].bracket_rates_ppm[0]
    times, ticks = survivors(rng, path, b.history_ns, population.entry_ns, population.side, population.leverage_centi,
                             maintenance)  # fmt: skip
    # A position standing at the start holds on for its drawn (exponential, so memoryless) holding time from 0, whether
    # or not the draw would have closed it before the start (the pre-history's entries are the positions standing then).
    held = population.exit_ns - population.entry_ns
    exits = np.where(population.exit_ns == HELD, HELD, np.where(population.entry_ns < 0, held, population.exit_ns))
    return population._replace(entry_ns=times, entry_ticks=ticks, exit_ns=exits)


def _legs(
    state: ClearingState, p: PopulationParams, population: Population, strategy: Int64Array, holders: list[Int64Array],
    lot_values: list[int], initials: list[int],
) -> list[Leg]:  # fmt: skip
    # Each trader's lots and side on each leg: `population.legs`' multiples, or with strategies
    # each trader's strategy's (0 lots on a market it does not hold; an option's multiple is of
    # its underlying notional).
    if not p.strategies:
        out = []
        for (market, multiple), accounts in zip(p.legs, holders, strict=True):
            lots = leg_lots(population.notional, multiple, lot_values[market])
            side = population.side if multiple > 0 else -population.side
            out.append(Leg(market, lots, side, accounts))
        return out
    per_tick = {t.market: (t.underlying_unit_value, t.underlying) for t in option_terms(state)}
    out = []
    for (market, _one), accounts in zip(p.legs, holders, strict=True):
        multiples = np.array([dict(x.legs).get(market, 0.0) for x in p.strategies])[strategy]
        drawn = np.array([x.drawn_side for x in p.strategies])[strategy]
        exposure = lot_values[market]
        if market in per_tick:
            unit, underlying = per_tick[market]
            exposure = unit * initials[underlying]
        lots = np.where(multiples != 0, np.floor(np.abs(multiples) * population.notional / exposure), 0).astype(np.int64)
        lots = np.where((multiples != 0) & (lots == 0), 1, lots)
        side = np.where(multiples >= 0, 1, -1) * np.where(drawn, population.side, 1)
        out.append(Leg(market, lots, side.astype(np.int64), accounts))
    return out


def _hedged_accounts(p: PopulationParams, members: npt.NDArray[np.bool_], holders: list[Int64Array]) -> Int64Array:
    # The accounts of a strategy's `members` in cross and portfolio mode (isolated ones hold each leg alone: not hedged).
    pooled = np.array([mode is not MarginMode.ISOLATED for mode, _n in modes(p)])[trader_groups(p)]
    return np.unique(holders[0][members & pooled])


def _underlying(params: RunParams, market: int) -> int:
    contract = params.markets[market].contract
    assert contract is not None
    return contract.underlying


def _delayed(env: Clock, delay_ns: int, process: Generator[simpy.Event, Any, None]) -> Generator[simpy.Event, Any, None]:
    yield env.timeout(delay_ns)
    yield env.process(process)

