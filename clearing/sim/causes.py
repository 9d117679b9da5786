"""The latest event of each kind of market input, so later events can name their causes."""

from __future__ import annotations

from collections.abc import Sequence


class Latest:
    """Seq of the latest index move, trade, quote update and oracle delivery per market.

    The book's mid as it stands was made by each maker's latest ladder and the fills that
    ate into it since (a fill against a maker stays a cause of the mid until that maker
    quotes again); a fill against any other resting order, until the next quote update.
    """

    def __init__(self) -> None:
        self.index: dict[int, int] = {}
        self.trade: dict[int, int] = {}
        self.oracle: dict[int, int] = {}
        self.ladders: dict[int, dict[int, int]] = {}  # market -> maker -> its latest quote update
        self.fills: dict[int, dict[int, list[int]]] = {}  # market -> maker (or -1) -> fills since

    def traded(self, market: int, seqs: Sequence[int], makers: Sequence[int] = ()) -> None:
        """Record trades on `market` in seq order: the last is the last trade; book fills (with their makers) shape the mid."""
        self.trade[market] = seqs[-1]
        quoting = self.ladders.get(market, {})
        fills = self.fills.setdefault(market, {})
        for seq, maker in zip(seqs, makers, strict=False):
            fills.setdefault(maker if maker in quoting else -1, []).append(seq)

    def quoted(self, market: int, account: int, seq: int) -> None:
        """Record a maker's quote update: its ladder is made afresh."""
        self.ladders.setdefault(market, {})[account] = seq
        fills = self.fills.setdefault(market, {})
        fills[account] = []
        fills[-1] = []

    def of(self, source: str, market: int) -> tuple[int, ...]:
        """Return the causes of an observation of `source` ("index", "mid", "last" or "oracle")."""
        if source == "index":
            seq = self.index.get(market, 0)
        elif source == "oracle":
            seq = self.oracle.get(market, 0)
        elif source == "last":
            seq = self.trade.get(market, 0)
        else:
            seqs = [*self.ladders.get(market, {}).values(), *(s for f in self.fills.get(market, {}).values() for s in f)]
            if seqs:
                return tuple(sorted(s for s in seqs if s))
            seq = self.trade.get(market, 0)  # no maker has quoted: the last trade made the price
        return (seq,) if seq else ()
