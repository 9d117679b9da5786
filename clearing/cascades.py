"""Liquidation cascades from the log's cause links: each liquidation's generation and root.

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
  root;
- a breach's generation is how deeply its mark update was driven; its root is the root
  of that driving liquidation, or the breach itself at generation 0.

Pure: reads (seq, ts_ns, kind, causes JSON, payload JSON) rows, keeps arrays indexed by seq.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import msgspec
import numpy as np

_decode = msgspec.json.Decoder().decode


@dataclass(frozen=True)
class Liquidation:
    """One completed liquidation: when, whose, how much, its generation and its root breach."""

    seq: int
    ts_ns: int
    account: int
    market: int
    notional: int
    generation: int
    root: int


@dataclass
class Cascades:
    """Every liquidation with its generation, and the totals over the run."""

    liquidations: list[Liquidation] = field(default_factory=list)

    @property
    def generations(self) -> int:
        """Return the number of generations (0 when nothing was liquidated)."""
        return 1 + max((x.generation for x in self.liquidations), default=-1)

    def notional_by_generation(self) -> list[int]:
        """Return the liquidated notional (quote minor units) of each generation."""
        out = [0] * self.generations
        for x in self.liquidations:
            out[x.generation] += x.notional
        return out

    def amplification(self) -> float:
        """Return total liquidated notional over generation-0 notional (1.0: no cascade; 0 with nothing)."""
        by = self.notional_by_generation()
        return sum(by) / by[0] if by and by[0] else 0.0

    def largest(self) -> tuple[int, list[Liquidation]]:
        """Return (root, its liquidations) of the cascade with the most liquidated notional."""
        roots: dict[int, list[Liquidation]] = {}
        for x in self.liquidations:
            roots.setdefault(x.root, []).append(x)
        if not roots:
            return 0, []
        root = max(roots, key=lambda r: (sum(x.notional for x in roots[r]), -r))
        return root, roots[root]

    def totals(self) -> dict[str, Any]:
        """Return the headline numbers as a JSON-ready dict (notionals in quote minor units)."""
        root, chain = self.largest()
        return {
            "liquidations": len(self.liquidations),
            "generations": self.generations,
            "cascade_depth": self.generations - 1 if self.liquidations else 0,
            "notional_by_generation": self.notional_by_generation(),
            "amplification": round(self.amplification(), 6),
            "largest_cascade_root": root,
            "largest_cascade_liquidations": len(chain),
            "largest_cascade_notional": sum(x.notional for x in chain),
            "largest_cascade_duration_s": (chain[-1].ts_ns - chain[0].ts_ns) / 1e9 if chain else 0.0,
        }

    def as_rows(self) -> list[dict[str, Any]]:
        """Return each liquidation as a dict."""
        return [asdict(x) for x in self.liquidations]


def analyse(rows: Iterable[tuple[int, int, str, str, str]], size: int) -> Cascades:
    """Return the cascades of a log's rows (seq, ts_ns, kind, causes JSON, payload JSON), seq order.

    `size` is at least the largest seq + 1.
    """
    driven = np.zeros(size, np.int32)  # 0: not driven by liquidation flow; k + 1: by generation k
    root = np.zeros(size, np.int64)
    generation = np.full(size, -1, np.int32)  # of a liquidation's own events (breach, order, fills)
    breach_of: dict[int, int] = {}  # account -> its open breach's seq
    out = Cascades()
    for seq, ts, kind, causes_json, payload_json in rows:
        causes = _decode(causes_json) if causes_json != "[]" else ()
        own = max((int(generation[c]) for c in causes), default=-1)
        if kind == "margin_breached":
            payload = _decode(payload_json)
            deepest = max(causes, key=lambda c: (int(driven[c]), -c), default=0)
            depth = int(driven[deepest]) if causes else 0  # k + 1 when generation-k fills moved the mark
            generation[seq] = depth
            root[seq] = root[deepest] if depth else seq
            breach_of[payload["account"]] = seq
            continue
        if own >= 0 and kind in ("order_placed", "trade_executed", "position_deleveraged", "order_cancelled"):
            # Part of a liquidation (its causes run back to the breach): same generation and root.
            source = max((c for c in causes if generation[c] >= 0), key=lambda c: int(generation[c]))
            generation[seq] = own
            root[seq] = root[source]
            if kind in ("trade_executed", "position_deleveraged"):
                driven[seq] = own + 1
            continue
        if kind == "liquidation_completed":
            payload = _decode(payload_json)
            breach = breach_of.pop(payload["account"], 0)
            if breach:
                out.liquidations.append(
                    Liquidation(seq, ts, payload["account"], payload["market"], payload["notional"], int(generation[breach]),
                                int(root[breach]))
                )  # fmt: skip
            continue
        if kind == "liquidation_cancelled":
            breach_of.pop(_decode(payload_json)["account"], None)
            continue
        if causes:
            deepest = max(causes, key=lambda c: (int(driven[c]), -c))
            if driven[deepest]:
                driven[seq] = driven[deepest]
                root[seq] = root[deepest]
    return out


def analyse_log(path: Any) -> Cascades:
    """Return the cascades of the event log at `path`."""
    from clearing.log.reader import CAUSE_COLUMNS, EventLogReader

    with EventLogReader(path) as reader:
        size = reader.count() + 2
        return analyse(reader.rows(columns=CAUSE_COLUMNS), size)
