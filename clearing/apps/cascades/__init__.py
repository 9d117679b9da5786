"""Liquidation cascades from the log's cause links: generations, roots, cascades and price attribution.

A liquidation is generation 0 when the price move that breached the account owes nothing to
liquidation flow, and generation k + 1 when it does to fills of generation-k liquidations.
The log says which: every event names its causes, a mark update names the trade and the
quotes that made the book's mid (and the oracle delivery), a breach names its mark update.
So one forward pass over the rows in seq order carries, for every event, the deepest
liquidation generation among its causes ("driven": 0 for none, k + 1 for a fill of
generation k):

- a liquidation's order, book fills, take-overs and deleveragings take its breach's
  generation, and a fill drives at that generation plus one;
- any other event is driven as deeply as its most driven cause, and inherits that cause's
  root, the breaches of the liquidations at that depth it reaches ("parents", at most
  `MAX_PARENTS`), and the sides of the liquidation flow it reaches (sells, buys);
- a breach's generation is how deeply its mark update was driven; its root is the root
  of that driving liquidation, or the breach itself at generation 0.

The same pass splits each market's mark moves between the exogenous reference and
liquidation flow (`PriceMoves`, docs/cascades.md): on a mark step driven by sell-side
(buy-side) liquidation fills, the part of the mark's fall (rise) beyond the reference's
over the same step is attributed to liquidation flow. The reference is the oracle price the
mark was derived from (the mark's `index_ticks`), or the external index tape when that
oracle price was itself driven by liquidation flow (an oracle watching the book).

Modules: `model` (the results and their numbers), `analysis` (the pass, an observer of the
one verified fold `clearing.apps.fold`: a log whose hash chain is broken is refused, exit
code 1), `dot` (the Graphviz graph).
"""

from clearing.apps.cascades.analysis import BUYS, MAX_PARENTS, SELLS, CascadeAnalysis, analyse, analyse_log
from clearing.apps.cascades.dot import GENERATION_COLOURS, to_dot
from clearing.apps.cascades.model import Cascade, Cascades, Liquidation, PriceMoves

__all__ = [
    "BUYS",
    "GENERATION_COLOURS",
    "MAX_PARENTS",
    "SELLS",
    "Cascade",
    "CascadeAnalysis",
    "Cascades",
    "Liquidation",
    "PriceMoves",
    "analyse",
    "analyse_log",
    "to_dot",
]
