"""Portfolio margin in the engine: per-lot scenario P/L tables, exact matrix products, and an incremental cache.

The engine margins a portfolio account by Deribit's grid (`clearing.core.portfolio.grid`)
over every market it holds, options revalued with Black-76. Per underlying u, a
`ScenarioTable` holds the P/L of one lot of each market on u (the perpetual, dated futures,
live options) in each grid scenario, in whole quote minor units (rounded to the nearest: at
most half a minor unit per lot). An account's scenario P/L on u is then a matrix product,
positions (n, k) @ table (k, S), exact: every entry is an integer and the product is taken in
float64 only when |lots| x k x |per-lot P/L| < 2^53, where every partial sum is an exact
integer whatever order the BLAS adds in (so the result, and the log, cannot depend on the
machine's thread count); otherwise in int64. The requirement:

    standalone_u = max(0, -min_s pnl_u[s])          (the worst loss on u)
    joint        = max(0, -min_s sum_u pnl_u[s])     (every underlying in the same scenario)
    requirement  = sum_u standalone_u - floor(credit x (sum_u standalone_u - joint))

Credit 0 (Deribit: each currency's portfolio margined alone) sums the underlyings; a credit
nets them in proportion, as `clearing.core.margin.span_requirement` does. `GridCache` keeps
each account's P/L per underlying (accounts x scenarios) and recomputes only the rows whose
positions changed and, for an underlying whose table changed, only the accounts that hold
something on it. Sources: docs/references.md [deribit-pm], [deribit-pm-history].
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from clearing.core.options.pricing import black76_price
from clearing.core.portfolio.grid import NS_PER_DAY, GridParams, price_moves, vol_shock
from clearing.units import PPM, Float64Array, Int64Array

EXACT_FLOAT = 2**53  # integers below this add exactly in float64, in any order
_INT64_SAFE = 2**62


class Scenarios(NamedTuple):
    """The grid's scenarios in a fixed order, shape (S,) each: the standard table, then the extended one."""

    moves: Float64Array  # relative price move of the underlying
    vol_dirs: Float64Array  # +1 volatility up, 0 unchanged, -1 down
    weights: Float64Array  # 1 for the standard table, `extended_weight` for the extended one


def grid_scenarios(params: GridParams) -> Scenarios:
    """Return the standard table (each point with the volatility up, unchanged, down), then the weighted extended one.

    Deribit BTC: 9 points x 3 = 27 scenarios, plus the 8 extended moves (volatility up) when
    `extended_weight` > 0.
    """
    points = price_moves(params.price_range, params.buckets)
    moves = [np.repeat(points, 3)]
    dirs = [np.tile(np.array([1.0, 0.0, -1.0]), points.size)]
    weights = [np.ones(3 * points.size)]
    if params.extended_weight > 0 and params.extended_moves:
        far = np.asarray(params.extended_moves, np.float64)
        moves.append(far)
        dirs.append(np.ones(far.size))
        weights.append(np.full(far.size, params.extended_weight))
    return Scenarios(np.concatenate(moves), np.concatenate(dirs), np.concatenate(weights))


def linear_lot_pnl(lot_values: npt.ArrayLike, scenarios: Scenarios) -> Float64Array:
    """Return one lot's P/L of each linear market (perpetual, future) in each scenario, whole minor units, (k, S).

    `lot_values` (k,): one lot's quote value at its price (minor units); P/L = value x move x weight.
    """
    values = np.asarray(lot_values, np.float64)[:, None]
    return np.rint(values * (scenarios.moves * scenarios.weights)[None, :])  # type: ignore[no-any-return]


