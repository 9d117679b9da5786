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

Pure: reads (seq, ts_ns, kind, causes JSON, payload JSON) rows, keeps arrays indexed by seq.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import msgspec
import numpy as np

from clearing.log.reader import utc_text

_decode = msgspec.json.Decoder().decode

MAX_PARENTS = 16  # parents kept per driven event (the earliest breaches), so a mark citing many fills stays cheap
SELLS, BUYS = 1, 2  # sides of liquidation flow an event reaches (bit mask)
_LIQUIDATION_PARTS = ("order_placed", "trade_executed", "position_deleveraged", "order_cancelled")


@dataclass(frozen=True)
class Liquidation:
    """One completed liquidation: when, whose, how much, its generation, root and parents.

    `root` and `breach` are `margin_breached` seqs; `parents` are the `liquidation_completed`
    seqs of the generation-(k - 1) liquidations whose fills drove the mark that breached this
    one (empty at generation 0).
    """

    seq: int
    ts_ns: int
    account: int
    market: int
    notional: int
    generation: int
    root: int
    breach: int = 0
    parents: tuple[int, ...] = ()


@dataclass(frozen=True)
class Cascade:
    """The liquidations sharing one root: a generation-0 liquidation and its descendants."""

    root: int
    liquidations: tuple[Liquidation, ...]

    @property
    def notional(self) -> int:
        """Return the liquidated notional (quote minor units)."""
        return sum(x.notional for x in self.liquidations)

    @property
    def depth(self) -> int:
        """Return the deepest generation in the cascade (0: a lone generation-0 liquidation)."""
        return max(x.generation for x in self.liquidations)

    @property
    def start_ns(self) -> int:
        """Return the time of the first liquidation."""
        return min(x.ts_ns for x in self.liquidations)

    @property
    def end_ns(self) -> int:
        """Return the time of the last liquidation."""
        return max(x.ts_ns for x in self.liquidations)

    def head(self) -> Liquidation:
        """Return the root liquidation (the generation-0 one whose breach is the root)."""
        return next((x for x in self.liquidations if x.breach == self.root), self.liquidations[0])

    def as_dict(self, epoch: datetime | None = None) -> dict[str, Any]:
        """Return the cascade's numbers as a JSON-ready dict (times in s from the start; UTC with `epoch`)."""
        head = self.head()
        out: dict[str, Any] = {
            "root_breach": self.root,
            "root_liquidation": head.seq,
            "root_account": head.account,
            "root_time_s": head.ts_ns / 1e9,
            "liquidations": len(self.liquidations),
            "notional": self.notional,
            "depth": self.depth,
            "start_s": self.start_ns / 1e9,
            "end_s": self.end_ns / 1e9,
            "duration_s": (self.end_ns - self.start_ns) / 1e9,
        }
        if epoch is not None:
            out["start_utc"] = utc_text(epoch, self.start_ns)
            out["end_utc"] = utc_text(epoch, self.end_ns)
        return out


