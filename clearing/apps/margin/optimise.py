"""Optimising a book's margin: the cheapest hedge under a scenario model, and rebalancing to target Greeks.

Both are mixed-integer linear programs (whole lots) solved with HiGHS through
`scipy.optimize.milp`: scipy is already a dependency, and HiGHS solves these exactly at this
size (tens of instruments, at most a few thousand scenario rows), so cvxpy is not needed.

**Hedge** (`smallest_hedge`). The grid's and the engine's expected shortfall's requirements
are piecewise linear in the positions, because their per-lot scenario P/L is fixed at the
current prices (`clearing.core.scenario_margin.scenario_tables`): with x the book's lots
plus the hedge h (integer, within each instrument's limit) and P_u the table of underlying u,

    grid: requirement = (1 - c) sum_u t_u + c t,  t_u >= -P_u[s] . x_u and t_u >= 0 for every s,
                        t >= -sum_u P_u[s] . x_u and t >= 0                 (c the credit)
    es:   requirement = eta + (1 / k) sum_s z_s,  z_s >= L_s(x) - eta, z_s >= 0
          (the mean of the k largest losses, Rockafellar and Uryasev; L_s the joint loss)

and the hedge's cost is sum_j cost_j |h_j| (|h| split into two non-negative parts). The
program minimises requirement + cost, or, with a target, the cost subject to requirement <=
target. SPAN is not offered: its intra-commodity charge (a minimum of sums) is concave in the
positions. The solution is re-margined with the engine (`scenario_requirements`), which is the
number reported.

**Rebalancing** (`rebalance`). The trades of least cost that bring the book's delta and vega
on each named underlying within a tolerance of their targets: the Greeks are linear in the
lots (each lot's delta and vega at the book's prices, `clearing.apps.margin.var.book_greeks`'s
rule), so the program is min sum_j cost_j |h_j| s.t. |Greek(x + h) - target| <= tolerance.
Sources: docs/references.md [rockafellar-uryasev-2000], [highs].
"""

from __future__ import annotations

from decimal import Decimal
from typing import NamedTuple

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp

from clearing.apps.margin.book import Book, HedgeRow, underlying_index
from clearing.apps.margin.engine import book_state
from clearing.core.options.pricing import greeks
from clearing.core.paths import Bars
from clearing.core.portfolio.revaluation import scenario_requirements
from clearing.core.scenario_margin import scenario_tables, table_rule
from clearing.errors import ConfigError

HEDGE_MODELS = ("grid", "es")


class Hedge(NamedTuple):
    """An optimal trade list and what it does: requirement before and after (quote minor units), its cost."""

    trades: dict[str, int]  # symbol -> signed lots
    before: int
    after: int
    cost: float  # quote minor units
    status: str


def hedge_costs(book: Book, hedges: tuple[HedgeRow, ...]) -> tuple[list[int], list[int], list[float]]:
    """Return (markets, lot limits, cost per lot in quote minor units) of the allowed hedge instruments.

    A lot costs (spread + fee) x its underlying notional at the book's price.
    """
    index = {s: i for i, s in enumerate(book.symbols)}
    markets, limits, costs = [], [], []
    for i, h in enumerate(hedges):
        market = index.get(h.symbol)
        if market is None:
            raise ConfigError(f"{book.path}: hedges.{i}: {h.symbol!r} is not a market of the scenario")
        m = book.params.markets[market]
        lot = Decimal(m.lot_size)
        limit = h.max_quantity / lot
        if limit != limit.to_integral_value():
            raise ConfigError(f"{book.path}: hedges.{i}.max_quantity {h.max_quantity} is not a whole number of {lot}")
        u = underlying_index(book.params, market)
        underlying_value = book.prices_ticks[u] * Decimal(book.params.markets[u].tick_size) * lot * 10**m.quote_decimals
        markets.append(market)
        limits.append(int(limit))
        costs.append(float((h.spread + h.fee) * underlying_value))
    return markets, limits, costs


