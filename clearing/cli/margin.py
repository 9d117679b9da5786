"""The `clearing margin` command: what each margin model requires of one book, why, and which positions drive it.

Registered into the main parser by `add_margin_commands(subparsers)`. Problems with the
input are raised as ClearingError for `clearing.cli.app.main` to report in one line (exit 2).
"""

from __future__ import annotations

import argparse
import json
import sys
from decimal import Decimal
from typing import Any

from clearing.errors import ConfigError, DataError


def cmd_margin(args: argparse.Namespace) -> int:
    """Analyse the book under the models asked for and print the result (a page, or JSON)."""
    from clearing.apps.margin import MODELS, analyse, as_dict, load_book, render_text
    from clearing.apps.margin.var import history_bars
    from clearing.units import to_units

    if not 0 < args.confidence < 1:
        raise ConfigError(f"--confidence {args.confidence}: expected a level in (0, 1), e.g. 0.99")
    if args.horizon_minutes is not None and args.horizon_minutes < 1:
        raise ConfigError(f"--horizon-minutes {args.horizon_minutes}: expected at least 1")
    if args.target is not None and args.hedge is None:
        raise ConfigError("--target goes with --hedge MODEL")
    if args.target is not None and not (args.target.is_finite() and args.target >= 0):
        raise ConfigError(f"--target {args.target}: expected an amount >= 0 in quote")
    if args.paths is not None and not 100 <= args.paths <= 10_000_000:
        raise ConfigError(f"--paths {args.paths}: expected 100 to 10,000,000")
    asked = args.model or ["all"]
    book = load_book(args.book, args.preset, args.data_dir)
    models = tuple(dict.fromkeys(asked))
    if "all" in asked:  # every model the book has the inputs of: es and historical VaR need its [history] files
        if book.history is not None:
            try:
                history_bars(book)
            except DataError as e:
                print(f"clearing: note: es and historical VaR left out: {e}", file=sys.stderr)
                book = book._replace(history=None)
        models = tuple(m for m in MODELS if m != "es" or book.history is not None)
    result = analyse(book, models, args.confidence, args.horizon_minutes, args.seed, args.paths)
    out = as_dict(result)
    pages = [render_text(result)]
    if args.hedge:
        from clearing.apps.margin.optimise import smallest_hedge

        try:
            target = None if args.target is None else to_units(args.target, book.scenario.market.minor_unit, "--target")
        except ValueError as e:
            raise ConfigError(str(e)) from None
        h = smallest_hedge(book, args.hedge, book.hedges, target)
        out["hedge"] = {"model": args.hedge, "status": h.status, "trades": _quantities(book, h.trades),
                        "requirement_before": _money(book, h.before), "requirement_after": _money(book, h.after),
                        "cost": _money(book, round(h.cost)),
                        "target": None if args.target is None else str(args.target)}  # fmt: skip
        pages.append(_render(f"hedge under {args.hedge}" + (f", requirement <= {args.target}" if args.target else ""),
                             out["hedge"]))  # fmt: skip
    if args.rebalance:
        from clearing.apps.margin.optimise import rebalance

        r = book.rebalance
        if r is None:
            raise ConfigError(f"{book.path}: --rebalance needs a [rebalance] table of delta and vega targets")
        symbols = sorted(set(r.delta) | set(r.vega))
        targets = {s: (r.delta.get(s), r.vega.get(s)) for s in symbols}
        result_r = rebalance(book, book.hedges, targets, (r.delta_tolerance, r.vega_tolerance))
        out["rebalance"] = {"status": result_r.status, "trades": _quantities(book, result_r.trades),
                            "before": {s: {"delta": d, "vega": v} for s, (d, v) in result_r.before.items()},
                            "after": {s: {"delta": d, "vega": v} for s, (d, v) in result_r.after.items()},
                            "cost": _money(book, round(result_r.cost))}  # fmt: skip
        pages.append(_render("rebalance to the targets", out["rebalance"]))
    print(json.dumps(out) if args.json else "\n\n".join(pages))
    return 0


def _quantities(book: Any, trades: dict[str, int]) -> dict[str, str]:
    # Lots as base-unit quantities, by symbol.
    lots = {m.symbol: Decimal(m.lot_size) for m in book.params.markets}
    return {symbol: str(q * lots[symbol]) for symbol, q in trades.items()}


def _money(book: Any, minor: int) -> str:
    from clearing.units import format_minor

    return format_minor(minor, book.params.markets[0].quote_decimals)


def _render(title: str, result: dict[str, Any]) -> str:
    lines = [title]
    for key, value in result.items():
        if isinstance(value, dict):
            value = ", ".join(
                f"{k} " + (", ".join(f"{g} {x:.6g}" for g, x in v.items()) if isinstance(v, dict) else str(v))
                for k, v in value.items()
            ) or "none"
        lines.append(f"  {key:<20}{value}")
    return "\n".join(lines)


def add_margin_commands(subparsers: Any) -> None:
    """Add `margin` to the main parser."""
    from clearing.apps.margin import MODELS
    from clearing.cli.common import seed

    p = subparsers.add_parser(
        "margin", help="what each margin model requires of a book, and which positions drive it",
        description="Margin the book (a TOML file naming a scenario, its positions, prices and vols) under the "
        "engine's models (isolated, cross, span, grid, es) and by VaR and ES (historical simulation and Monte "
        "Carlo, as the book configures them); with each position's contributions and the Greeks by underlying.",
    )  # fmt: skip
    p.add_argument("book", help="book TOML file (see docs/margin-analysis.md)")
    p.add_argument("--model", action="append", choices=[*MODELS, "all"], default=None,
                   help="a model to compute (repeatable; default all)")  # fmt: skip
    p.add_argument("--preset", metavar="VENUE", help="apply a venue preset to the book's scenario, e.g. venue/binance-usdm")
    p.add_argument("--confidence", type=float, default=0.99, help="VaR and ES confidence level (default 0.99)")
    p.add_argument("--horizon-minutes", type=int, help="VaR and ES horizon (default: the book's [history] / [monte_carlo])")
    p.add_argument("--paths", type=int, help="Monte Carlo paths (default: the book's [monte_carlo] paths)")
    p.add_argument("--seed", type=seed, default=0, help="Monte Carlo seed (default 0)")
    p.add_argument("--hedge", choices=["grid", "es"], help="also find the hedge (from the book's [[hedges]]) of least "
                   "requirement + cost under this model")  # fmt: skip
    p.add_argument("--target", type=Decimal, metavar="QUOTE",
                   help="with --hedge: the cheapest hedge bringing the requirement to at most this")  # fmt: skip
    p.add_argument("--rebalance", action="store_true", help="also find the cheapest trades to the book's [rebalance] Greeks")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    p.set_defaults(func=cmd_margin, model=None)
