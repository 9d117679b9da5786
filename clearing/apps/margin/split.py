"""The split of a book's collateral between isolated sub-accounts and a cross pool, the weakest kept furthest from liquidation.

The book's positions named isolated each get a sub-account of their own; the rest share a
cross pool. A sub-account k with collateral c_k, its maintenance now M_k (the engine's,
`account_risk`), and on each underlying u its net value E_{k,u} (signed quote) and the
marginal maintenance R_{k,u} = sum of rate x |value| of its positions there (each at its
bracket's rate), survives a move of every underlying by a fraction r in its own worst
direction while

    c_k - M_k - r D_k >= 0,   D_k = sum_u |E_{k,u} - R_{k,u}|

(equity changes by E r, maintenance by R r, for a move in either direction; the worse one
loses |E - R| r). Its distance to liquidation is d_k = (c_k - M_k) / D_k, linear in c_k. The
split that maximises the smallest distance for a total C is then closed-form: every
sub-account at the same distance z = (C - sum_k M_k) / sum_k D_k, c_k = M_k + D_k z (a
sub-account with no exposure, D_k = 0, gets its maintenance). This holds while no position
crosses into another maintenance bracket; `tests/unit/test_margin_split.py` moves the prices by
z with the engine and finds each sub-account exactly at its requirement.

Or the split that minimises the probability-weighted liquidation loss (`loss_split`): over
S equally likely scenarios of the book's `[monte_carlo]` model (each underlying's return r_u
over its horizon), sub-account k is liquidated in scenario s when its collateral is below

    need_k(s) = M_k + sum_m (rate_m |v_m| - v_m) r_u(s)

(its maintenance then less its P/L, brackets held as above), and loses the liquidation fee on
the notional closed, L_k(s) = sum_m fee_m |v_m| (1 + r_u(s)). The expected loss is separable
and each term a step function of c_k falling at the needs, so the best split puts every c_k at
one of its own needs (rounded up to a minor unit): a multiple-choice knapsack, one level per
sub-account whose needs add up to at most the total, solved exactly as a mixed-integer program
(`scipy.optimize.milp`, HiGHS; docs/references.md [highs]); the rest of the total goes to the
pool. Tested against enumeration of every level.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from clearing.apps.margin.book import Book, underlying_index
from clearing.apps.margin.engine import book_state
from clearing.apps.margin.var import monte_carlo_returns
from clearing.core.margin import position_rate_ppm
from clearing.core.risk import account_risk
from clearing.core.valuation import market_values, valuation_prices
from clearing.errors import ConfigError
from clearing.units import PPM


class SubAccount(NamedTuple):
    """One sub-account of a split: its positions (symbols), maintenance now, exposure slope D, collateral, distance."""

    name: str
    symbols: tuple[str, ...]
    maintenance: int  # quote minor units
    slope: float  # D: quote minor units lost per unit of adverse move
    collateral: int
    distance: float  # the adverse move it survives, a fraction (inf with no exposure)


class Split(NamedTuple):
    """The max-min split of the collateral, and the weakest distance of the alternatives."""

    accounts: tuple[SubAccount, ...]
    distance: float  # the weakest sub-account's
    all_cross: float  # the distance of the whole book in one cross account with the same total
    proportional: float  # the weakest distance when the collateral is split in proportion to maintenance


class Leg(NamedTuple):
    """One position of a sub-account: its underlying, signed value now (quote minor units), bracket rate and fee."""

    underlying: int
    value: int
    rate_ppm: int
    fee_ppm: int


def legs(book: Book, markets: list[int]) -> tuple[int, list[Leg]]:
    """Return (maintenance now, its positions as `Leg`s) of a cross account holding the book's positions on `markets`."""
    lots = tuple(q if m in markets else 0 for m, q in enumerate(book.lots))
    b = book_state(book, "cross", lots)
    s, rows = b.state, b.rows
    maintenance = int(account_risk(s, rows)[1][0])
    values = market_values(s, s.position[rows], valuation_prices(s))[0]
    out = []
    for market in markets:
        v = int(values[market])
        rate = position_rate_ppm(s.brackets[market], v, int(s.position[rows][0, market]))
        out.append(Leg(underlying_index(book.params, market), v, rate, s.markets[market].liquidation_fee_ppm))
    return maintenance, out