def smallest_hedge(
    book: Book, model: str, hedges: tuple[HedgeRow, ...], target: int | None = None,
    history: dict[int, Bars] | None = None,
) -> Hedge:  # fmt: skip
    """Return the hedge of least requirement + cost under `model` ("grid" or "es"), or of least cost under `target`.

    Raises:
        ConfigError: an unknown model, symbol or a limit that is not whole lots; no hedge instrument.
    """
    if model not in HEDGE_MODELS:
        raise ConfigError(f"the hedge is optimised under {' or '.join(HEDGE_MODELS)}, not {model!r}")
    if not hedges:
        raise ConfigError(f"{book.path}: no [[hedges]] instruments to hedge with")
    b = book_state(book, model, history=history)
    s = b.state
    tables = scenario_tables(s)
    rule = table_rule(s)
    x0 = s.position[b.rows[0]].astype(np.float64)
    markets, limits, costs = hedge_costs(book, hedges)
    n = len(markets)
    order = sorted(tables)
    # Each underlying's P/L per scenario as a function of the hedge: base_u[s] + G_u[s, j] h_j.
    base, gain = [], []
    for u in order:
        t = tables[u]
        base.append(x0[t.markets] @ t.pnl)
        g = np.zeros((t.pnl.shape[1], n))
        for j, market in enumerate(markets):
            hit = np.flatnonzero(t.markets == market)
            if hit.size:
                g[:, j] = t.pnl[hit[0]]
        gain.append(g)
    joint_base: np.ndarray = np.sum(base, axis=0)
    joint_gain: np.ndarray = np.sum(gain, axis=0)
    blocks: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (A, lower, upper) rows over the variables
    # variables: h (n, integer), p (n), m (n) with h = p - m, then the model's auxiliaries
    if model == "grid":
        credit = rule.credit_ppm / 1e6
        aux = len(order) + 1  # t_u for each underlying, then t for the joint scan
        weights = [1.0 - credit] * len(order) + [credit]
        rows_a, lower = [], []
        for i in range(len(order)):  # t_u + G_u h >= -base_u
            for sc in range(base[i].size):
                row = np.zeros(3 * n + aux)
                row[:n] = gain[i][sc]
                row[3 * n + i] = 1.0
                rows_a.append(row)
                lower.append(-base[i][sc])
        for sc in range(joint_base.size):
            row = np.zeros(3 * n + aux)
            row[:n] = joint_gain[sc]
            row[3 * n + len(order)] = 1.0
            rows_a.append(row)
            lower.append(-joint_base[sc])
        a = np.array(rows_a)
        blocks.append((a, np.array(lower), np.full(len(lower), np.inf)))
        requirement = np.zeros(3 * n + aux)
        requirement[3 * n :] = weights
        aux_lower = np.zeros(aux)
    else:  # es: eta + (1/k) sum z_s over each block (window, stress) of the joint losses; the larger of the two
        k = rule.tail
        size = int(joint_base.size)
        parts = [(0, rule.split), (rule.split, size)] if rule.split < size else [(0, size)]
        aux = 1 + len(parts) * (1 + size)  # r, then per part eta and z_s
        rows_a, lower = [], []
        requirement = np.zeros(3 * n + aux)
        requirement[3 * n] = 1.0  # r >= each part's ES
        for pi, (lo, hi) in enumerate(parts):
            eta = 3 * n + 1 + pi * (1 + size)
            k_part = min(k, hi - lo)
            row = np.zeros(3 * n + aux)  # r - eta - (1/k) sum z >= 0
            row[3 * n] = 1.0
            row[eta] = -1.0
            row[eta + 1 + lo : eta + 1 + hi] = -1.0 / k_part
            rows_a.append(row)
            lower.append(0.0)
            for sc in range(lo, hi):  # z_s + eta - G h >= base  (loss L = -(base + G h))
                row = np.zeros(3 * n + aux)
                row[:n] = joint_gain[sc]
                row[eta] = 1.0
                row[eta + 1 + sc] = 1.0
                rows_a.append(row)
                lower.append(-joint_base[sc])
        blocks.append((np.array(rows_a), np.array(lower), np.full(len(lower), np.inf)))
        aux_lower = np.concatenate([[0.0], *[[-np.inf] + [0.0] * size for _ in parts]])
    link = np.zeros((n, 3 * n + aux))  # h - p + m = 0
    link[:, :n] = np.eye(n)
    link[:, n : 2 * n] = -np.eye(n)
    link[:, 2 * n : 3 * n] = np.eye(n)
    blocks.append((link, np.zeros(n), np.zeros(n)))
    cost = np.zeros(3 * n + aux)
    cost[n : 2 * n] = costs
    cost[2 * n : 3 * n] = costs
    if target is None:
        objective = requirement + cost
    else:
        objective = cost
        blocks.append((requirement[None, :], np.array([-np.inf]), np.array([float(target)])))
    lb = np.concatenate([-np.array(limits, float), np.zeros(2 * n), aux_lower])
    ub = np.concatenate([np.array(limits, float), np.full(2 * n, np.inf), np.full(aux, np.inf)])
    integrality = np.concatenate([np.ones(n), np.zeros(2 * n + aux)])
    constraints = [LinearConstraint(a, lo, hi) for a, lo, hi in blocks]
    result = milp(objective, integrality=integrality, bounds=Bounds(lb, ub), constraints=constraints,
                  options={"mip_rel_gap": 0.0})  # fmt: skip
    before = int(scenario_requirements(s.position[b.rows[:1]], tables, rule)[0])
    if result.x is None:
        return Hedge({}, before, before, 0.0, result.message)
    h = np.rint(result.x[:n]).astype(np.int64)
    after_positions = s.position[b.rows[:1]].copy()
    for j, market in enumerate(markets):
        after_positions[0, market] += h[j]
    after = int(scenario_requirements(after_positions, tables, rule)[0])
    trades = {book.symbols[m]: int(q) for m, q in zip(markets, h, strict=True) if q}
    return Hedge(trades, before, after, float(np.abs(h) @ np.array(costs)), "optimal")


