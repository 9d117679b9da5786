"""The cascade analysis: one forward pass over a log's events in seq order, an observer of the fold.

`CascadeAnalysis` is told of every event (it follows the cause links of all of them) and
reads only the events, never the state, so `analyse_log` walks the log with
`fold_log(..., apply_events=False)`: chain-checked, nothing applied. The links are the
events' own `causes`, decoded from the hashed payloads. Per seq it keeps numpy arrays
(grown as the seqs go): how deeply each event is driven by liquidation flow, its root,
its liquidation's generation and breach, and the sides of the flow it reaches.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from clearing.apps.cascades.model import Cascades, Liquidation, PriceMoves
from clearing.apps.fold import Folded, Observer, fold_log
from clearing.apps.tally import fill_notional
from clearing.log.reader import RunHeader

MAX_PARENTS = 16  # parents kept per driven event (the earliest breaches), so a mark citing many fills stays cheap
SELLS, BUYS = 1, 2  # sides of liquidation flow an event reaches (bit mask)
_LIQUIDATION_PARTS = frozenset(("order_placed", "trade_executed", "position_deleveraged", "order_cancelled"))


class _Marks:
    """Per market: the previous mark update's mark, reference prices and whether its oracle price was driven."""

    __slots__ = ("high", "high_attributed", "high_ns", "mark", "moves", "oracle", "oracle_driven", "tape")

    def __init__(self, moves: PriceMoves, mark: int, oracle: int, tape: int, oracle_driven: bool, ts: int) -> None:
        self.mark, self.oracle, self.tape, self.oracle_driven, self.moves = mark, oracle, tape, oracle_driven, moves
        self.high, self.high_ns = mark, ts  # the running maximum of the mark
        self.high_attributed = 0  # moves.attributed_fall when the mark was last at its running maximum
        moves.peak = moves.trough = mark
        moves.peak_ns = moves.trough_ns = ts


