"""Counts the state does not keep: liquidations, ADL, socialised loss and funding by market; the traders by margin mode.

The state counts liquidations, their notional, ADL and socialised loss for the whole run;
the summary shows them per market too, so `MarketTally` counts them from the events. A
replay counts them in its fold (`clearing.apps.fold`); a live run once it has ended, from
the rows it wrote: `tally_log` reads a log's rows of the tallied kinds and the fills its
liquidations cite (not every trade), `tally_rows` a `MemorySink`'s rows; a run that keeps
no rows counts them as the bus appends them (`TalliedSink`). Each gives the replay's counts.

A liquidation closes lots on one market or several (a cross or portfolio account's
legs); its `liquidation_completed` names the first market and the notional of all of
them, and cites every fill (book fills, take-overs, deleveragings). So a liquidation's
notional goes to each market by the fills it cites (lots x price x unit value, as the
state values them), and it counts once on every market it closed lots on: the markets'
notionals add up to the run's `liquidated_notional` exactly, their counts to at least its
`liquidations`. A liquidation that cites no fill a market can be found for (a log written
before liquidations cited their fills) goes to the market it names.

The traders are counted by the margin mode of their group (`accounts_opened`): their
accounts, liquidations and liquidated notional, what the insurance fund paid for them, their
bad debt and the quote they deposited, so a run with `population.margin_modes` compares the
modes on one path; and likewise by portfolio type (`strategy_assigned`) when the population
has types (`population.strategies`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clearing import events as ev
from clearing.log.reader import ROW_COLUMNS, EventLogReader, opened
from clearing.log.schema import INDEXED_SQL, canonical_sql

Decode = Callable[[Any, str, int], ev.Event]

if TYPE_CHECKING:
    from clearing.sim.bus import Sink

# In a trade's canonical payload, a liquidation fill: `liquidation` is its only boolean (a test holds it so), alone
# in an array (layout 7 on) or by name in an object (before).
_LIQUIDATION_FILL = (",true,", '"liquidation":true')
_LIQUIDATION_FILL_BYTES = tuple(s.encode() for s in _LIQUIDATION_FILL)


@dataclass
class MarketCounts:
    """One market's counts (money in quote minor units)."""

    liquidations: int = 0  # liquidations that closed lots on this market
    liquidated_notional: int = 0
    adl_events: int = 0
    adl_notional: int = 0
    socialised_loss: int = 0
    socialisations: int = 0
    funding_paid: int = 0  # funding that changed hands: what the receivers received (an inverse perpetual's: coin minor units)


@dataclass
class ModeCounts:
    """The traders of one margin mode: how many, and what their liquidations cost (money in quote minor units)."""

    traders: int = 0  # accounts (an isolated trader holds one per leg)
    liquidations: int = 0
    liquidated_accounts: set[int] = field(default_factory=set)  # the accounts liquidated at least once
    liquidated_notional: int = 0
    insurance_paid: int = 0
    bad_debt: int = 0
    margin_posted: int = 0  # quote deposited into their accounts


@dataclass
class MarketTally:
    """Counts per market, from the events of the kinds in `TALLIED` shown in seq order."""

    markets: list[MarketCounts] = field(default_factory=list)
    unit_value: list[int] = field(default_factory=list)
    inverse: set[int] = field(default_factory=set)  # inverse perpetuals: a lot is worth its unit value at any price
    modes: dict[str, ModeCounts] = field(default_factory=dict)  # the traders' counts by margin mode
    strategies: dict[str, ModeCounts] = field(default_factory=dict)  # the traders' counts by portfolio type
    strategy_of: dict[int, str] = field(default_factory=dict)  # trader account -> its portfolio type
    trader_groups: list[tuple[int, int, str]] = field(default_factory=list)  # (first, count, mode) of each trader group
    fills: dict[int, tuple[int, int]] = field(default_factory=dict)  # liquidation fill seq -> (market, notional)

    def counts(self, market: int) -> MarketCounts:
        """Return the counts of `market` (zeros for a market not listed yet)."""
        return self.markets[market] if market < len(self.markets) else MarketCounts()

    def market(self, market: int) -> MarketCounts:
        """Return the counts of `market`, making room for it."""
        while len(self.markets) <= market:
            self.markets.append(MarketCounts())
            self.unit_value.append(0)
        return self.markets[market]

    def grouped(self) -> bool:
        """Return whether the traders are told apart: several margin-mode groups, or portfolio types."""
        return len(self.trader_groups) > 1 or bool(self.strategy_of)

    def event(self, seq: int, kind: str, event: ev.Event) -> None:
        """Count one event (of any kind: those outside `TALLIED` are ignored)."""
        count = _COUNT.get(kind)
        if count is not None and not (kind in _BY_MODE and not self.grouped()):
            count(self, seq, event)

    def row(self, seq: int, kind: str, version: int, payload: bytes | str, decode: Decode = ev.decode) -> None:
        """Count one row by its canonical payload: decoded (by `decode`: a reader's, for an older log) only when it is of
        a tallied kind (a trade: a liquidation fill)."""
        if kind not in TALLIED:
            return
        if kind == "trade_executed" and not _is_fill(payload):
            return
        if kind in _BY_MODE and not self.grouped():  # one margin mode and no types: nothing to tell apart
            return
        self.event(seq, kind, decode(payload, kind, version))