@dataclass
class PriceMoves:
    """One market's mark steps, and the part of them attributed to liquidation flow (ticks).

    A step is the move between two consecutive `mark_price_updated` of the market.
    `fall` sums the mark's downward steps, `attributed_fall` the part of them beyond the
    reference's fall on steps driven by sell-side liquidation fills; `rise` and
    `attributed_rise` the same upward, with buy-side fills. The peak to trough is the mark's
    largest drawdown (running maximum minus mark), and `drawdown_attributed` the attributed
    fall on the steps between that peak and that trough.
    """

    market: int
    steps: int = 0
    fall: int = 0
    attributed_fall: int = 0
    driven_fall_steps: int = 0
    rise: int = 0
    attributed_rise: int = 0
    driven_rise_steps: int = 0
    peak: int = 0
    peak_ns: int = 0
    trough: int = 0
    trough_ns: int = 0
    drawdown_attributed: int = 0  # the attributed fall between the peak and the trough
    reference_tape_steps: int = 0  # steps measured against the index tape (the oracle price was driven)

    @property
    def fall_share(self) -> float:
        """Return the attributed fall over the mark's total fall (0 with no fall)."""
        return self.attributed_fall / self.fall if self.fall else 0.0

    @property
    def rise_share(self) -> float:
        """Return the attributed rise over the mark's total rise (0 with no rise)."""
        return self.attributed_rise / self.rise if self.rise else 0.0

    def as_dict(self) -> dict[str, Any]:
        """Return the numbers as a JSON-ready dict (prices in ticks, times in s from the start)."""
        drop = self.peak - self.trough
        return {
            "market": self.market,
            "mark_steps": self.steps,
            "mark_fall_ticks": self.fall,
            "liquidation_fall_ticks": self.attributed_fall,
            "liquidation_fall_share": round(self.fall_share, 6),
            "liquidation_driven_fall_steps": self.driven_fall_steps,
            "mark_rise_ticks": self.rise,
            "liquidation_rise_ticks": self.attributed_rise,
            "liquidation_rise_share": round(self.rise_share, 6),
            "liquidation_driven_rise_steps": self.driven_rise_steps,
            "peak_ticks": self.peak,
            "peak_s": self.peak_ns / 1e9,
            "trough_ticks": self.trough,
            "trough_s": self.trough_ns / 1e9,
            "peak_to_trough_ticks": drop,
            "peak_to_trough_pct": round(100 * drop / self.peak, 4) if self.peak else 0.0,
            "peak_to_trough_liquidation_ticks": self.drawdown_attributed,
            "peak_to_trough_liquidation_share": round(self.drawdown_attributed / drop, 6) if drop else 0.0,
            "steps_against_index_tape": self.reference_tape_steps,
        }


@dataclass
class Cascades:
    """Every liquidation with its generation, each market's attributed price moves, and the totals."""

    liquidations: list[Liquidation] = field(default_factory=list)
    prices: dict[int, PriceMoves] = field(default_factory=dict)
    epoch: datetime | None = None  # the run's start, to print UTC times (set by `analyse_log`)

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

    def cascades(self) -> list[Cascade]:
        """Return the liquidations grouped by root, the largest notional first (then the earliest root)."""
        roots: dict[int, list[Liquidation]] = {}
        for x in self.liquidations:
            roots.setdefault(x.root, []).append(x)
        groups = [Cascade(r, tuple(xs)) for r, xs in roots.items()]
        groups.sort(key=lambda c: (-c.notional, c.root))
        return groups

    def totals(self) -> dict[str, Any]:
        """Return the headline numbers as a flat JSON-ready dict (notionals in quote minor units).

        The price attribution is market 0's (every market's is in `price_moves`).
        """
        groups = self.cascades()
        top = groups[0].as_dict() if groups else None
        moves = (self.prices.get(0) or PriceMoves(0)).as_dict()
        return {
            "liquidations": len(self.liquidations),
            "generations": self.generations,
            "cascade_depth": self.generations - 1 if self.liquidations else 0,
            "notional_by_generation": self.notional_by_generation(),
            "amplification": round(self.amplification(), 6),
            "cascades": len(groups),
            "cascades_with_depth": sum(1 for c in groups if c.depth >= 1),
            "largest_cascade_root": top["root_breach"] if top else 0,
            "largest_cascade_root_liquidation": top["root_liquidation"] if top else 0,
            "largest_cascade_root_account": top["root_account"] if top else 0,
            "largest_cascade_liquidations": top["liquidations"] if top else 0,
            "largest_cascade_notional": top["notional"] if top else 0,
            "largest_cascade_depth": top["depth"] if top else 0,
            "largest_cascade_start_s": top["start_s"] if top else 0.0,
            "largest_cascade_end_s": top["end_s"] if top else 0.0,
            "largest_cascade_duration_s": top["duration_s"] if top else 0.0,
            "mark_fall_ticks": moves["mark_fall_ticks"],
            "liquidation_fall_ticks": moves["liquidation_fall_ticks"],
            "liquidation_fall_share": moves["liquidation_fall_share"],
            "mark_rise_ticks": moves["mark_rise_ticks"],
            "liquidation_rise_ticks": moves["liquidation_rise_ticks"],
            "liquidation_rise_share": moves["liquidation_rise_share"],
            "mark_peak_to_trough_ticks": moves["peak_to_trough_ticks"],
            "mark_peak_to_trough_pct": moves["peak_to_trough_pct"],
            "peak_to_trough_liquidation_share": moves["peak_to_trough_liquidation_share"],
        }

    def largest_cascade(self) -> dict[str, Any] | None:
        """Return the largest cascade's numbers (with UTC times when the epoch is known), or None."""
        groups = self.cascades()
        return groups[0].as_dict(self.epoch) if groups else None

    def price_moves(self) -> list[dict[str, Any]]:
        """Return each market's price attribution, by market."""
        return [self.prices[m].as_dict() for m in sorted(self.prices)]

    def as_rows(self) -> list[dict[str, Any]]:
        """Return each liquidation as a JSON-ready dict."""
        return [{**asdict(x), "parents": list(x.parents)} for x in self.liquidations]


