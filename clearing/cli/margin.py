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

# `clearing.apps.margin.MODELS`, named here so that building the parser imports no margin engine (a test keeps them equal).
MODEL_CHOICES = ("isolated", "cross", "span", "grid", "es", "var")


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
    if args.split is not None:
        split_book = book
        if args.horizon_minutes is not None and book.monte_carlo is not None:
            split_book = book._replace(monte_carlo=book.monte_carlo.model_copy(update={"horizon_minutes": args.horizon_minutes}))
        out["split"], page = _split(split_book, tuple(args.split), args.split_by, args.seed, args.paths)
        pages.append(page)
    if args.stress:
        out["stress"], page = _stress(book, [m for m in models if m in ("isolated", "cross", "span", "grid", "es")], args.seed)
        pages.append(page)
    print(json.dumps(out) if args.json else "\n\n".join(pages))
    return 0


def _split(book: Any, isolated: tuple[str, ...], by: str, seed: int, paths: int | None) -> tuple[dict[str, Any], str]:
    # The split of the cash between isolated sub-accounts and a pool: max-min distance, or least expected loss.
    from clearing.apps.margin.split import collateral_split, loss_split

    if by == "loss":
        ls = loss_split(book, isolated, seed, paths or 2000)
        result: dict[str, Any] = {
            "objective": "loss", "scenarios": ls.scenarios, "expected_loss": _money(book, round(ls.expected_loss)),
            "max_min_expected_loss": None if ls.max_min_loss != ls.max_min_loss else _money(book, round(ls.max_min_loss)),
            "proportional_expected_loss": _money(book, round(ls.proportional_loss)),
            "accounts": {a.name: {"collateral": _money(book, a.collateral), "liquidation_probability": a.probability,
                                  "expected_loss": _money(book, round(a.expected_loss))} for a in ls.accounts},
        }  # fmt: skip
        lines = [f"collateral split of least expected liquidation loss over {ls.scenarios} Monte Carlo scenarios",
                 f"  expected loss {result['expected_loss']}; split at the max-min distance "
                 f"{result['max_min_expected_loss'] or '-'}; in proportion to maintenance "
                 f"{result['proportional_expected_loss']}"]  # fmt: skip
        lines += [f"  {a.name:<22}collateral {_money(book, a.collateral)}, liquidated in {a.probability:.2%} of "
                  f"scenarios, expected loss {_money(book, round(a.expected_loss))}" for a in ls.accounts]  # fmt: skip
        return result, "\n".join(lines)
    sp = collateral_split(book, isolated)
    result = {
        "objective": "distance", "distance": sp.distance, "all_cross_distance": sp.all_cross,
        "proportional_distance": sp.proportional,
        "accounts": {a.name: {"collateral": _money(book, a.collateral), "maintenance": _money(book, a.maintenance),
                              "distance": a.distance} for a in sp.accounts},
    }  # fmt: skip
    lines = ["collateral split (distance: the move of every underlying, each its worst way, a sub-account survives)",
             f"  weakest distance {sp.distance:.4%}; all in one cross account {sp.all_cross:.4%}; "
             f"split in proportion to maintenance {sp.proportional:.4%}"]  # fmt: skip
    lines += [f"  {a.name:<22}collateral {_money(book, a.collateral)}, maintenance {_money(book, a.maintenance)}, "
              f"distance {a.distance:.4%}" for a in sp.accounts]  # fmt: skip
    return result, "\n".join(lines)


def _stress(book: Any, models: list[str], seed: int) -> tuple[dict[str, Any], str]:
    # Time to liquidation and depletion along the book's [stress] path (or over its Monte Carlo paths), per engine model.
    from clearing.apps.margin.stress import depletion, monte_carlo_path, shock_path, tape_path

    st = book.stress
    if st is None:
        raise ConfigError(f"{book.path}: --stress needs a [stress] table (a tape path, a scripted shock or Monte Carlo paths)")
    if st.paths is not None:
        return _stress_distribution(book, models, monte_carlo_path(book, st.paths, st.minutes, seed))
    tape = st.files and st.start is not None
    path = (tape_path(book, st.files, st.start, st.minutes) if tape
            else shock_path(book, st.underlyings, st.shock or 0.0, st.minutes))  # fmt: skip
    result: dict[str, Any] = {"path": path.source, "minutes": st.minutes, "models": {}}
    lines = [f"stress path: {path.source}, {st.minutes} minutes"]
    for model in models:
        d = depletion(book, path, model)
        result["models"][model] = {
            "liquidated_at_minute": d.minute, "equity_start": _money(book, int(d.equity[0])),
            "equity_end": _money(book, int(d.equity[-1])), "requirement_end": _money(book, int(d.requirement[-1])),
            "equity_lost_per_minute": _money(book, round(d.per_minute)),
            "equity_lost_per_1pct": _money(book, round(d.per_percent)),
        }  # fmt: skip
        when = f"liquidated at minute {d.minute}" if d.minute is not None else f"not liquidated in {st.minutes} minutes"
        start, end = _money(book, int(d.equity[0])), _money(book, int(d.equity[-1]))
        lines.append(f"  {model:<10}{when}; equity {start} -> {end}, {_money(book, round(d.per_minute))} a minute, "
                     f"{_money(book, round(d.per_percent))} per 1 % move")  # fmt: skip
    return result, "\n".join(lines)


QUANTILES = (0.01, 0.05, 0.25, 0.5)