def _is_fill(payload: bytes | str) -> bool:
    marks = _LIQUIDATION_FILL if isinstance(payload, str) else _LIQUIDATION_FILL_BYTES
    return marks[0] in payload or marks[1] in payload  # type: ignore[operator]


def _listed(tally: MarketTally, seq: int, e: Any) -> None:
    tally.market(e.market)
    tally.unit_value[e.market] = e.unit_value


def _contract(tally: MarketTally, seq: int, e: Any) -> None:
    if e.instrument == "inverse_perpetual":
        tally.inverse.add(e.market)


def fill_notional(lots: int, price_ticks: int, unit_value: int, inverse: bool) -> int:
    """Return a fill's quote notional as the events give it: lots x price x unit value (an inverse lot: its unit value)."""
    return lots * unit_value * (1 if inverse else price_ticks)


def _notional(tally: MarketTally, e: Any) -> int:
    return fill_notional(e.lots, e.price_ticks, tally.unit_value[e.market], e.market in tally.inverse)


def _trade(tally: MarketTally, seq: int, e: Any) -> None:
    if e.liquidation:
        tally.market(e.market)
        tally.fills[seq] = (e.market, _notional(tally, e))


def _deleveraged(tally: MarketTally, seq: int, e: Any) -> None:
    counts = tally.market(e.market)
    notional = _notional(tally, e)
    counts.adl_events += 1
    counts.adl_notional += notional
    tally.fills[seq] = (e.market, notional)


def _completed(tally: MarketTally, seq: int, e: Any) -> None:
    # The notional by the fills it cites; what they do not explain goes to the market it names.
    closed: dict[int, int] = {}
    for cause in e.causes:
        fill = tally.fills.pop(cause, None)
        if fill is not None:
            closed[fill[0]] = closed.get(fill[0], 0) + fill[1]
    rest = e.notional - sum(closed.values())
    if rest or not closed:
        closed[e.market] = closed.get(e.market, 0) + rest
    for market, notional in closed.items():
        counts = tally.market(market)
        counts.liquidations += 1
        counts.liquidated_notional += notional
    for group in _groups_of(tally, e.account):
        group.liquidations += 1
        group.liquidated_notional += e.notional
        group.liquidated_accounts.add(e.account)


def _socialised(tally: MarketTally, seq: int, e: Any) -> None:
    counts = tally.market(e.market)
    counts.socialised_loss += sum(e.amounts)
    counts.socialisations += 1


def _funding(tally: MarketTally, seq: int, e: Any) -> None:
    tally.market(e.market).funding_paid += sum(a for a in e.amounts if a > 0)


def _opened(tally: MarketTally, seq: int, e: Any) -> None:
    if e.role == "trader":
        tally.trader_groups.append((e.first_account, e.count, e.margin_mode))
        tally.modes.setdefault(e.margin_mode, ModeCounts()).traders += e.count


def _assigned(tally: MarketTally, seq: int, e: Any) -> None:
    tally.strategies[e.name] = ModeCounts(traders=len(e.accounts))
    tally.strategy_of.update(dict.fromkeys(e.accounts, e.name))


def _groups_of(tally: MarketTally, account: int) -> list[ModeCounts]:
    # The counts `account` adds to: its margin-mode group's (with several) and its portfolio type's (with types).
    out = []
    if len(tally.trader_groups) > 1:
        for first, count, mode in tally.trader_groups:
            if first <= account < first + count:
                out.append(tally.modes[mode])
                break
    name = tally.strategy_of.get(account)
    if name is not None:
        out.append(tally.strategies[name])
    return out


def _deposited(tally: MarketTally, seq: int, e: Any) -> None:
    for group in _groups_of(tally, e.account):
        group.margin_posted += e.amount


def _paid(tally: MarketTally, seq: int, e: Any) -> None:
    for group in _groups_of(tally, e.account):
        group.insurance_paid += e.amount


def _written_off(tally: MarketTally, seq: int, e: Any) -> None:
    for group in _groups_of(tally, e.account):
        group.bad_debt += e.amount


