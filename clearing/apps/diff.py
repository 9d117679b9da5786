"""Compare two logs: where their events first differ, every summary metric of both, the scenario keys that changed.

`diff_logs(a, b)` replays A (`clearing.apps.replay.fold`: hash chain, checks, summary), then
replays B with a `FirstDivergence` observer that reads A's rows in step with B's and compares
each pair of events as decoded (and upcast): time, kind, causes and every field. Hashes are
not compared: two runs with different run ids chain from different genesis hashes
(decision 0003) even when every event is the same.
"""

from __future__ import annotations

import json
from collections.abc import Generator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, cast

from clearing import events as ev
from clearing.apps.fold import Folded, Observer, fold_log
from clearing.apps.replay import ReplayResult, fold
from clearing.core.state import ClearingState
from clearing.errors import VerificationError
from clearing.log.reader import REPLAY_COLUMNS, EventLogReader


@dataclass
class Divergence:
    """The first seq where two logs' events differ (time, kind, causes or any field)."""

    seq: int
    ts_ns: int
    a: tuple[str, str] | None  # (kind, payload), None past the end of the log
    b: tuple[str, str] | None


class FirstDivergence(Observer):
    """Watches a fold of log B for the first event that differs from log A's of the same seq.

    A's rows are read in step, decoded the way the fold decodes; A is expected to have
    been folded (and so chain-checked) already, as `diff_logs` and `first_divergence` do.
    """

    needs_state = False

    def __init__(self, a: Path | str) -> None:
        self.a = Path(a)
        self.reader = EventLogReader(self.a)
        self.rows = cast(Generator[Any, None, None], self.reader.rows(columns=REPLAY_COLUMNS))
        self.seq: int | None = None  # the first seq that differs

    def event(self, seq: int, kind: str, event: ev.Event, state: ClearingState) -> None:
        """Compare B's event with A's of the same seq (until the first difference)."""
        if self.seq is not None:
            return
        theirs = next(self.rows, None)
        if theirs is None or theirs[1] != kind or _decoded(self.reader, theirs) != event:
            self.seq = seq

    def end(self, folded: Folded) -> None:
        """Past B's end: A's next row, if any, is the divergence."""
        if self.seq is None and next(self.rows, None) is not None:
            self.seq = folded.events + 1

    def close(self) -> None:
        """Close A's reader."""
        self.rows.close()
        self.reader.close()

    def divergence(self, b: Path | str) -> Divergence | None:
        """Return the divergence found (None: the same events), with both rows at its seq."""
        if self.seq is None:
            return None
        row_a = _row(self.reader, self.seq)
        with EventLogReader(b) as reader:
            row_b = _row(reader, self.seq)
        ts = min(r[0] for r in (row_a, row_b) if r is not None)
        return Divergence(self.seq, ts, row_a and (row_a[1], row_a[2]), row_b and (row_b[1], row_b[2]))


def _decoded(reader: EventLogReader, row: tuple[int, str, int, str, bytes]) -> ev.Event:
    seq, kind, version, payload, _hash = row
    try:
        return reader.decode(payload, kind, version)
    except (ValueError, TypeError) as e:
        raise VerificationError(f"{reader.path}: seq {seq}: undecodable payload ({e})", seq) from None


def _row(reader: EventLogReader, seq: int) -> tuple[int, str, str] | None:
    # (ts_ns, kind, the event as a JSON object: fields by name) of one row, None past the end.
    for _seq, ts, kind, version, _causes, payload, _hash in list(reader.rows(since_seq=seq, until_seq=seq)):
        try:
            return ts, kind, ev.encode_object(reader.decode(payload, kind, version)).decode()
        except (ValueError, TypeError):  # shown as stored
            return ts, kind, payload
    return None


def first_divergence(a: Path | str, b: Path | str) -> Divergence | None:
    """Return where the events of logs `a` and `b` first differ (None: the same events).

    Both logs are chain-checked on the way (nothing is applied).

    Raises:
        clearing.errors.EventLogError: either file is not a readable event log.
        VerificationError: either log's chain is broken.
    """
    fold_log(a, apply_events=False)
    watch = FirstDivergence(a)
    try:
        fold_log(b, (watch,), apply_events=False)
        return watch.divergence(b)
    finally:
        watch.close()


