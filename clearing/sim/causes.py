"""The latest event of each kind of market input, so later events can name their causes."""

from __future__ import annotations

from collections.abc import Callable, Sequence


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
        self.surfaces: dict[int, tuple[int, ...]] = {}  # underlying -> its latest surface update, as causes
        self.model: dict[int, int] = {}  # option market -> its model value at the underlying's index (ticks)
        self.ladders: dict[int, dict[int, int]] = {}  # market -> maker -> its latest quote update
        self.fills: dict[int, dict[int, list[int]]] = {}  # market -> maker (or -1) -> fills since
        self.readers: dict[str, Callable[[int], tuple[int, ...]]] = {
            "index": self.of_index, "mid": self.of_mid, "last": self.of_last, "oracle": self.of_oracle,
        }  # fmt: skip

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

    def of_index(self, market: int) -> tuple[int, ...]:
        """Return the causes of the index price: its latest move."""
        seq = self.index.get(market, 0)
        return (seq,) if seq else ()

    def of_oracle(self, market: int) -> tuple[int, ...]:
        """Return the causes of the oracle price the exchange sees: its latest delivery."""
        seq = self.oracle.get(market, 0)
        return (seq,) if seq else ()

    def of_last(self, market: int) -> tuple[int, ...]:
        """Return the causes of the last trade price: the last trade."""
        seq = self.trade.get(market, 0)
        return (seq,) if seq else ()

    def of_mid(self, market: int) -> tuple[int, ...]:
        """Return the causes of the book's mid: each maker's latest ladder and the fills since (else the last trade)."""
        seqs = [*self.ladders.get(market, {}).values(), *(s for f in self.fills.get(market, {}).values() for s in f)]
        if seqs:
            return tuple(sorted(s for s in seqs if s))
        return self.of_last(market)  # no maker has quoted: the last trade made the price

    def of(self, source: str, market: int) -> tuple[int, ...]:
        """Return the causes of an observation of `source` ("index", "mid", "last" or "oracle")."""
        return self.readers[source](market)
