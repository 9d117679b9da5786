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
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from clearing.apps.margin.book import Book, underlying_index
from clearing.apps.margin.engine import book_state
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


def sub_account(book: Book, name: str, markets: list[int]) -> tuple[int, float]:
    """Return (maintenance now, slope D) of a cross account holding the book's positions on `markets`."""
    lots = tuple(q if m in markets else 0 for m, q in enumerate(book.lots))
    b = book_state(book, "cross", lots)
    s, rows = b.state, b.rows
    maintenance = int(account_risk(s, rows)[1][0])
    values = market_values(s, s.position[rows], valuation_prices(s))[0]
    exposure: dict[int, float] = {}
    marginal: dict[int, float] = {}
    for market in markets:
        v = int(values[market])
        u = underlying_index(book.params, market)
        brackets = s.brackets[market]
        tier = max(int(np.searchsorted(brackets.floors, abs(v), side="left")) - 1, 0)
        exposure[u] = exposure.get(u, 0.0) + v
        marginal[u] = marginal.get(u, 0.0) + int(brackets.rates_ppm[tier]) * abs(v) / PPM
    return maintenance, float(sum(abs(exposure[u] - marginal[u]) for u in exposure))


def collateral_split(book: Book, isolated: tuple[str, ...]) -> Split:
    """Return the split of the book's cash between each `isolated` position's sub-account and a pool of the rest.

    Raises:
        ConfigError: a symbol the book does not hold, an option (the split takes linear positions), or too
            little collateral for the sub-accounts' maintenance.
    """
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
    cross_m, cross_d = sub_account(book, "all", held)
    all_cross = (total - cross_m) / cross_d if cross_d else float("inf")
    proportional = min(
        ((total * p[2] // need) - p[2]) / p[3] if p[3] else float("inf") for p in parts
    ) if need else float("inf")  # fmt: skip
    return Split(tuple(accounts), min(a.distance for a in accounts), all_cross, proportional)
