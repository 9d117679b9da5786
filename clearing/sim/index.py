"""Each market's exogenous index path and the makers' depth profile, drawn or read before the run starts.

The paths are inputs, not parameters: they come from the seed (a generated path, or the
Brownian bridge through a tape's bars) and from the data files the scenario names, found
and hashed before the run (`clearing.data.inputs`).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import NamedTuple

from clearing.core.correlation import correlated_gbm_paths
from clearing.core.heston import heston_paths
from clearing.core.paths import bridge_path, gbm_path, jump_diffusion_path, trades_path
from clearing.data import tapes
from clearing.rng import generator
from clearing.scenario.params import RunParams
from clearing.units import NS_PER_MS, Int64Array

DepthAt = Callable[[int], tuple[tuple[float, ...], tuple[float, ...]]]


def stream(market: int, name: str) -> str:
    """Return a market's random stream name: the primary market keeps the one-market names.

    So adding markets never changes market 0's draws.
    """
    return name if market == 0 else f"market/{market}/{name}"


class IndexPaths(NamedTuple):
    """Every market's index path (ticks per step, step_ns), and the volatility path (ppm) of each Heston market."""

    paths: list[tuple[Int64Array, int]]
    heston_vol_ppm: dict[int, Int64Array]


def index_paths(params: RunParams, seed: int, inputs: dict[str, Path]) -> IndexPaths:
    """Return the index paths of every market: the correlated group drawn jointly, Heston markets with their vol.

    The `[correlation]` markets draw from one stream ("correlated"), each with its own
    initial price, volatility, drift and shocks (`correlated_gbm_paths`); a Heston market from
    its own index stream (`heston_paths`); a future on another market shares that market's
    index path (a BTC quarterly's index is the BTC index), and so does an option (its entry
    is never published: the option pricer prices it); every other market as `index_path` says.
    """
    paths: dict[int, tuple[Int64Array, int]] = {}
    vols: dict[int, Int64Array] = {}
    c = params.correlation
    if c is not None:
        specs = [params.markets[m].index_path for m in c.markets]
        step_ns = specs[0].step_ns
        joint = correlated_gbm_paths(
            generator(seed, "correlated"), [p.initial_ticks for p in specs], [p.volatility for p in specs],
            [p.drift for p in specs], c.matrix, step_ns, params.duration_ns // step_ns, c.stress,
            [list(p.shocks) for p in specs],
        )  # fmt: skip
        for row, market in enumerate(c.markets):
            paths[market] = (joint.ticks[row], step_ns)
    for market, m in enumerate(params.markets):
        p = m.index_path
        if market in paths or _follows(params, market) is not None:
            continue
        if p.model == "heston" and params.heston is not None:
            rng = generator(seed, "index" if market == 0 else f"index/{market}")
            h = heston_paths(rng, p.initial_ticks, params.heston, p.drift, p.step_ns, params.duration_ns // p.step_ns)
            paths[market], vols[market] = (h.ticks[0], p.step_ns), h.vol_ppm[0]
        else:
            paths[market] = index_path(params, market, seed, inputs)
    for market in range(len(params.markets)):
        followed = _follows(params, market)
        if followed is not None:  # a future on another market's index has that index
            paths[market] = paths[followed]
    return IndexPaths([paths[m] for m in range(len(params.markets))], vols)


def _follows(params: RunParams, market: int) -> int | None:
    # The market whose index path a future on another market, or an option, shares (None: its own
    # path). An option's is never published (the option pricer prices it); drawing one would be waste.
    contract = params.markets[market].contract
    if contract is not None and contract.underlying != market:
        return contract.underlying
    return None


def index_path(params: RunParams, market: int, seed: int, inputs: dict[str, Path]) -> tuple[Int64Array, int]:
    """Return (ticks at every step from 0 to the end, step_ns) of a market's exogenous index.

    GBM or jump diffusion from the market's `index` stream; a tape of trades (last trade
    price); or a tape of bars bridged by the same stream, from the data files when all are
    in `inputs`, else from the hourly path the scenario writes down.
    """
    m = params.markets[market]
    p = m.index_path
    n_steps = params.duration_ns // p.step_ns
    rng = generator(seed, "index" if market == 0 else f"index/{market}")
    shocks = list(p.shocks)
    if p.model == "gbm":
        return gbm_path(rng, p.initial_ticks, n_steps, p.step_ns, p.volatility, p.drift, shocks), p.step_ns
    if p.model == "jump":
        path = jump_diffusion_path(
            rng, p.initial_ticks, n_steps, p.step_ns, p.volatility, p.drift, p.jump_intensity_per_day, p.jump_mean,
            p.jump_stdev, shocks,
        )  # fmt: skip
        return path, p.step_ns
    tick_size = Decimal(m.tick_size)
    if p.kind == "trades":
        trades = tapes.read_trades(inputs[p.files[0]], tick_size)
        return trades_path(trades, p.start_ms * 1000, p.step_ns, n_steps, p.initial_ticks), p.step_ns
    if p.files and all(name in inputs for name in p.files):
        bars = tapes.concat_bars([tapes.read_bars(inputs[name], tick_size) for name in p.files], list(p.files))
    else:  # the files are not in the data directory: the hourly path written in the scenario
        bars = tapes.hourly_bars(list(p.hourly), tick_size)
    return bridge_path(rng, bars, p.start_ms, p.step_ns, n_steps), p.step_ns


def depth_source(params: RunParams, inputs: dict[str, Path]) -> DepthAt | None:
    """Return `depth_at(now_ns)`, the makers' (bid, ask) notional per level from the depth file, or None.

    None when the scenario names no depth file, or names one the data directory lacks
    (allowed only with `depth_optional`, checked when the inputs are resolved).
    """
    mm = params.makers
    if mm.depth_profile not in inputs:
        return None
    profile = tapes.read_depth_profile(inputs[mm.depth_profile])
    scale = 10 ** params.markets[0].quote_decimals

    def depth_at(now_ns: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
        bid, ask = tapes.depth_at(profile, params.epoch_ms + now_ns // NS_PER_MS)
        return tuple(((ask if mm.depth_mirror else bid) * scale).tolist()), tuple((ask * scale).tolist())

    return depth_at
