"""Portfolio margin in the engine: per-lot scenario P/L tables, exact matrix products, and an incremental cache.

The engine margins a portfolio account by scenario tables over every market it holds,
options revalued with Black-76: Deribit's grid (`clearing.core.portfolio.grid`), SPAN's
risk arrays (`clearing.core.portfolio.span`) or filtered historical scenarios
(`clearing.core.portfolio.es`). Per underlying u, a `ScenarioTable` holds the P/L of one
lot of each market on u (the perpetual, dated futures, live options) in each scenario, in
whole quote minor units (rounded to the nearest: at
most half a minor unit per lot). An account's scenario P/L on u is then a matrix product,
positions (n, k) @ table (k, S), exact: every entry is an integer and the product is taken in
float64 only when |lots| x k x |per-lot P/L| < 2^53, where every partial sum is an exact
integer whatever order the BLAS adds in (so the result, and the log, cannot depend on the
machine's thread count); otherwise in int64. The requirement:

    standalone_u = max(0, -min_s pnl_u[s])          (the worst loss on u)
    joint        = max(0, -min_s sum_u pnl_u[s])     (every underlying in the same scenario)
    requirement  = sum_u standalone_u - floor(credit x (sum_u standalone_u - joint))

Credit 0 (Deribit: each currency's portfolio margined alone) sums the underlyings; a credit
nets them in proportion, as `clearing.core.margin.span_requirement` does. SPAN adds its
intra-commodity spread charge and floors the sum at its short option minimum; expected
shortfall takes the tail mean of the joint P/L instead (`Reduction`). `ScenarioCache` keeps
each account's P/L per underlying (accounts x scenarios) and recomputes only the rows whose
positions changed and, for an underlying whose table changed, only the accounts that hold
something on it. Sources: docs/references.md [deribit-pm], [deribit-pm-history], [cme-span], [lch-pairs].
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from clearing.core.options.pricing import black76_price
from clearing.core.portfolio.grid import NS_PER_DAY, GridParams, price_moves, vol_shock
from clearing.units import PPM, Float64Array, Int64Array, mul_div_ceil

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
    minor units held in float64; `key`: what the table was built from (equal keys, equal
    tables). SPAN's charges, when the table carries them (`clearing.core.portfolio.span`):
    `tiers` (k, T) one lot's delta in each expiry tier (whole quote minor units per
    underlying tick), `intra` (the spread rate in ppm, the underlying's price in ticks) and
    `som` (k,) the short option minimum of one short lot (0 for a linear market).
    """

    markets: Int64Array
    pnl: Float64Array
    key: tuple[object, ...]
    tiers: Float64Array | None = None
    intra: tuple[int, int] = (0, 0)
    som: Int64Array | None = None


class Reduction(NamedTuple):
    """How scenario P/L becomes a requirement.

    "worst" (Deribit's grid, SPAN's scanning risk): the worst loss per underlying, less
    `credit_ppm` of what scanning them jointly saves; "span": that plus the tables'
    intra-commodity spread charges, at least their short option minimum; "es": the expected
    shortfall of the joint P/L (every underlying in the same scenario row), the mean of the
    `tail` worst losses of the first `split` scenarios (the filtered look-back) and of the
    rest (the stress scenarios, when there are any), the larger of the two.
    """

    method: str = "worst"
    credit_ppm: int = 0
    tail: int = 1
    split: int = 0


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


def table_charges(lots: Int64Array, table: ScenarioTable) -> tuple[Int64Array, Int64Array]:
    """Return SPAN's (intra-commodity spread charge, short option minimum) of positions `lots` (n, k) on one table.

    Each tier's net delta is lots @ `tiers` (exact, `scenario_pnl`); the spread delta is
    min(sum of the long tiers, sum of the short ones) and is charged the rate on its notional
    at the underlying's price, ceil(spread delta x price x rate / 10^6) (against the
    account); the minimum is sum over short option lots of their `som`. Zeros for a table
    without charges.
    """
    n = lots.shape[0]
    intra = np.zeros(n, np.int64)
    som = np.zeros(n, np.int64)
    rate, price = table.intra
    if table.tiers is not None and rate and table.tiers.shape[1] > 1:
        deltas = scenario_pnl(lots, table.tiers)
        matched = np.minimum(np.where(deltas > 0, deltas, 0.0).sum(axis=1), np.where(deltas < 0, -deltas, 0.0).sum(axis=1))
        intra = np.asarray(mul_div_ceil(matched.astype(np.int64) * price, rate, PPM), np.int64)
    if table.som is not None and table.som.any():
        som = np.maximum(-lots, 0) @ table.som
    return intra, som


def reduce(rule: Reduction, standalone: Int64Array, joint: Float64Array | None, intra: Int64Array, som: Int64Array) -> Int64Array:
    """Return the requirement of each row from its per-underlying worst losses, joint P/L (n, S) and charges.

    `standalone`, `intra`, `som`: (n, U), one column per underlying. SPAN: per underlying the
    larger of its scanning risk plus intra charge and its short option minimum, summed, less
    the inter-commodity credit on the scanning risk, and at least the summed minimums (CME:
    max(scan + intra - credit, SOM) per combined commodity; the credit here is the account's).
    """
    if rule.method == "es":
        if joint is None:
            return np.zeros(standalone.shape[0], np.int64)
        out = _shortfall(joint[:, : rule.split], rule.tail)
        if rule.split < joint.shape[1]:
            out = np.maximum(out, _shortfall(joint[:, rule.split :], rule.tail))
        return out
    if rule.method != "span":
        return combine(standalone, worst_loss(joint) if joint is not None else None, rule.credit_ppm)
    credit = standalone.sum(axis=1) - combine(standalone, worst_loss(joint) if joint is not None else None, rule.credit_ppm)
    return np.maximum(np.maximum(standalone + intra, som).sum(axis=1) - credit, som.sum(axis=1))  # type: ignore[no-any-return]


