"""Wiring of option markets: each underlying's surface feed and each option's pricer.

An option market has no index path or oracle of its own (`build_world` skips them): its
prices come from `clearing.sim.option_pricer` on its underlying and the surface.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from clearing.core.options.dynamics import atm_vol_path, surface_from_level
from clearing.core.options.marks import model_price_ticks
from clearing.core.options.surface import VolSurface
from clearing.data.option_chain import load_okx_surfaces
from clearing.errors import DataError
from clearing.scenario.params import RunParams
from clearing.sim.bus import EventBus
from clearing.sim.causes import Latest
from clearing.sim.clock import Clock
from clearing.sim.index import IndexPaths
from clearing.sim.option_pricer import option_pricer_process
from clearing.sim.surface_feed import GRID_PPM, fitted_surface_process, synthetic_surface_process
from clearing.units import NS_PER_MS


def option_markets(params: RunParams) -> list[int]:
    """Return the option markets of a run, ascending."""
    return [m for m in range(len(params.markets)) if params.is_option(m)]


def start_options(
    env: Clock, bus: EventBus, params: RunParams, drawn: IndexPaths, inputs: dict[str, Path], latest: Latest,
    on_mark: Callable[[int, int], None],
) -> dict[int, int]:  # fmt: skip
    """Start the surface feeds and the option pricers; return each option's model price at the start (ticks).

    The synthetic surface's level follows the underlying's path through the leverage effect
    (`atm_vol_path`); the "heston" one is the underlying's Heston volatility path.
    """
    paths = drawn.paths
    options = option_markets(params)
    v = params.volatility
    if not options or v is None:
        return {}
    by_underlying: dict[int, list[int]] = {}
    for market in options:
        contract = params.markets[market].contract
        assert contract is not None
        by_underlying.setdefault(contract.underlying, []).append(market)
    first: dict[int, VolSurface] = {}
    epoch_ns = params.epoch_ms * NS_PER_MS
    for underlying, markets in sorted(by_underlying.items()):
        expiries = [c.expiry_ns for m in markets if (c := params.markets[m].contract) is not None]
        if v.model == "okx" and v.file in inputs:  # (missing only when `file_optional`: then synthetic)
            surfaces = [(t, s) for t, s in load_okx_surfaces(inputs[v.file]) if t >= epoch_ns]
            if not surfaces:
                raise DataError(f"{v.file}: no surface at or after the scenario's epoch")
            _minute, s0 = surfaces[0]
            first[underlying] = VolSurface(tuple(e - epoch_ns for e in s0.expiries_ns), s0.log_moneyness_ppm, s0.vol_ppm)
            env.process(fitted_surface_process(env, bus, underlying, surfaces, epoch_ns, v.file, latest))
        else:
            path, step_ns = paths[underlying]
            heston = v.model == "heston" and underlying in drawn.heston_vol_ppm
            levels = drawn.heston_vol_ppm[underlying] if heston else atm_vol_path(path, step_ns, v.leverage)
            first[underlying] = surface_from_level(int(levels[0]), sorted(set(expiries)), GRID_PPM, v.skew_ppm,
                                                   v.term_slope_ppm_per_year, v.leverage.floor_ppm)  # fmt: skip
            env.process(synthetic_surface_process(env, bus, underlying, expiries, levels, step_ns, v, latest))
    initial = {}
    for underlying, markets in sorted(by_underlying.items()):
        for market in markets:
            contract = params.markets[market].contract
            assert contract is not None
            initial[market] = model_price_ticks(
                first[underlying], 0, contract.expiry_ns, int(paths[underlying][0][0]),
                Decimal(params.markets[underlying].tick_size), Decimal(contract.strike),
                Decimal(params.markets[market].tick_size), contract.option_type == "call",
            )  # fmt: skip
        env.process(option_pricer_process(env, bus, underlying, markets, latest, on_mark))
    return initial