class Rebalance(NamedTuple):
    """The trades of least cost to target Greeks, and the Greeks before and after."""

    trades: dict[str, int]
    before: dict[str, tuple[float, float]]  # underlying symbol -> (delta, vega per point)
    after: dict[str, tuple[float, float]]
    cost: float
    status: str


def lot_greeks(book: Book, market: int) -> tuple[float, float]:
    """Return one lot's (delta in underlying units, vega in quote minor units per volatility point) at the book's prices."""
    p = book.params
    m, u = p.markets[market], underlying_index(p, market)
    base = float(Decimal(m.lot_size))
    k = m.contract
    if k is None or k.instrument != "option":
        return base, 0.0
    tick = Decimal(p.markets[u].tick_size)
    unit = float(Decimal(m.lot_size) * tick * 10**m.quote_decimals)
    x = greeks(float(book.prices_ticks[u]), float(Decimal(k.strike) / tick), book.vols[market],
               max(k.expiry_ns - book.at_ns, 0), k.option_type == "call")  # fmt: skip
    return base * float(x.delta), unit * float(x.vega) / 100


def rebalance(
    book: Book, hedges: tuple[HedgeRow, ...], targets: dict[str, tuple[float | None, float | None]],
    tolerance: tuple[float, float],
) -> Rebalance:  # fmt: skip
    """Return the trades of least cost bringing each named underlying's (delta, vega) within `tolerance` of `targets`.

    `targets`: underlying symbol -> (delta in its units or None, vega in quote per point or None);
    `tolerance`: (delta, vega).
    """
    index = {s: i for i, s in enumerate(book.symbols)}
    markets, limits, costs = hedge_costs(book, hedges)
    n = len(markets)
    scale = 10.0 ** book.params.markets[0].quote_decimals

    def greeks_of(lots: dict[int, int]) -> dict[str, tuple[float, float]]:
        out: dict[str, tuple[float, float]] = {}
        for symbol in targets:
            u = index[symbol]
            d = v = 0.0
            for market, q in lots.items():
                if q and underlying_index(book.params, market) == u:
                    ld, lv = lot_greeks(book, market)
                    d, v = d + q * ld, v + q * lv / scale
            out[symbol] = (d, v)
        return out

    rows, lower, upper = [], [], []
    for symbol, (delta, vega) in targets.items():
        if symbol not in index:
            raise ConfigError(f"{book.path}: rebalance: {symbol!r} is not a market of the scenario")
        u = index[symbol]
        current = greeks_of(dict(enumerate(book.lots)))[symbol]
        per_lot = [lot_greeks(book, m) if underlying_index(book.params, m) == u else (0.0, 0.0) for m in markets]
        for which, goal, tol, sc in ((0, delta, tolerance[0], 1.0), (1, vega, tolerance[1], scale)):
            if goal is None:
                continue
            row = np.zeros(3 * n)
            row[:n] = [g[which] / sc for g in per_lot]
            rows.append(row)
            lower.append(goal - tol - current[which])
            upper.append(goal + tol - current[which])
    link = np.hstack([np.eye(n), -np.eye(n), np.eye(n)])
    constraints = [LinearConstraint(np.vstack([*rows, link]), [*lower, *[0.0] * n], [*upper, *[0.0] * n])]
    objective = np.concatenate([np.zeros(n), costs, costs])
    lb = np.concatenate([-np.array(limits, float), np.zeros(2 * n)])
    ub = np.concatenate([np.array(limits, float), np.full(2 * n, np.inf)])
    result = milp(objective, integrality=np.concatenate([np.ones(n), np.zeros(2 * n)]), bounds=Bounds(lb, ub),
                  constraints=constraints, options={"mip_rel_gap": 0.0})  # fmt: skip
    before = greeks_of(dict(enumerate(book.lots)))
    if result.x is None:
        return Rebalance({}, before, before, 0.0, result.message)
    h = np.rint(result.x[:n]).astype(np.int64)
    lots = dict(enumerate(book.lots))
    for j, market in enumerate(markets):
        lots[market] = lots.get(market, 0) + int(h[j])
    trades = {book.symbols[m]: int(q) for m, q in zip(markets, h, strict=True) if q}
    return Rebalance(trades, before, greeks_of(lots), float(np.abs(h) @ np.array(costs)), "optimal")