@dataclass
class LogDiff:
    """Two logs replayed and compared."""

    a: ReplayResult
    b: ReplayResult
    divergence: Divergence | None
    changes: dict[str, tuple[Any, Any]]  # dotted scenario key -> (A's value, B's value)
    metrics: dict[str, dict[str, Any]]  # summary field -> {"a", "b", "delta"} (every field but `markets`)
    markets: dict[str, dict[str, dict[str, Any]]]  # symbol -> that market's summary field -> {"a", "b", "delta"}


def diff_logs(a: Path | str, b: Path | str) -> LogDiff:
    """Replay both logs (with every replay check) and compare them: first divergence, scenario, metrics.

    Raises:
        clearing.errors.EventLogError: either file is not a readable event log.
        VerificationError, clearing.errors.ReplayDivergenceError: either log fails its replay.
    """
    for path in (a, b):
        EventLogReader(path).close()  # one-line errors for anything that is not a log, before any work
    replayed_a = fold(a)
    watch = FirstDivergence(a)
    try:
        replayed_b = fold(b, observers=(watch,))
        divergence = watch.divergence(b)
    finally:
        watch.close()
    da, db = replayed_a.summary.as_dict(), replayed_b.summary.as_dict()
    markets = market_metrics(da.pop("markets"), db.pop("markets"))
    metrics = {key: {"a": da[key], "b": db[key], "delta": metric_delta(da[key], db[key])} for key in da}
    changes = scenario_changes(replayed_a.header.scenario_json, replayed_b.header.scenario_json)
    return LogDiff(replayed_a, replayed_b, divergence, changes, metrics, markets)


def market_metrics(a: dict[str, dict[str, Any]], b: dict[str, dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """Return each market's summary fields in both logs by symbol, with B - A (None where a log has no such market).

    Prices and base quantities are decimals in the market's own ticks and lots, so their
    differences are exact decimals as the money's are.
    """
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for symbol in [*a, *(s for s in b if s not in a)]:
        ma, mb = a.get(symbol, {}), b.get(symbol, {})
        keys = [*ma, *(k for k in mb if k not in ma)]
        out[symbol] = {k: {"a": ma.get(k), "b": mb.get(k), "delta": _market_delta(k, ma.get(k), mb.get(k))} for k in keys}
    return out


def _market_delta(key: str, a: Any, b: Any) -> Any:
    # Every field of a market but its number is a number or a decimal string (or None: no price yet, no such market).
    if key == "market":
        return None
    if isinstance(a, str) and isinstance(b, str):
        try:
            return str(Decimal(b) - Decimal(a))
        except InvalidOperation:
            return None
    return metric_delta(a, b)


def metric_delta(a: Any, b: Any) -> Any:
    """Return b - a for numbers and decimal strings, None for anything else (or when equal text)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return None
    if isinstance(a, int) and isinstance(b, int):
        return b - a
    if isinstance(a, int | float) and isinstance(b, int | float):
        return b - a
    if isinstance(a, str) and isinstance(b, str):
        try:
            da, db = Decimal(a), Decimal(b)
        except InvalidOperation:
            return None
        if not (da.is_finite() and db.is_finite()) or "." not in a + b:
            return None  # hex digests and ids that happen to parse
        return str(db - da)
    return None


def scenario_changes(a: str, b: str) -> dict[str, tuple[Any, Any]]:
    """Return the dotted scenario keys whose values differ between two scenario JSON texts."""

    def flat(node: Any, prefix: str = "") -> dict[str, Any]:
        if isinstance(node, dict):
            return {k: v for key, value in node.items() for k, v in flat(value, f"{prefix}{key}.").items()}
        if isinstance(node, list) and node and any(isinstance(x, dict | list) for x in node):
            return {k: v for i, value in enumerate(node) for k, v in flat(value, f"{prefix}{i}.").items()}
        return {prefix[:-1]: node}

    fa, fb = flat(json.loads(a)), flat(json.loads(b))
    return {k: (fa.get(k), fb.get(k)) for k in sorted(fa.keys() | fb.keys()) if fa.get(k) != fb.get(k)}