def _shortfall(pnl: Float64Array, tail: int) -> Int64Array:
    # The mean of the `tail` worst losses of each row (ceil, against the account), at least 0.
    if pnl.shape[1] == 0:
        return np.zeros(pnl.shape[0], np.int64)
    k = min(tail, pnl.shape[1])
    worst = -np.partition(pnl, k - 1, axis=1)[:, :k]
    total = worst.sum(axis=1).astype(np.int64)
    return np.maximum(0, -((-total) // k))  # type: ignore[no-any-return]


def _needs_joint(rule: Reduction) -> bool:
    return rule.method == "es" or bool(rule.credit_ppm)


WORST = Reduction()  # the grid's rule without a credit


def scenario_requirements(positions: Int64Array, tables: Mapping[int, ScenarioTable], rule: Reduction = WORST) -> Int64Array:
    """Return each account's maintenance requirement under the tables, quote minor units, shape (n,).

    `positions` (n, M): every market's lots; `tables`: one per underlying (`ScenarioTable`),
    sharing one scenario order; `rule`: how the P/L becomes a requirement (`Reduction`).
    Markets on no table need nothing here.
    """
    n = positions.shape[0]
    standalone = np.zeros((n, len(tables)), np.int64)
    intra = np.zeros((n, len(tables)), np.int64)
    som = np.zeros((n, len(tables)), np.int64)
    joint_pnl: Float64Array | None = None
    for j, (_u, table) in enumerate(sorted(tables.items())):
        lots = positions[:, table.markets]
        pnl = scenario_pnl(lots, table.pnl)
        standalone[:, j] = worst_loss(pnl)
        if _needs_joint(rule):
            joint_pnl = pnl if joint_pnl is None else joint_pnl + pnl
        if rule.method == "span":
            intra[:, j], som[:, j] = table_charges(lots, table)
    return reduce(rule, standalone, joint_pnl, intra, som)


def grid_requirements(positions: Int64Array, tables: Mapping[int, ScenarioTable], credit_ppm: int = 0) -> Int64Array:
    """Return each account's requirement under Deribit's grid: `scenario_requirements` by the worst loss."""
    return scenario_requirements(positions, tables, Reduction("worst", credit_ppm))


class ScenarioCache:
    """Each account's scenario requirement, recomputed only where its inputs changed.

    Holds, per underlying, every account's scenario P/L (accounts x scenarios) and worst
    loss, and which accounts hold something on it. `update` marks stale the rows whose
    positions changed, and, for each underlying whose table changed (its prices, surface,
    time or listed series), the accounts that hold something on it; `requirements`
    recomputes the stale entries of the rows asked for, one matrix product per underlying,
    and returns exactly `scenario_requirements` of those rows under `rule`.
    """

    def __init__(self, rule: Reduction = WORST) -> None:
        self.rule = rule
        self.n = 0
        self.tables: dict[int, ScenarioTable] = {}
        self.pnl: dict[int, Float64Array] = {}
        self.loss: dict[int, Int64Array] = {}
        self.holders: dict[int, npt.NDArray[np.bool_]] = {}
        self.stale: dict[int, npt.NDArray[np.bool_]] = {}
        self.charges: dict[int, tuple[Int64Array, Int64Array]] = {}  # SPAN: each account's (intra, som) on u

    def update(self, positions: Int64Array, tables: Mapping[int, ScenarioTable], changed: Int64Array | None) -> None:
        """Take the current `tables` and the rows whose positions `changed` since the last call (None: all of them)."""
        n = positions.shape[0]
        reshaped = any(t.pnl.shape[1] != self.tables[u].pnl.shape[1] for u, t in tables.items() if u in self.tables)
        if n != self.n or changed is None or set(tables) != set(self.tables) or reshaped:
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
        self.charges = {u: (np.zeros(self.n, np.int64), np.zeros(self.n, np.int64)) for u in tables}
        self.holders = {u: _holding(positions, t.markets) for u, t in tables.items()}
        self.stale = {u: h.copy() for u, h in self.holders.items()}

    def requirements(self, positions: Int64Array, rows: Int64Array) -> Int64Array:
        """Return the requirement of `rows` at the tables of the last `update` (`scenario_requirements` of them)."""
        span = self.rule.method == "span"
        for u, table in self.tables.items():
            stale = self.stale[u]
            todo = rows[stale[rows]]
            if todo.size:
                lots = positions[todo][:, table.markets]
                pnl = scenario_pnl(lots, table.pnl)
                self.pnl[u][todo] = pnl
                self.loss[u][todo] = worst_loss(pnl)
                if span:
                    intra, som = table_charges(lots, table)
                    self.charges[u][0][todo] = intra
                    self.charges[u][1][todo] = som
                stale[todo] = False
        order = sorted(self.tables)
        standalone = np.zeros((rows.size, len(order)), np.int64)
        intra = np.zeros((rows.size, len(order)), np.int64)
        som = np.zeros((rows.size, len(order)), np.int64)
        for j, u in enumerate(order):
            standalone[:, j] = self.loss[u][rows]
            if span:
                intra[:, j] = self.charges[u][0][rows]
                som[:, j] = self.charges[u][1][rows]
        joint = None
        if _needs_joint(self.rule) and order:
            joint = np.add.reduce([self.pnl[u][rows] for u in order])
        return reduce(self.rule, standalone, joint, intra, som)


def _holding(positions: Int64Array, markets: Int64Array) -> npt.NDArray[np.bool_]:
    # The rows holding something on any of `markets`.
    return np.asarray(positions[:, markets].any(axis=1), np.bool_)