class CascadeAnalysis(Observer):
    """Generations, roots, parents and attributed price moves, from every event's causes.

    Events are read by their fields only (`ts_ns`, `causes`, and `account`, `market`,
    `notional`, `taker_side`, `lots`, `price_ticks`, `index_ticks` of the kinds that have
    them, a listing's `symbol` and `unit_value`, a contract's `instrument`).
    """

    needs_state = False

    def __init__(self, size: int = 1 << 16) -> None:
        self.size = size
        self.driven = np.zeros(size, np.int32)  # 0: not driven by liquidation flow; k + 1: by generation k
        self.root = np.zeros(size, np.int64)
        self.generation = np.full(size, -1, np.int32)  # of a liquidation's own events (breach, order, fills)
        self.breach_id = np.zeros(size, np.int64)  # of a liquidation's own events: its breach
        self.sides = np.zeros(size, np.int8)  # of driven events: SELLS | BUYS of the liquidation fills reached
        self.delivery = np.zeros(size, np.bool_)  # oracle_price_delivered rows
        self.parents: dict[int, tuple[int, ...]] = {}  # driven event -> breaches of the liquidations at its depth
        self.shared: dict[tuple[int, ...], tuple[int, ...]] = {}  # each distinct parents tuple once
        self.breach_of: dict[int, int] = {}  # account -> its open breach's seq
        self.tape: dict[int, int] = {}  # market -> latest external index (ticks)
        self.symbols: dict[int, str] = {}  # market -> its symbol, from its listing
        self.marks: dict[int, _Marks] = {}
        self.unit_value: dict[int, int] = {}  # market -> its listing's unit value
        self.inverse: set[int] = set()  # inverse perpetuals: a lot is worth its unit value at any price
        self.trigger: dict[int, int] = {}  # breach seq -> the market whose mark breached it
        self.closed: dict[int, dict[int, int]] = {}  # breach seq -> market -> notional its liquidation's fills closed
        self.pending: list[tuple[int, int, int, int, int, int, tuple[int, ...]]] = []
        self.out = Cascades()

    def begin(self, path: Path, header: RunHeader) -> None:
        """Take the run's epoch, for UTC times."""
        self.out.epoch = header.epoch

    def _grow(self, seq: int) -> None:
        size = max(2 * self.size, seq + 1)
        for name in ("driven", "root", "generation", "breach_id", "sides", "delivery"):
            old = getattr(self, name)
            new = np.full(size, -1, old.dtype) if name == "generation" else np.zeros(size, old.dtype)
            new[: self.size] = old
            setattr(self, name, new)
        self.size = size

    def event(self, seq: int, kind: str, event: Any, state: object = None) -> None:
        """Carry the event's depth, root, parents and sides from its causes; record breaches, liquidations, marks."""
        if seq >= self.size:
            self._grow(seq)
        driven, generation, root, parents = self.driven, self.generation, self.root, self.parents
        causes = event.causes
        if kind == "margin_breached":
            deepest = max(causes, key=lambda c: (int(driven[c]), -c), default=0)
            depth = int(driven[deepest]) if causes else 0  # k + 1 when generation-k fills moved the mark
            generation[seq] = depth
            self.breach_id[seq] = seq
            root[seq] = root[deepest] if depth else seq
            if depth:
                parents[seq] = parents.get(deepest, ())
            self.breach_of[event.account] = seq
            self.trigger[seq] = event.market
            return
        source = max(causes, key=lambda c: int(generation[c])) if kind in _LIQUIDATION_PARTS and causes else 0
        own = int(generation[source]) if source else -1
        if own >= 0:
            # Part of a liquidation (its causes run back to the breach): same generation and root.
            generation[seq] = own
            root[seq] = root[source]
            self.breach_id[seq] = self.breach_id[source]
            if kind in ("trade_executed", "position_deleveraged"):
                notional = fill_notional(event.lots, event.price_ticks, self.unit_value.get(event.market, 0),
                                         event.market in self.inverse)  # fmt: skip
                closed = self.closed.setdefault(int(self.breach_id[source]), {})
                closed[event.market] = closed.get(event.market, 0) + notional
                driven[seq] = own + 1
                parents[seq] = (int(self.breach_id[source]),)
                side = event.taker_side if kind == "trade_executed" else 0
                self.sides[seq] = SELLS if side == -1 else BUYS if side == 1 else SELLS | BUYS
            return
        if kind == "liquidation_completed":
            breach = self.breach_of.pop(event.account, 0)
            if breach:
                self.pending.append((seq, event.ts_ns, event.account, event.market, event.notional, breach,
                                     parents.get(breach, ())))  # fmt: skip
            return
        if kind == "liquidation_cancelled":
            self.breach_of.pop(event.account, None)
            return
        sides = self.sides
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
                    first = self.shared.setdefault(key, key)
                parents[seq] = first
        if kind == "oracle_price_delivered":
            self.delivery[seq] = True
        elif kind == "market_listed":
            self.symbols[event.market] = event.symbol
            self.unit_value[event.market] = event.unit_value
        elif kind == "contract_specified" and event.instrument == "inverse_perpetual":
            self.inverse.add(event.market)
        elif kind == "index_price_updated":
            self.tape[event.market] = event.price_ticks
        elif kind == "mark_price_updated":
            market, mark, oracle = event.market, event.price_ticks, event.index_ticks
            oracle_driven = any(driven[c] for c in causes if self.delivery[c])
            last = self.marks.get(market)
            if last is None:
                moves = self.out.prices.setdefault(market, PriceMoves(market, self.symbols.get(market, "")))
                self.marks[market] = _Marks(moves, mark, oracle, self.tape.get(market, 0), oracle_driven, event.ts_ns)
                return
            mask = int(sides[seq]) if driven[seq] else 0
            _step(last, event.ts_ns, mark, oracle, self.tape.get(market, 0), oracle_driven, mask)

    def end(self, folded: Folded) -> None:
        """Turn the completed liquidations into the result."""
        self.result()

    def result(self) -> Cascades:
        """Return the analysis of the events seen so far (idempotent)."""
        out = self.out
        if len(out.liquidations) == len(self.pending):
            return out
        liquidation_of = {breach: seq for seq, *_rest, breach, _p in self.pending}
        out.symbols = dict(self.symbols)
        out.liquidations = [
            Liquidation(seq, ts, account, market, notional, int(self.generation[breach]), int(self.root[breach]), breach,
                        tuple(liquidation_of[b] for b in of if b in liquidation_of), self.symbols.get(market, ""),
                        self.trigger.get(breach, market), tuple(sorted(self.closed.get(breach, {}).items())))
            for seq, ts, account, market, notional, breach, of in self.pending
        ]  # fmt: skip
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


def analyse(events: Iterable[tuple[int, str, Any]], epoch: datetime | None = None) -> Cascades:
    """Return the cascades of events given as (seq, kind, event) in seq order (a log's, or made by hand)."""
    analysis = CascadeAnalysis()
    for seq, kind, event in events:
        analysis.event(seq, kind, event)
    result = analysis.result()
    result.epoch = epoch
    return result


def analyse_log(path: Path | str) -> Cascades:
    """Return the cascades of the event log at `path` (with its epoch, for UTC times).

    Raises:
        clearing.errors.EventLogError: the file is not a readable event log.
        clearing.errors.VerificationError: the hash chain is broken (or the header does not match it).
    """
    analysis = CascadeAnalysis()
    fold_log(path, (analysis,), apply_events=False)
    return analysis.result()
