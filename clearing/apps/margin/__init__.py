"""Margin analysis of one book (`clearing margin`): what each model requires, why, and which positions drive it.

`analyse` applies the engine's models (`clearing.apps.margin.engine`: isolated, cross, SPAN,
the grid, expected shortfall, each by the simulator's own functions) and VaR and ES by
historical simulation and Monte Carlo (`clearing.apps.margin.var`) to a book
(`clearing.apps.margin.book`), and attributes them to its positions: each position's Euler
and incremental contributions to VaR and ES, its marginal requirement under each engine
model (the requirement less the requirement without it), and the book's Greeks by
underlying. Money in the result is quote, as decimal strings rounded to the quote's minor
unit (engine models exact; VaR and ES are float measures, rounded).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any, NamedTuple

import numpy as np

from clearing.apps.margin.book import Book, epoch_at, load_book
from clearing.apps.margin.engine import ENGINE_MODELS, BookState, EngineResult, book_state, requirement_of
from clearing.apps.margin.var import (
    TailMeasure,
    UnderlyingGreeks,
    book_greeks,
    historical_returns,
    history_bars,
    monte_carlo_returns,
    position_pnl,
    tail_measure,
)
from clearing.core.margin import collateral_value
from clearing.core.risk import account_risk
from clearing.units import format_minor

MODELS = (*ENGINE_MODELS, "var")  # "var": VaR and ES by historical simulation and Monte Carlo (those the book configures)

__all__ = ["MODELS", "Analysis", "CollateralLine", "analyse", "collateral_lines", "load_book", "render_text"]


class CollateralLine(NamedTuple):
    """One collateral asset of the book: its amount, price, haircut and what it backs (quote minor units)."""

    asset: str
    amount: str  # in the asset's units
    price_minor: int  # quote minor units per whole unit (the scenario's price)
    haircut_ppm: int
    gross: int  # amount x price, rounded down
    value: int  # gross less the haircut, rounded down: what it adds to every model's equity


class Analysis(NamedTuple):
    """A book's margin under each model, its tail measures, attribution and Greeks (money in quote minor units)."""

    book: Book
    engine: dict[str, EngineResult]
    tails: dict[str, TailMeasure]  # "historical", "monte_carlo"
    horizons: dict[str, int]  # minutes, per tail model
    marginal: dict[str, list[int]]  # engine model -> each held position's marginal requirement
    greeks: list[UnderlyingGreeks]
    collateral: tuple[CollateralLine, ...] = ()


def analyse(
    book: Book, models: tuple[str, ...] = MODELS, confidence: float = 0.99, horizon_minutes: int | None = None,
    seed: int = 0, paths: int | None = None,
) -> Analysis:  # fmt: skip
    """Return the book's requirement under each of `models` (`MODELS`), VaR/ES at `confidence`, attribution and Greeks.

    "var" computes the historical model when the book has `[history]` and Monte Carlo when it
    has `[monte_carlo]` (`horizon_minutes` overrides either's horizon, `paths` the paths).
    """
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        raise ValueError(f"unknown model {unknown[0]!r}: expected {', '.join(MODELS)} or all")
    history = history_bars(book) if book.history is not None and ("es" in models or "var" in models) else None
    engine, marginal = {}, {}
    for m in models:
        if m in ENGINE_MODELS:
            b = book_state(book, m, history=history)
            engine[m] = requirement_of(book, m, b)
            marginal[m] = _marginal(book, m, b, engine[m].maintenance)
    tails: dict[str, TailMeasure] = {}
    horizons: dict[str, int] = {}
    if "var" in models:
        if book.history is not None and history is not None:
            returns = historical_returns(book, history, horizon_minutes)
            tails["historical"] = tail_measure(position_pnl(book, returns), confidence)
            horizons["historical"] = horizon_minutes or book.history.horizon_minutes
        if book.monte_carlo is not None:
            mc = book.monte_carlo if horizon_minutes is None else book.monte_carlo.model_copy(
                update={"horizon_minutes": horizon_minutes})  # fmt: skip
            with_mc = book._replace(monte_carlo=mc)
            tails["monte_carlo"] = tail_measure(position_pnl(with_mc, monte_carlo_returns(with_mc, seed, paths)), confidence)
            horizons["monte_carlo"] = mc.horizon_minutes
    return Analysis(book, engine, tails, horizons, marginal, book_greeks(book), collateral_lines(book))


def collateral_lines(book: Book) -> tuple[CollateralLine, ...]:
    """Return the book's collateral assets valued as the engine values them (`clearing.core.margin.collateral_value`)."""
    out = []
    for asset, amount in book.collateral:
        c = book.params.collateral[asset]
        one = np.array([[amount]], np.int64)
        price, decimals = np.array([c.price_minor], np.int64), np.array([c.decimals], np.int64)
        gross = int(collateral_value(one, price, decimals, np.zeros(1, np.int64))[0])
        value = int(collateral_value(one, price, decimals, np.array([c.haircut_ppm], np.int64))[0])
        out.append(CollateralLine(c.asset, str(Decimal(amount).scaleb(-c.decimals)), c.price_minor, c.haircut_ppm, gross, value))
    return tuple(out)


