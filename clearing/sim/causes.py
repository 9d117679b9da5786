"""The latest event of each kind of market input, so later events can name their causes."""

from __future__ import annotations


class Latest:
    """Seq of the latest index move, trade, quote update and oracle delivery per market."""

    def __init__(self) -> None:
        self.index: dict[int, int] = {}
        self.trade: dict[int, int] = {}
        self.quotes: dict[int, int] = {}
        self.oracle: dict[int, int] = {}

    def of(self, source: str, market: int) -> tuple[int, ...]:
        """Return the causes of an observation of `source` ("index", "mid", "last" or "oracle")."""
        # "mid" is made by both the quotes and the trades that ate into them.
        if source == "index":
            seqs = [self.index.get(market, 0)]
        elif source == "oracle":
            seqs = [self.oracle.get(market, 0)]
        elif source == "last":
            seqs = [self.trade.get(market, 0)]
        else:
            seqs = [self.trade.get(market, 0), self.quotes.get(market, 0)]
        return tuple(sorted(s for s in seqs if s))
