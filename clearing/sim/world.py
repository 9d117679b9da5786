"""All wiring of a run: builds the SimPy environment, state, bus and processes.

Nothing here reads globals: two worlds can run side by side in one interpreter. The
world opens the market and the accounts with events at time 0, starts the processes,
runs to the scenario's end and records the final checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass

import simpy

from clearing import events as ev
from clearing.errors import InvariantViolation
from clearing.invariants import violations
from clearing.log.writer import Sink
from clearing.population import draw_population
from clearing.prices import gbm_path
from clearing.rng import generator
from clearing.scenario import Scenario
from clearing.sim.bus import EventBus
from clearing.sim.checkpointer import checkpoint_process
from clearing.sim.liquidator import LiquidationParams, liquidator_process
from clearing.sim.margin_monitor import MarginMonitor
from clearing.sim.oracle_feed import oracle_process
from clearing.sim.price_feed import index_feed_process
from clearing.sim.traders import trader_entry_process
from clearing.state import ClearingState
from clearing.units import to_ppm

MARKET = 0


@dataclass
class World:
    """One run's environment, state and bus."""

    scenario: Scenario
    seed: int
    env: simpy.Environment
    bus: EventBus

    @property
    def state(self) -> ClearingState:
        """Return the run's state (owned by the bus)."""
        return self.bus.state

    def run(self) -> ClearingState:
        """Run to the scenario's end, record the final checkpoint, check conservation.

        Raises:
            InvariantViolation: the final state breaks a conservation law (a bug).
        """
        end = self.scenario.duration_ns
        self.env.run(until=end)
        self.bus.emit(ev.CheckpointRecorded(ts_ns=end, digest=self.state.digest(), final=True))
        problems = violations(self.state)
        if problems:
            raise InvariantViolation("; ".join(problems))
        return self.state


def build_world(scenario: Scenario, seed: int, sink: Sink) -> World:
    """Open the market and accounts, and start every process of the run."""
    sc = scenario
    env = simpy.Environment(initial_time=0)
    bus = EventBus(ClearingState(), sink)
    m = sc.market
    bus.emit(
        ev.MarketListed(
            ts_ns=0, market=MARKET, symbol=m.symbol, tick_size=str(m.tick_size), lot_size=str(m.lot_size),
            quote_decimals=m.quote_decimals, unit_value=m.unit_value,
            maintenance_margin_ppm=to_ppm(m.maintenance_margin_rate, "maintenance_margin_rate"),
            liquidation_fee_ppm=to_ppm(m.liquidation_fee_rate, "liquidation_fee_rate"),
            taker_fee_ppm=to_ppm(m.taker_fee_rate, "taker_fee_rate"),
        )
    )  # fmt: skip
    traders = sc.population.accounts
    bus.emit(ev.AccountsOpened(ts_ns=0, first_account=0, count=traders, role=ev.ROLE_TRADER))
    provider = traders
    bus.emit(ev.AccountsOpened(ts_ns=0, first_account=provider, count=1, role=ev.ROLE_LIQUIDITY_PROVIDER))
    bus.emit(ev.Deposited(ts_ns=0, account=provider, amount=sc.quote_minor(sc.liquidity_provider.collateral)))
    if sc.insurance_fund.initial > 0:
        bus.emit(ev.InsuranceFundDeposited(ts_ns=0, amount=sc.quote_minor(sc.insurance_fund.initial)))

    step_ns = sc.ms_ns(sc.price.step_ms)
    initial = sc.price_ticks(sc.price.initial)
    shocks = [(sc.seconds_ns(k.start_s), sc.seconds_ns(k.duration_s), k.change) for k in sc.price.shocks]
    path = gbm_path(
        generator(seed, "index"), initial, sc.duration_ns // step_ns, step_ns, sc.price.volatility, sc.price.drift, shocks
    )
    index_seq: dict[int, int] = {}
    env.process(index_feed_process(env, bus, MARKET, path, step_ns, index_seq))

    queue = simpy.Store(env)
    monitor = MarginMonitor(env, bus, queue)
    o = sc.oracle
    env.process(
        oracle_process(
            env, bus, MARKET, sc.ms_ns(o.observe_interval_ms), to_ppm(o.deviation, "oracle.deviation"),
            sc.seconds_ns(o.heartbeat_s), sc.ms_ns(o.latency_ms), index_seq, monitor.on_mark,
        )
    )  # fmt: skip

    p = sc.population
    population = draw_population(
        generator(seed, "population"), traders, p.long_fraction, sc.quote_minor(p.notional_median),
        p.notional_sigma, sc.quote_minor(p.notional_max), p.leverage, p.leverage_weights,
        sc.seconds_ns(p.entry_window_s), initial * m.unit_value,
    )  # fmt: skip
    env.process(
        trader_entry_process(
            env, bus, MARKET, population, 0, provider, p.spread_bps * 50,
            to_ppm(m.taker_fee_rate, "taker_fee_rate"),
        )
    )  # fmt: skip

    q = sc.liquidation
    params = LiquidationParams(
        to_ppm(m.liquidation_fee_rate, "fee"), to_ppm(q.slippage, "slippage"), sc.quote_minor(q.impact_depth),
        to_ppm(q.max_slippage, "max_slippage"),
    )  # fmt: skip
    for _ in range(q.liquidators):
        env.process(
            liquidator_process(env, bus, queue, provider, sc.ms_ns(q.service_time_ms), params)
        )  # fmt: skip
    env.process(checkpoint_process(env, bus, sc.seconds_ns(sc.checkpoint_interval_s)))
    return World(sc, seed, env, bus)