_COUNT: dict[str, Callable[[MarketTally, int, Any], None]] = {
    "market_listed": _listed,
    "contract_specified": _contract,
    "trade_executed": _trade,
    "position_deleveraged": _deleveraged,
    "liquidation_completed": _completed,
    "loss_socialised": _socialised,
    "funding_paid": _funding,
    "accounts_opened": _opened,
    "strategy_assigned": _assigned,
    "deposited": _deposited,
    "insurance_fund_paid": _paid,
    "bad_debt_recorded": _written_off,
}
TALLIED = frozenset(_COUNT)  # the kinds a tally reads
_BY_MODE = frozenset(("deposited", "insurance_fund_paid", "bad_debt_recorded"))  # read only with several trader groups
_GROUPS = frozenset(("accounts_opened", "strategy_assigned"))  # the kinds that tell the traders' groups apart
# The trades at or before a seq that a liquidation (of any time) cites: its fills (the JSON read by SQLite).
_CITED_FILLS = (
    "SELECT seq, {columns} FROM events WHERE kind = {trade} AND seq IN ("
    "SELECT j.value FROM events AS l, json_each(l.causes) AS j WHERE l.kind = {liquidation} AND j.value <= ?)"
)


def _cited_fills(reader: EventLogReader, until: int) -> list[tuple[int, str, int, str]]:
    # The rows of `_CITED_FILLS` as a reader's rows: the kind by name, the canonical payload.
    if not reader.compact:
        sql = _CITED_FILLS.format(columns="kind, version, payload", trade="'trade_executed'",
                                  liquidation="'liquidation_completed'")  # fmt: skip
        return reader.conn.execute(sql, (until,)).fetchall()
    codes = {k: reader.kinds[k][0] if k in reader.kinds else 0 for k in ("trade_executed", "liquidation_completed")}
    sql = _CITED_FILLS.format(columns=f"'trade_executed', version, {canonical_sql()}", trade=codes["trade_executed"],
                              liquidation=f"{codes['liquidation_completed']} AND l.{INDEXED_SQL}")  # fmt: skip
    return reader.conn.execute(sql, (until,)).fetchall()


class TalliedSink:
    """A sink that passes every row on to `sink` and counts the rows of the tallied kinds into `tally`."""

    def __init__(self, sink: Sink, tally: MarketTally) -> None:
        self.sink = sink
        self.tally = tally
        self._append = sink.append
        self._row = tally.row

    @property
    def head_hash(self) -> bytes:
        """Return the hash of the last row of the sink passed on to."""
        return self.sink.head_hash

    def append(self, kind: str, version: int, ts_ns: int, causes: tuple[int, ...], payload: bytes) -> int:
        """Append the row to the sink, count it, and return its seq."""
        seq = self._append(kind, version, ts_ns, causes, payload)
        if kind in TALLIED:
            self._row(seq, kind, version, payload)
        return seq

    def checkpointed(self, ts_ns: int, digest: str, snapshot: Callable[[int], tuple[int, bytes]]) -> None:
        """Offer the snapshot to the sink passed on to."""
        self.sink.checkpointed(ts_ns, digest, snapshot)


def tally_rows(rows: Iterable[tuple[int, int, str, int, str, str, bytes]]) -> MarketTally:
    """Return the counts of a `MemorySink`'s rows (seq, ts, kind, version, causes, payload, hash), in seq order."""
    tally = MarketTally()
    for seq, _ts, kind, version, _causes, payload, _hash in rows:
        tally.row(seq, kind, version, payload)
    return tally


def tally_log(path: Path | str | EventLogReader, before_seq: int | None = None) -> MarketTally:
    """Return the counts of the event log at `path` (a path, or a reader already open), of its rows before `before_seq`.

    It reads the rows of the tallied kinds but trades, then only the trades a liquidation
    cites (its fills), by seq: a log's trades are mostly not liquidations.
    """
    until = None if before_seq is None else before_seq - 1
    with opened(path) as reader:
        groups = [(seq, kind, version, payload) for seq, _ts, kind, version, _c, payload, _h
                  in reader.rows(kinds=sorted(_GROUPS), until_seq=until, columns=ROW_COLUMNS)]  # fmt: skip
        tally = MarketTally()
        for row in groups:
            tally.row(*row, reader.decode)
        # The kinds counted by group only when the traders are told apart (a crash day's 10^5 deposits are not read).
        kinds = TALLIED - {"trade_executed"} - _GROUPS - (frozenset() if tally.grouped() else _BY_MODE)
        rows = groups + [(seq, kind, version, payload) for seq, _ts, kind, version, _c, payload, _h
                         in reader.rows(kinds=sorted(kinds), until_seq=until, columns=ROW_COLUMNS)]  # fmt: skip
        rows += _cited_fills(reader, until if until is not None else 2**62)
        tally = MarketTally()
        for seq, kind, version, payload in sorted(rows):
            tally.row(seq, kind, version, payload, reader.decode)
    return tally