def option_lot_pnl(
    forward_ticks: float, strike_ticks: npt.ArrayLike, is_call: npt.ArrayLike, vol: npt.ArrayLike, tau_ns: npt.ArrayLike,
    unit_value: npt.ArrayLike, scenarios: Scenarios, params: GridParams,
) -> Float64Array:  # fmt: skip
    """Return one lot's P/L of each option in each scenario, whole minor units, shape (k, S).

    Black-76 at the underlying's price x (1 + move) and the option's volatility times
    (1 + shock up), 1 or (1 - shock down), the shock of its own time to expiry
    (`vol_shock`), less its value now; in underlying ticks, times `unit_value` (quote minor
    units per option lot per underlying tick) and the scenario's weight. An option at or past
    its expiry is worth its intrinsic value in every volatility.
    """
    strike = np.asarray(strike_ticks, np.float64)
    call = np.asarray(is_call, np.bool_)
    sigma = np.asarray(vol, np.float64)
    tau = np.asarray(tau_ns, np.int64)
    dte = tau.astype(np.float64) / NS_PER_DAY
    up = vol_shock(dte, params.vol_up, params.short_term_power, params.long_term_power)
    down = vol_shock(dte, params.vol_down, params.short_term_power, params.long_term_power)
    dirs = scenarios.vol_dirs[None, :]
    factor = 1.0 + np.where(dirs > 0, up[:, None], np.where(dirs < 0, -down[:, None], 0.0))
    shocked = np.maximum(sigma[:, None] * factor, 0.0)
    now = black76_price(forward_ticks, strike, sigma, tau, call)
    later = black76_price(
        forward_ticks * (1.0 + scenarios.moves)[None, :], strike[:, None], shocked, tau[:, None], call[:, None]
    )
    per_tick = np.asarray(unit_value, np.float64)[:, None]
    return np.rint((later - now[:, None]) * per_tick * scenarios.weights[None, :])  # type: ignore[no-any-return]


class ScenarioTable(NamedTuple):
    """One underlying's markets and the P/L of one lot of each in each scenario.

    `markets` (k,): columns of the positions matrix, ascending; `pnl` (k, S): whole quote
    minor units held in float64; `key`: what the table was built from (equal keys, equal tables).
    """

    markets: Int64Array
    pnl: Float64Array
    key: tuple[object, ...]


def scenario_pnl(lots: Int64Array, pnl: Float64Array) -> Float64Array:
    """Return lots (n, k) @ pnl (k, S): each account's P/L in each scenario, exact, as float64 whole numbers.

    In float64 (BLAS) when max |lots| x k x max |pnl| < 2^53, so every partial sum is an
    exact integer in any order of addition; else in int64 when that bound is below 2^62.

    Raises:
        ValueError: positions or P/L too large for an exact product.
    """
    if lots.shape[0] == 0 or lots.shape[1] == 0:
        return np.zeros((lots.shape[0], pnl.shape[1]), np.float64)
    bound = int(np.abs(lots).max()) * lots.shape[1] * int(np.abs(pnl).max())
    if bound < EXACT_FLOAT:
        return lots.astype(np.float64) @ pnl  # type: ignore[no-any-return]
    if bound < _INT64_SAFE:
        return (lots @ pnl.astype(np.int64)).astype(np.float64)  # type: ignore[no-any-return]
    raise ValueError(f"positions of up to {int(np.abs(lots).max())} lots are too large for an exact scenario margin")


def worst_loss(pnl: Float64Array) -> Int64Array:
    """Return max(0, -min over scenarios) of each row of scenario P/L (n, S): the worst loss, int64 (n,)."""
    if pnl.shape[1] == 0:
        return np.zeros(pnl.shape[0], np.int64)
    return np.maximum(0.0, -pnl.min(axis=1)).astype(np.int64)  # type: ignore[no-any-return]


def combine(standalone: Int64Array, joint: Int64Array | None, credit_ppm: int) -> Int64Array:
    """Return sum_u standalone_u - floor(credit x (sum_u standalone_u - joint)); `joint` unused at credit 0."""
    total = standalone.sum(axis=1)
    if not credit_ppm or joint is None:
        return total  # type: ignore[no-any-return]
    return total - ((total - joint) * credit_ppm) // PPM  # type: ignore[no-any-return]