def sub_account(book: Book, name: str, markets: list[int]) -> tuple[int, float]:
    """Return (maintenance now, slope D) of a cross account holding the book's positions on `markets`."""
    maintenance, held = legs(book, markets)
    exposure: dict[int, float] = {}
    marginal: dict[int, float] = {}
    for leg in held:
        exposure[leg.underlying] = exposure.get(leg.underlying, 0.0) + leg.value
        marginal[leg.underlying] = marginal.get(leg.underlying, 0.0) + leg.rate_ppm * abs(leg.value) / PPM
    return maintenance, float(sum(abs(exposure[u] - marginal[u]) for u in exposure))


def collateral_split(book: Book, isolated: tuple[str, ...]) -> Split:
    """Return the split of the book's cash between each `isolated` position's sub-account and a pool of the rest.

    Raises:
        ConfigError: a symbol the book does not hold, an option (the split takes linear positions), or too
            little collateral for the sub-accounts' maintenance.
    """
    groups = _groups(book, isolated)
    parts = [(name, markets, *sub_account(book, name, markets)) for name, markets in groups]
    total = book.cash_minor
    need = sum(p[2] for p in parts)
    slopes = sum(p[3] for p in parts)
    if total < need:
        raise ConfigError(f"{book.path}: cash {total} minor units is below the sub-accounts' maintenance {need}")
    z = (total - need) / slopes if slopes else float("inf")
    accounts = []
    left = total
    for i, (name, markets, maintenance, slope) in enumerate(parts):
        c = left if i == len(parts) - 1 else min(left, maintenance + int(slope * z)) if slope else maintenance
        left -= c
        distance = (c - maintenance) / slope if slope else float("inf")
        accounts.append(SubAccount(name, tuple(book.symbols[m] for m in markets), maintenance, slope, c, distance))
    cross_m, cross_d = sub_account(book, "all", book.held())
    all_cross = (total - cross_m) / cross_d if cross_d else float("inf")
    proportional = min(
        ((total * p[2] // need) - p[2]) / p[3] if p[3] else float("inf") for p in parts
    ) if need else float("inf")  # fmt: skip
    return Split(tuple(accounts), min(a.distance for a in accounts), all_cross, proportional)


def _groups(book: Book, isolated: tuple[str, ...]) -> list[tuple[str, list[int]]]:
    # Each isolated position's sub-account, then the cross pool of the rest; linear positions only.
    index = {s: i for i, s in enumerate(book.symbols)}
    held = book.held()
    for symbol in isolated:
        if symbol not in index or index[symbol] not in held:
            raise ConfigError(f"{book.path}: split: the book holds no {symbol!r}")
    for market in held:
        k = book.params.markets[market].contract
        if k is not None and k.instrument == "option":
            raise ConfigError(f"{book.path}: the collateral split takes linear positions; the book holds {book.symbols[market]}")
    groups = [(s, [index[s]]) for s in isolated]
    pool = [m for m in held if book.symbols[m] not in isolated]
    if pool:
        groups.append(("cross pool", pool))
    return groups



class Scenarios(NamedTuple):
    """Per sub-account and scenario: the collateral below which it is liquidated, and what the liquidation loses."""

    need: np.ndarray  # (K, S) quote minor units
    loss: np.ndarray  # (K, S) quote minor units


def scenario_needs(book: Book, groups: list[tuple[str, list[int]]], returns: dict[int, np.ndarray]) -> Scenarios:
    """Return each sub-account's need and liquidation loss in each scenario of `returns` (per underlying, (S,))."""
    size = len(next(iter(returns.values())))
    need, loss = np.zeros((len(groups), size)), np.zeros((len(groups), size))
    for k, (_name, markets) in enumerate(groups):
        maintenance, held = legs(book, markets)
        need[k] = maintenance
        for leg in held:
            r = returns[leg.underlying]
            need[k] += (leg.rate_ppm * abs(leg.value) / PPM - leg.value) * r
            loss[k] += leg.fee_ppm * abs(leg.value) / PPM * (1.0 + r)
    return Scenarios(need, loss)


def expected_loss(sc: Scenarios, collateral: np.ndarray) -> np.ndarray:
    """Return each sub-account's probability-weighted liquidation loss with `collateral` (K,): liquidated where c < need."""
    return np.asarray((sc.loss * (collateral[:, None] < sc.need)).mean(axis=1))


class LossAccount(NamedTuple):
    """One sub-account of the loss-minimising split: its collateral, liquidation probability and expected loss."""

    name: str
    symbols: tuple[str, ...]
    collateral: int
    probability: float
    expected_loss: float  # quote minor units


class LossSplit(NamedTuple):
    """The split of least expected liquidation loss, against the max-min distance split and the proportional one."""

    accounts: tuple[LossAccount, ...]
    expected_loss: float
    max_min_loss: float  # the expected loss of `collateral_split`'s split, in the same scenarios
    proportional_loss: float
    scenarios: int


def least_loss_levels(sc: Scenarios, total: int) -> np.ndarray:
    """Return the collateral (K,) of least total expected loss whose sum is at most `total`: one need level each.

    Raises:
        ConfigError: HiGHS finds no solution (cannot happen: collateral 0 everywhere is feasible).
    """
    from scipy.optimize import Bounds, LinearConstraint, milp
    from scipy.sparse import lil_array

    k_count = sc.need.shape[0]
    levels, costs = [], []
    for k in range(k_count):
        candidates = np.unique(np.concatenate([[0.0], np.ceil(np.maximum(sc.need[k], 0.0))]))
        candidates = candidates[candidates <= total]
        levels.append(candidates)
        costs.append([float(expected_loss(Scenarios(sc.need[k : k + 1], sc.loss[k : k + 1]), np.array([c]))[0])
                      for c in candidates])  # fmt: skip
    n = sum(len(x) for x in levels)
    a = lil_array((k_count + 1, n))
    start = 0
    for k, candidates in enumerate(levels):
        a[k, start : start + len(candidates)] = 1.0
        a[k_count, start : start + len(candidates)] = candidates
        start += len(candidates)
    lower = np.array([1.0] * k_count + [0.0])
    upper = np.array([1.0] * k_count + [float(total)])
    result = milp(np.concatenate(costs), constraints=LinearConstraint(a.tocsr(), lower, upper),
                  integrality=np.ones(n, np.int64), bounds=Bounds(0, 1), options={"mip_rel_gap": 0.0})  # fmt: skip
    if result.x is None:
        raise ConfigError(f"the loss-minimising split found no solution ({result.message})")
    chosen = np.rint(result.x).astype(bool)
    out, start = np.zeros(k_count, np.int64), 0
    for k, candidates in enumerate(levels):
        out[k] = int(candidates[chosen[start : start + len(candidates)]][0])
        start += len(candidates)
    return out


def loss_split(book: Book, isolated: tuple[str, ...], seed: int = 0, paths: int = 2000) -> LossSplit:
    """Return the split of the book's cash (isolated sub-accounts and a pool) of least expected liquidation loss
    over `paths` scenarios of the book's `[monte_carlo]` model.

    Raises:
        ConfigError: as `collateral_split`, or no `[monte_carlo]`.
    """
    groups = _groups(book, isolated)
    sc = scenario_needs(book, groups, monte_carlo_returns(book, seed, paths))
    total = book.cash_minor
    collateral = least_loss_levels(sc, total)
    collateral[-1] += total - int(collateral.sum())  # the rest to the pool (or the last sub-account)
    losses = expected_loss(sc, collateral)
    probability = (collateral[:, None] < sc.need).mean(axis=1)
    accounts = tuple(LossAccount(name, tuple(book.symbols[m] for m in markets), int(c), float(p), float(x))
                     for (name, markets), c, p, x in zip(groups, collateral, probability, losses, strict=True))  # fmt: skip
    maintenance = [legs(book, markets)[0] for _name, markets in groups]  # Python ints: total x maintenance > 2^63
    proportional = np.array([total * m // max(sum(maintenance), 1) for m in maintenance], np.int64)
    try:
        max_min = np.array([a.collateral for a in collateral_split(book, isolated).accounts], np.int64)
        max_min_loss = float(expected_loss(sc, max_min).sum())
    except ConfigError:  # the cash is below the maintenance: no distance to maximise
        max_min_loss = float("nan")
    return LossSplit(accounts, float(losses.sum()), max_min_loss, float(expected_loss(sc, proportional).sum()),
                     sc.need.shape[1])  # fmt: skip
