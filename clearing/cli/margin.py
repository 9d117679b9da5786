"""The `clearing margin` command: what each margin model requires of one book, why, and which positions drive it.

Registered into the main parser by `add_margin_commands(subparsers)`. Problems with the
input are raised as ClearingError for `clearing.cli.app.main` to report in one line (exit 2).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from clearing.errors import ConfigError, DataError


def cmd_margin(args: argparse.Namespace) -> int:
    """Analyse the book under the models asked for and print the result (a page, or JSON)."""
    from clearing.apps.margin import MODELS, analyse, as_dict, load_book, render_text
    from clearing.apps.margin.var import history_bars

    if not 0 < args.confidence < 1:
        raise ConfigError(f"--confidence {args.confidence}: expected a level in (0, 1), e.g. 0.99")
    if args.horizon_minutes is not None and args.horizon_minutes < 1:
        raise ConfigError(f"--horizon-minutes {args.horizon_minutes}: expected at least 1")
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
    if args.json:
        print(json.dumps(as_dict(result)))
    else:
        print(render_text(result))
    return 0


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
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    p.set_defaults(func=cmd_margin, model=None)