def _marginal(book: Book, model: str, b: BookState, total: int) -> list[int]:
    # Each held position's marginal requirement: the total less the requirement of the book without it, one
    # what-if row per position through `account_risk` (isolated: the position's own account's requirement).
    s, rows = b.state, b.rows
    held = book.held()
    if model == "isolated":
        return [int(x) for x in account_risk(s, rows)[1]]
    positions = np.repeat(s.position[rows[:1]], len(held), axis=0)
    for i, market in enumerate(held):
        positions[i, market] = 0
    _equity, without = account_risk(s, np.repeat(rows[:1], len(held)), positions)
    return [total - int(x) for x in without]


def as_dict(a: Analysis) -> dict[str, Any]:
    """Return the analysis as a JSON-ready dict (money as quote decimal strings)."""
    book, d = a.book, a.book.params.markets[0].quote_decimals

    def money(x: float | int) -> str:
        return format_minor(round(x), d)

    isolated = a.engine.get("isolated")
    models: dict[str, Any] = {}
    for name, r in a.engine.items():
        models[name] = {"maintenance": money(r.maintenance), "initial": money(r.initial), "equity": money(r.equity),
                        "saving_vs_isolated": money(isolated.maintenance - r.maintenance) if isolated else None,
                        "worst_scenario": r.worst or None}  # fmt: skip
    for name, t in a.tails.items():
        worst = book.history is not None and name == "historical"
        models[f"var_{name}"] = {
            "confidence": t.confidence, "horizon_minutes": a.horizons[name], "scenarios": t.scenarios, "tail": t.tail,
            "var": money(t.var), "es": money(t.es), "worst_scenario": f"{'row' if worst else 'path'} {t.worst}",
            "saving_vs_isolated": money(isolated.maintenance - t.es) if isolated else None,
        }  # fmt: skip
    positions = []
    for i, market in enumerate(book.held()):
        m = book.params.markets[market]
        row: dict[str, Any] = {"symbol": m.symbol, "quantity": str(book.lots[market] * Decimal(m.lot_size)),
                               "price": str(book.prices_ticks[market] * Decimal(m.tick_size))}  # fmt: skip
        for name, values in a.marginal.items():
            row[f"marginal_{name}"] = money(values[i])
        for name, t in a.tails.items():
            row[f"var_{name}_component"] = money(t.var_components[i])
            row[f"es_{name}_component"] = money(t.es_components[i])
            row[f"es_{name}_incremental"] = money(t.es_incremental[i])
        positions.append(row)
    return {
        "book": book.name, "scenario": book.scenario.name, "at": epoch_at(book).isoformat().replace("+00:00", "Z"),
        "models": models, "positions": positions, "greeks": [g._asdict() for g in a.greeks],
        "cash": money(book.cash_minor),
        "collateral": [{"asset": c.asset, "amount": c.amount, "price": money(c.price_minor), "haircut": c.haircut_ppm / 1e6,
                        "value_before_haircut": money(c.gross), "value": money(c.value)} for c in a.collateral],
    }  # fmt: skip


def render_text(a: Analysis) -> str:
    """Return the analysis as a terminal page: the models side by side, then the positions' attribution, then Greeks."""
    d = as_dict(a)
    lines = [f"book {d['book']} on {d['scenario']} at {d['at']}"]
    backing = [f"cash {d['cash']}"] + [f"{c['amount']} {c['asset']} at {c['price']} less {c['haircut']:.2%}: "
                                       f"{c['value']} (of {c['value_before_haircut']})" for c in d["collateral"]]  # fmt: skip
    lines += ["backing: " + "; ".join(backing), ""]
    rows = [("model", "maintenance", "initial", "saving vs isolated", "worst scenario")]
    for name, m in d["models"].items():
        if name.startswith("var_"):
            rows.append((f"{name} ES {m['confidence']:g} {m['horizon_minutes']}m", m["es"], f"VaR {m['var']}",
                         m["saving_vs_isolated"] or "-", f"{m['worst_scenario']} of {m['scenarios']}"))  # fmt: skip
        else:
            rows.append((name, m["maintenance"], m["initial"], m["saving_vs_isolated"] or "-", m["worst_scenario"] or "-"))
    lines += _table(rows)
    positions = d["positions"]
    marginal = ["quantity", "price", *(k for k in positions[0] if k.startswith("marginal_"))]
    lines += ["", "marginal requirement by model: the requirement less the requirement without the position"]
    lines += _table([("symbol", *(k.removeprefix("marginal_") for k in marginal)),
                     *((p["symbol"], *(str(p[k]) for k in marginal)) for p in positions)])  # fmt: skip
    tail = [k for k in positions[0] if k.startswith(("var_", "es_"))]
    if tail:
        lines += ["", "VaR and ES contributions: Euler components (they sum to the measure) and incremental"]
        lines += _table([("symbol", *tail), *((p["symbol"], *(str(p[k]) for k in tail)) for p in positions)])
    lines += ["", "greeks by underlying"]
    lines += _table([("underlying", "delta", "gamma per 1%", "vega per point", "theta per day"), *(
        (g["symbol"], f"{g['delta']:.6g}", f"{g['gamma_1pct']:.6g}", f"{g['vega_point']:.2f}", f"{g['theta_day']:.2f}")
        for g in d["greeks"])])  # fmt: skip
    return "\n".join(lines)


def _table(rows: Sequence[tuple[str, ...]]) -> list[str]:
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(str(v).ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in rows]