class _Marks:
    """Per market: the previous mark update's mark, reference prices and whether its oracle price was driven."""

    __slots__ = ("high", "high_attributed", "high_ns", "mark", "moves", "oracle", "oracle_driven", "tape")

    def __init__(self, moves: PriceMoves, mark: int, oracle: int, tape: int, oracle_driven: bool, ts: int) -> None:
        self.mark, self.oracle, self.tape, self.oracle_driven, self.moves = mark, oracle, tape, oracle_driven, moves
        self.high, self.high_ns = mark, ts  # the running maximum of the mark
        self.high_attributed = 0  # moves.attributed_fall when the mark was last at its running maximum
        moves.peak = moves.trough = mark
        moves.peak_ns = moves.trough_ns = ts


def analyse(rows: Iterable[tuple[int, int, str, str, str]], size: int) -> Cascades:
    """Return the cascades of a log's rows (seq, ts_ns, kind, causes JSON, payload JSON), seq order.

    `size` is at least the largest seq + 1.
    """
    driven = np.zeros(size, np.int32)  # 0: not driven by liquidation flow; k + 1: by generation k
    root = np.zeros(size, np.int64)
    generation = np.full(size, -1, np.int32)  # of a liquidation's own events (breach, order, fills)
    breach_id = np.zeros(size, np.int64)  # of a liquidation's own events: its breach
    sides = np.zeros(size, np.int8)  # of driven events: SELLS | BUYS of the liquidation fills reached
    delivery = np.zeros(size, np.bool_)  # oracle_price_delivered rows
    parents: dict[int, tuple[int, ...]] = {}  # driven event -> breaches of the liquidations at its depth
    shared: dict[tuple[int, ...], tuple[int, ...]] = {}  # each distinct parents tuple once
    breach_of: dict[int, int] = {}  # account -> its open breach's seq
    tape: dict[int, int] = {}  # market -> latest external index (ticks)
    marks: dict[int, _Marks] = {}
    pending: list[tuple[int, int, int, int, int, int, tuple[int, ...]]] = []
    out = Cascades()
    for seq, ts, kind, causes_json, payload_json in rows:
        causes = _decode(causes_json) if causes_json != "[]" else ()
        if kind == "margin_breached":
            payload = _decode(payload_json)
            deepest = max(causes, key=lambda c: (int(driven[c]), -c), default=0)
            depth = int(driven[deepest]) if causes else 0  # k + 1 when generation-k fills moved the mark
            generation[seq] = depth
            breach_id[seq] = seq
            root[seq] = root[deepest] if depth else seq
            if depth:
                parents[seq] = parents.get(deepest, ())
            breach_of[payload["account"]] = seq
            continue
        source = max(causes, key=lambda c: int(generation[c])) if kind in _LIQUIDATION_PARTS and causes else 0
        own = int(generation[source]) if source else -1
        if own >= 0:
            # Part of a liquidation (its causes run back to the breach): same generation and root.
            generation[seq] = own
            root[seq] = root[source]
            breach_id[seq] = breach_id[source]
            if kind in ("trade_executed", "position_deleveraged"):
                driven[seq] = own + 1
                parents[seq] = (int(breach_id[source]),)
                side = _decode(payload_json).get("taker_side", 0) if kind == "trade_executed" else 0
                sides[seq] = SELLS if side == -1 else BUYS if side == 1 else SELLS | BUYS
            continue
        if kind == "liquidation_completed":
            payload = _decode(payload_json)
            breach = breach_of.pop(payload["account"], 0)
            if breach:
                pending.append((seq, ts, payload["account"], payload["market"], payload["notional"], breach,
                                parents.get(breach, ())))  # fmt: skip
            continue
        if kind == "liquidation_cancelled":
            breach_of.pop(_decode(payload_json)["account"], None)
            continue
        if causes:
            deepest = max(causes, key=lambda c: (int(driven[c]), -c))
            depth = int(driven[deepest])
            if depth:
                driven[seq] = depth
                root[seq] = root[deepest]
                mask, first, reached = 0, parents.get(deepest, ()), None
                for c in causes:
                    if driven[c]:
                        mask |= int(sides[c])
                        if driven[c] == depth and c != deepest and parents.get(c, ()) != first:
                            reached = (reached or set(first)) | set(parents.get(c, ()))
                sides[seq] = mask
                if reached is not None:  # several sets of parents: one shared tuple per distinct set
                    key = tuple(sorted(reached)[:MAX_PARENTS])
                    first = shared.setdefault(key, key)
                parents[seq] = first
        if kind == "oracle_price_delivered":
            delivery[seq] = True
        elif kind == "index_price_updated":
            payload = _decode(payload_json)
            tape[payload["market"]] = payload["price_ticks"]
        elif kind == "mark_price_updated":
            payload = _decode(payload_json)
            market, mark = payload["market"], payload["price_ticks"]
            oracle = payload.get("index_ticks", mark)  # version 1: the mark was the oracle price
            oracle_driven = any(driven[c] for c in causes if delivery[c])
            last = marks.get(market)
            if last is None:
                moves = out.prices.setdefault(market, PriceMoves(market))
                marks[market] = _Marks(moves, mark, oracle, tape.get(market, 0), oracle_driven, ts)
                continue
            _step(last, ts, mark, oracle, tape.get(market, 0), oracle_driven, int(sides[seq]) if driven[seq] else 0)
    liquidation_of = {breach: seq for seq, *_rest, breach, _p in pending}
    for seq, ts, account, market, notional, breach, of in pending:
        out.liquidations.append(
            Liquidation(seq, ts, account, market, notional, int(generation[breach]), int(root[breach]), breach,
                        tuple(liquidation_of[b] for b in of if b in liquidation_of))
        )  # fmt: skip
    return out


