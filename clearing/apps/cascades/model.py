"""What `clearing cascades` finds: liquidations with their generation, cascades by root, attributed price moves.

Plain data with the derived numbers (totals, the largest cascade, JSON-ready dicts);
`clearing.apps.cascades.analysis` fills it from a log. Notionals are quote minor units,
prices ticks, times ns from the run's start (s in the dicts).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from clearing.log.reader import utc_text


@dataclass(frozen=True)
class Liquidation:
    """One completed liquidation: when, whose, how much, its generation, root and parents.

    `root` and `breach` are `margin_breached` seqs; `parents` are the `liquidation_completed`
    seqs of the generation-(k - 1) liquidations whose fills drove the mark that breached this
    one (empty at generation 0). `market` and `symbol` are the first market it closed (its
    `liquidation_completed`'s; `notional` covers every market it closed); the symbol is ""
    when the events seen did not list the market. `trigger_market` is the market whose mark
    breached the account and `closed` what its fills closed on each market: a cross or
    portfolio account breached by one market's move can be closed on others (contagion).
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
    symbol: str = ""
    trigger_market: int = -1  # the market whose mark update breached the account (its `margin_breached`'s)
    closed: tuple[tuple[int, int], ...] = ()  # (market, notional) its fills closed, by market

    @property
    def cross_market(self) -> bool:
        """Return whether it closed a position on a market other than the one whose move breached it."""
        return any(m != self.trigger_market for m, _notional in self.closed)


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
    symbol: str = ""  # "" when the events seen did not list the market
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
            "symbol": self.symbol,
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


# The price attribution's keys that `Cascades.totals` shows flat.
_SHARED = (
    "mark_fall_ticks", "liquidation_fall_ticks", "liquidation_fall_share", "mark_rise_ticks", "liquidation_rise_ticks",
    "liquidation_rise_share", "peak_to_trough_ticks", "peak_to_trough_pct", "peak_to_trough_liquidation_share",
)  # fmt: skip


@dataclass
class Cascades:
    """Every liquidation with its generation, each market's attributed price moves, and the totals."""

    liquidations: list[Liquidation] = field(default_factory=list)
    prices: dict[int, PriceMoves] = field(default_factory=dict)
    epoch: datetime | None = None  # the run's start, to print UTC times (set by `analyse_log`)
    symbols: dict[int, str] = field(default_factory=dict)  # market -> symbol, from the listings seen

    def _name(self, market: int) -> str:
        return self.symbols.get(market) or str(market)

    def contagion(self) -> dict[str, dict[str, int]]:
        """Return the notional (quote minor units) each market's moves liquidated on each market, by symbol.

        `out[A][B]`: the notional closed on B by liquidations whose breach came from A's mark
        (A == B: on its own market). Liquidation flow that moves A's mark and breaches the
        next accounts counts under A too, so the off-diagonal is cross-market contagion.
        """
        out: dict[str, dict[str, int]] = {}
        for x in self.liquidations:
            row = out.setdefault(self._name(x.trigger_market), {})
            for market, notional in x.closed:
                row[self._name(market)] = row.get(self._name(market), 0) + notional
        return {a: dict(sorted(row.items())) for a, row in sorted(out.items())}

    def generations_by_market(self) -> dict[str, list[int]]:
        """Return, per market closed (by symbol), how many liquidations of each generation closed lots on it."""
        out: dict[str, list[int]] = {}
        for x in self.liquidations:
            for market, _notional in x.closed:
                counts = out.setdefault(self._name(market), [0] * self.generations)
                counts[x.generation] += 1
        return dict(sorted(out.items()))

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

        The price attribution (`mark_*`, `liquidation_fall_*`, `liquidation_rise_*`,
        `peak_to_trough_*`) is the market's when the run has one market, and None when it
        has several: ticks of different markets do not add up. Every market's is in
        `by_symbol` and `price_moves`.
        """
        groups = self.cascades()
        top = groups[0].as_dict() if groups else None
        one = len(self.prices) <= 1
        moves = next(iter(self.prices.values()), PriceMoves(0)).as_dict() if one else dict.fromkeys(_SHARED, None)
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
            "cross_market_liquidations": sum(1 for x in self.liquidations if x.cross_market),
            "cross_market_notional": sum(n for x in self.liquidations for m, n in x.closed if m != x.trigger_market),
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

    def by_symbol(self) -> dict[str, dict[str, Any]]:
        """Return each market's price attribution keyed by its symbol (by its number when it was not listed)."""
        return {moves["symbol"] or str(moves["market"]): moves for moves in self.price_moves()}

    def as_rows(self) -> list[dict[str, Any]]:
        """Return each liquidation as a JSON-ready dict."""
        return [{**asdict(x), "parents": list(x.parents), "closed": [list(c) for c in x.closed]} for x in self.liquidations]