def _stress_distribution(book: Any, models: list[str], path: Any) -> tuple[dict[str, Any], str]:
    # The distribution over Monte Carlo paths: the share liquidated by each minute, quantiles of the time to
    # liquidation, the depletion speeds' mean and 95th percentile.
    import numpy as np

    from clearing.apps.margin.stress import distribution

    paths, width = next(iter(path.factors.values())).shape
    result: dict[str, Any] = {"path": path.source, "minutes": width - 1, "paths": paths, "models": {}}
    lines = [f"stress paths: {path.source}; time to liquidation (minutes) at the quantiles "
             + ", ".join(f"{q:.0%}" for q in QUANTILES) + " of the paths ('-': beyond the path)"]  # fmt: skip
    for model in models:
        d = distribution(book, path, model)
        by = d.liquidated_by()
        quantiles = {f"{q:g}": d.quantile(q) for q in QUANTILES}
        result["models"][model] = {
            "liquidated_share": float(by[-1]), "time_to_liquidation_quantiles": quantiles,
            "liquidated_share_by_minute": [round(float(x), 6) for x in by],
            "equity_lost_per_minute_mean": _money(book, round(float(d.per_minute.mean()))),
            "equity_lost_per_minute_p95": _money(book, round(float(np.quantile(d.per_minute, 0.95)))),
            "equity_lost_per_1pct_mean": _money(book, round(float(d.per_percent.mean()))),
        }  # fmt: skip
        r = result["models"][model]
        times = ", ".join("-" if v is None else str(v) for v in quantiles.values())
        lines.append(f"  {model:<10}{by[-1]:.1%} liquidated within {width - 1} minutes; quantiles {times}; equity lost "
                     f"{r['equity_lost_per_minute_mean']} a minute (95th percentile {r['equity_lost_per_minute_p95']}), "
                     f"{r['equity_lost_per_1pct_mean']} per 1 % move")  # fmt: skip
    return result, "\n".join(lines)


def _quantities(book: Any, trades: dict[str, int]) -> dict[str, str]:
    # Lots as base-unit quantities, by symbol.
    lots = {m.symbol: Decimal(m.lot_size) for m in book.params.markets}
    return {symbol: str(q * lots[symbol]) for symbol, q in trades.items()}


def _money(book: Any, minor: int) -> str:
    from clearing.units import format_minor

    return format_minor(minor, book.params.markets[0].quote_decimals)


def _short(x: Any) -> str:
    return f"{x:.6g}" if isinstance(x, float) else str(x)


def _render(title: str, result: dict[str, Any]) -> str:
    lines = [title]
    for key, value in result.items():
        if isinstance(value, dict):
            value = ", ".join(
                f"{k} " + (", ".join(f"{g} {_short(x)}" for g, x in v.items()) if isinstance(v, dict) else str(v))
                for k, v in value.items()
            ) or "none"
        lines.append(f"  {key:<22}{_short(value)}")
    return "\n".join(lines)


def add_margin_commands(subparsers: Any) -> None:
    """Add `margin` to the main parser."""
    from clearing.cli.common import seed

    p = subparsers.add_parser(
        "margin", help="what each margin model requires of a book, and which positions drive it",
        description="Margin the book (a TOML file naming a scenario, its positions, prices and vols) under the "
        "engine's models (isolated, cross, span, grid, es) and by VaR and ES (historical simulation and Monte "
        "Carlo, as the book configures them); with each position's contributions and the Greeks by underlying.",
    )  # fmt: skip
    p.add_argument("book", help="book TOML file (see docs/margin-analysis.md)")
    p.add_argument("--model", action="append", choices=[*MODEL_CHOICES, "all"], default=None,
                   help="a model to compute (repeatable; default all)")  # fmt: skip
    p.add_argument("--preset", metavar="VENUE", help="apply a venue preset to the book's scenario, e.g. venue/binance-usdm")
    p.add_argument("--confidence", type=float, default=0.99, help="VaR and ES confidence level (default 0.99)")
    p.add_argument("--horizon-minutes", type=int, help="VaR and ES horizon (default: the book's [history] / [monte_carlo])")
    p.add_argument("--paths", type=int, help="Monte Carlo paths (default: the book's [monte_carlo] paths)")
    p.add_argument("--seed", type=seed, default=0, help="Monte Carlo seed, of VaR/ES and of stress paths (default 0)")
    p.add_argument("--hedge", choices=["grid", "es"], help="also find the hedge (from the book's [[hedges]]) of least "
                   "requirement + cost under this model")  # fmt: skip
    p.add_argument("--target", type=Decimal, metavar="QUOTE",
                   help="with --hedge: the cheapest hedge bringing the requirement to at most this")  # fmt: skip
    p.add_argument("--rebalance", action="store_true", help="also find the cheapest trades to the book's [rebalance] Greeks")
    p.add_argument("--split", action="append", metavar="SYMBOL",
                   help="also split the book's cash between an isolated sub-account per SYMBOL (repeatable) and a cross "
                   "pool of the rest, keeping the weakest furthest from liquidation")  # fmt: skip
    p.add_argument("--split-by", choices=["distance", "loss"], default="distance",
                   help="with --split: keep the weakest sub-account furthest from liquidation (distance), or least "
                   "expected liquidation loss over the book's [monte_carlo] scenarios (loss; --paths, default 2000; "
                   "--horizon-minutes)")
    p.add_argument("--stress", action="store_true", help="also the time to liquidation and equity depletion along the "
                   "book's [stress] path (or its distribution over Monte Carlo paths) under each engine model")  # fmt: skip
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    p.set_defaults(func=cmd_margin, model=None)