def grid_requirements(positions: Int64Array, tables: Mapping[int, ScenarioTable], credit_ppm: int = 0) -> Int64Array:
    """Return each account's maintenance requirement under the grid, quote minor units, shape (n,).

    `positions` (n, M): every market's lots; `tables`: one per underlying (`ScenarioTable`),
    sharing one scenario order. Markets on no table need nothing here.
    """
    n = positions.shape[0]
    standalone = np.zeros((n, len(tables)), np.int64)
    joint_pnl: Float64Array | None = None
    for j, (_u, table) in enumerate(sorted(tables.items())):
        pnl = scenario_pnl(positions[:, table.markets], table.pnl)
        standalone[:, j] = worst_loss(pnl)
        if credit_ppm:
            joint_pnl = pnl if joint_pnl is None else joint_pnl + pnl
    joint = worst_loss(joint_pnl) if joint_pnl is not None else None
    return combine(standalone, joint, credit_ppm)


class GridCache:
    """Each account's grid requirement, recomputed only where its inputs changed.

    Holds, per underlying, every account's scenario P/L (accounts x scenarios) and worst
    loss, and which accounts hold something on it. `update` marks stale the rows whose
    positions changed, and, for each underlying whose table changed (its prices, surface,
    time or listed series), the accounts that hold something on it; `requirements`
    recomputes the stale entries of the rows asked for, one matrix product per underlying,
    and returns exactly `grid_requirements` of those rows.
    """

    def __init__(self, credit_ppm: int = 0) -> None:
        self.credit_ppm = credit_ppm
        self.n = 0
        self.tables: dict[int, ScenarioTable] = {}
        self.pnl: dict[int, Float64Array] = {}
        self.loss: dict[int, Int64Array] = {}
        self.holders: dict[int, npt.NDArray[np.bool_]] = {}
        self.stale: dict[int, npt.NDArray[np.bool_]] = {}

    def update(self, positions: Int64Array, tables: Mapping[int, ScenarioTable], changed: Int64Array | None) -> None:
        """Take the current `tables` and the rows whose positions `changed` since the last call (None: all of them)."""
        n = positions.shape[0]
        if n != self.n or changed is None or set(tables) != set(self.tables):
            self._reset(positions, tables)
            return
        changed = np.unique(changed)
        for u, table in tables.items():
            old = self.tables[u]
            if not np.array_equal(old.markets, table.markets):  # a series was listed or expired: every holder
                before = self.holders[u]
                self.holders[u] = _holding(positions, table.markets)
                self.stale[u] |= self.holders[u] | before
                self.tables[u] = table
                continue
            if changed.size:
                held = _holding(positions[changed], table.markets)
                self.stale[u][changed] |= held | self.holders[u][changed]
                self.holders[u][changed] = held
            if old.key != table.key:
                self.stale[u] |= self.holders[u]
                self.tables[u] = table

    def _reset(self, positions: Int64Array, tables: Mapping[int, ScenarioTable]) -> None:
        self.n = positions.shape[0]
        self.tables = dict(tables)
        self.pnl = {u: np.zeros((self.n, t.pnl.shape[1]), np.float64) for u, t in tables.items()}
        self.loss = {u: np.zeros(self.n, np.int64) for u in tables}
        self.holders = {u: _holding(positions, t.markets) for u, t in tables.items()}
        self.stale = {u: h.copy() for u, h in self.holders.items()}

    def requirements(self, positions: Int64Array, rows: Int64Array) -> Int64Array:
        """Return the grid requirement of `rows` at the tables of the last `update` (`grid_requirements` of them)."""
        for u, table in self.tables.items():
            stale = self.stale[u]
            todo = rows[stale[rows]]
            if todo.size:
                pnl = scenario_pnl(positions[todo][:, table.markets], table.pnl)
                self.pnl[u][todo] = pnl
                self.loss[u][todo] = worst_loss(pnl)
                stale[todo] = False
        order = sorted(self.tables)
        standalone = np.zeros((rows.size, len(order)), np.int64)
        for j, u in enumerate(order):
            standalone[:, j] = self.loss[u][rows]
        joint = None
        if self.credit_ppm and order:
            joint = worst_loss(np.add.reduce([self.pnl[u][rows] for u in order]))
        return combine(standalone, joint, self.credit_ppm)


def _holding(positions: Int64Array, markets: Int64Array) -> npt.NDArray[np.bool_]:
    # The rows holding something on any of `markets`.
    return np.asarray(positions[:, markets].any(axis=1), np.bool_)
