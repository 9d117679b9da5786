"""The implied-volatility surface of each underlying with options: synthetic, or fitted to a real chain.

"synthetic": the ATM level follows the underlying's own index path through the leverage
effect (`clearing.core.options.dynamics.atm_vol_path`, computed once over the path);
"heston": it is the underlying's Heston volatility path; either way a surface with the
scenario's skew and term slope over the options' remaining expiries is published every
interval. "okx": the surfaces fitted each minute to the OKX chain
(`clearing.data.option_chain.load_okx_surfaces`), moved onto the run's clock. Every surface
is published without calendar arbitrage at its time.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from typing import Any

import simpy

from clearing import events as ev
from clearing.core.options.dynamics import surface_from_level
from clearing.core.options.surface import VolSurface, moneyness_grid_ppm, without_calendar_arbitrage
from clearing.scenario.params import VolatilityParams
from clearing.sim.bus import EventBus
from clearing.sim.causes import Latest
from clearing.sim.clock import Clock
from clearing.units import Int64Array

GRID_PPM = moneyness_grid_ppm(-500_000, 500_000, 50_000)  # k from -0.5 to +0.5 in steps of 0.05


def _publish(env: Clock, bus: EventBus, underlying: int, surface: VolSurface, source: str, latest: Latest) -> None:
    surface = without_calendar_arbitrage(surface, env.now)
    seq = bus.emit(
        ev.VolatilitySurfaceUpdated(
            ts_ns=env.now, causes=latest.of_index(underlying), underlying=underlying, expiries_ns=surface.expiries_ns,
            log_moneyness_ppm=surface.log_moneyness_ppm, vol_ppm=surface.vol_ppm, source=source,
        )
    )  # fmt: skip
    latest.surfaces[underlying] = (seq,)


def synthetic_surface_process(
    env: Clock, bus: EventBus, underlying: int, expiries_ns: Sequence[int], levels: Int64Array, step_ns: int,
    params: VolatilityParams, latest: Latest,
) -> Generator[simpy.Event, Any, None]:  # fmt: skip
    """Publish the underlying's surface every interval while an option on it is alive: ATM level `levels` (ppm per step)."""
    while True:
        alive = [e for e in sorted(set(expiries_ns)) if e > env.now]
        if not alive:
            return
        level = int(levels[min(env.now // step_ns, len(levels) - 1)])
        surface = surface_from_level(level, alive, GRID_PPM, params.skew_ppm, params.term_slope_ppm_per_year,
                                     params.leverage.floor_ppm)  # fmt: skip
        _publish(env, bus, underlying, surface, "synthetic", latest)
        yield env.timeout(params.interval_ns)


def fitted_surface_process(
    env: Clock, bus: EventBus, underlying: int, surfaces: Sequence[tuple[int, VolSurface]], epoch_ns: int, source: str,
    latest: Latest,
) -> Generator[simpy.Event, Any, None]:  # fmt: skip
    """Publish each fitted surface (UTC ns) at its minute on the run's clock (ns since `epoch_ns`)."""
    for minute_ns, surface in surfaces:
        at = minute_ns - epoch_ns
        if at < env.now:
            continue
        yield env.timeout(at - env.now)
        moved = VolSurface(tuple(e - epoch_ns for e in surface.expiries_ns), surface.log_moneyness_ppm, surface.vol_ppm)
        _publish(env, bus, underlying, moved, source, latest)