def _step(last: _Marks, ts: int, mark: int, oracle: int, tape: int, oracle_driven: bool, mask: int) -> None:
    # One mark step: the reference is the oracle price the mark was derived from, unless that
    # price (now or at the previous mark) was itself driven by liquidation flow: then the tape.
    moves = last.moves
    moves.steps += 1
    change = mark - last.mark
    if oracle_driven or last.oracle_driven:
        reference = tape - last.tape
        moves.reference_tape_steps += 1
    else:
        reference = oracle - last.oracle
    if change < 0:
        moves.fall -= change
        if mask & SELLS:
            moves.driven_fall_steps += 1
            moves.attributed_fall += max(0, -change - max(0, -reference))
    elif change > 0:
        moves.rise += change
        if mask & BUYS:
            moves.driven_rise_steps += 1
            moves.attributed_rise += max(0, change - max(0, reference))
    if mark > last.high:
        last.high, last.high_ns, last.high_attributed = mark, ts, moves.attributed_fall
    elif last.high - mark > moves.peak - moves.trough:
        moves.peak, moves.peak_ns, moves.trough, moves.trough_ns = last.high, last.high_ns, mark, ts
        moves.drawdown_attributed = moves.attributed_fall - last.high_attributed
    last.mark, last.oracle, last.tape, last.oracle_driven = mark, oracle, tape, oracle_driven


