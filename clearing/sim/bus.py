"""The event bus: the single write path of a run.

`emit` encodes an event to its canonical bytes, decodes them back (so the live run applies
exactly what a replay will read, and a wrong type fails here rather than in a replay),
applies it to the state, and appends it to the sink. It returns the event's seq. The sinks
(`clearing.log.writer`: a SQLite log, rows in memory, or the hash chain alone) are the
log's; the shell knows them only as a `Sink`.
"""

from __future__ import annotations

from typing import Protocol

from clearing import events as ev
from clearing.core.state import ClearingState, apply


class Sink(Protocol):
    """Where the bus appends rows: returns each row's seq."""

    def append(self, kind: str, version: int, ts_ns: int, causes: tuple[int, ...], payload: bytes) -> int:
        """Append one event row and return its seq."""
        ...

    @property
    def head_hash(self) -> bytes:
        """Return the hash of the last row (the genesis hash before any row)."""
        ...


_encode = ev.ENCODER.encode
_decode = ev.DECODER.decode
_META = {t: (kind, ev.VERSIONS[kind]) for t, kind in ev.KIND_OF.items()}


class EventBus:
    """Owns the state of one run and the sink its events go to."""

    def __init__(self, state: ClearingState, sink: Sink) -> None:
        self.state = state
        self.sink = sink

    def emit(self, event: ev.Event) -> int:
        """Validate, apply and append one event; return its seq."""
        payload = _encode(event)
        checked: ev.Event = _decode(payload)
        apply(self.state, checked)
        kind, version = _META[type(checked)]
        return self.sink.append(kind, version, checked.ts_ns, checked.causes, payload)