def analyse_log(path: Any) -> Cascades:
    """Return the cascades of the event log at `path` (with its epoch, for UTC times)."""
    from clearing.log.reader import CAUSE_COLUMNS, EventLogReader

    with EventLogReader(path) as reader:
        size = reader.count() + 2
        result = analyse(reader.rows(columns=CAUSE_COLUMNS), size)
        result.epoch = reader.header.epoch
    return result


# Fill colours of the DOT nodes by generation (the last for every deeper one).
GENERATION_COLOURS = ("#c6dbef", "#fdd0a2", "#fc9272", "#ef3b2c", "#a50f15")


def to_dot(result: Cascades, limit: int = 2000) -> str:
    """Return the causal graph of the liquidations as Graphviz DOT, at most `limit` nodes.

    Nodes are liquidations (seq, account, generation, notional), filled by generation; an edge
    runs from each generation-k parent to the generation-(k + 1) liquidation its fills drove.
    Each cascade of two or more liquidations is a cluster. Whole cascades are kept, those
    with depth >= 1 first, each by notional, largest first, while they fit; when the first
    does not fit alone, its first `limit` liquidations (by generation, then seq) are kept.
    Comments at the top say what was left out.
    """
    if limit < 1:
        raise ValueError(f"limit {limit}: expected at least 1 node")
    groups = sorted(result.cascades(), key=lambda c: (c.depth == 0, -c.notional, c.root))
    shown: list[tuple[Cascade, tuple[Liquidation, ...]]] = []
    room, cut = limit, 0
    for c in groups:
        if len(c.liquidations) <= room:
            shown.append((c, c.liquidations))
            room -= len(c.liquidations)
        elif not shown:
            kept = tuple(sorted(c.liquidations, key=lambda x: (x.generation, x.seq))[:room])
            shown.append((c, kept))
            cut, room = len(c.liquidations) - len(kept), 0
    kept_seqs = {x.seq for _c, xs in shown for x in xs}
    left = [c for c in groups if c.root not in {s.root for s, _ in shown}]
    lines = [
        f"// clearing cascades: {len(result.liquidations)} liquidations in {len(groups)} cascades, "
        f"{result.generations} generation(s); node limit {limit}",
        f"// shown: {len(kept_seqs)} liquidations in {len(shown)} cascades (depth >= 1 first, then by notional)",
    ]
    if left or cut:
        lines.append(
            f"// left out: {sum(len(c.liquidations) for c in left) + cut} liquidations: {len(left)} whole cascades "
            f"(notional {sum(c.notional for c in left)}, the largest {max((c.notional for c in left), default=0)})"
            + (f" and {cut} of the largest cascade (its deepest generations)" if cut else "")
        )
    lines.append("// colours by generation: " + ", ".join(f"{g} {c}" for g, c in enumerate(GENERATION_COLOURS)) + " and deeper")
    lines += [
        "digraph cascades {",
        "  rankdir=LR;",
        '  node [shape=box, style=filled, fontsize=10, fontname="Helvetica"];',
    ]
    edges: list[str] = []
    dropped = 0
    for cascade, members in shown:
        indent = "  "
        if len(cascade.liquidations) > 1:
            lines.append(f"  subgraph cluster_{cascade.root} {{")
            lines.append(
                f'    label="cascade {cascade.head().seq}: {len(cascade.liquidations)} liquidations, '
                f'notional {cascade.notional}, depth {cascade.depth}";'
            )
            indent = "    "
        for x in members:
            colour = GENERATION_COLOURS[min(x.generation, len(GENERATION_COLOURS) - 1)]
            lines.append(
                f'{indent}L{x.seq} [label="{x.seq}\\naccount {x.account}\\ngen {x.generation}\\nnotional {x.notional}", '
                f'fillcolor="{colour}"];'
            )
            for p in x.parents:
                if p in kept_seqs:
                    edges.append(f"  L{p} -> L{x.seq};")
                else:
                    dropped += 1
        if indent == "    ":
            lines.append("  }")
    lines += edges
    if dropped:
        lines.append(f"  // {dropped} edge(s) from liquidations left out are not drawn")
    lines.append("}")
    return "\n".join(lines) + "\n"
