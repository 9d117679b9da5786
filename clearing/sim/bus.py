"""The event bus: the single write path of a run.

`emit` encodes an event to its canonical bytes, decodes them back (so the live run applies
exactly what a replay will read, and a wrong type fails here rather than in a replay),
applies it to the state, and appends it to the sink. It returns the event's seq. The sinks
(`clearing.log.writer`: a SQLite log, rows in memory, or the hash chain alone) are the
log's; the shell knows them only as a `Sink`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from clearing import events as ev
from clearing.core.state import DIGEST_VERSION, ClearingState, apply
from clearing.core.state import snapshot as snapshots


class Sink(Protocol):
    """Where the bus appends rows: returns each row's seq."""

    def append(self, kind: str, version: int, ts_ns: int, causes: tuple[int, ...], payload: bytes) -> int:
        """Append one event row and return its seq."""
        ...

    @property
    def head_hash(self) -> bytes:
        """Return the hash of the last row (the genesis hash before any row)."""
        ...

    def checkpointed(self, ts_ns: int, digest: str, snapshot: Callable[[int], tuple[int, bytes]]) -> None:
        """Before a checkpoint is appended: `snapshot(seq)` returns the state's snapshot (format, bytes), the one at the
        checkpoint's seq, if the sink keeps one (a sink keeps every one it asks for: a later one may be a delta of it)."""
        ...


_encode = ev.ENCODER.encode
_decode = ev.DECODER.decode
_META = {t: (kind, ev.VERSIONS[kind]) for t, kind in ev.KIND_OF.items()}


class EventBus:
    """Owns the state of one run and the sink its events go to."""

    def __init__(self, state: ClearingState, sink: Sink) -> None:
        self.state = state
        self.sink = sink
        self._snapshots = snapshots.Encoder()

    def emit(self, event: ev.Event) -> int:
        """Validate, apply and append one event; return its seq."""
        payload = _encode(event)
        checked: ev.Event = _decode(payload)
        apply(self.state, checked)
        kind, version = _META[type(checked)]
        return self.sink.append(kind, version, checked.ts_ns, checked.causes, payload)

    def checkpoint(self, ts_ns: int, *, final: bool = False) -> str:
        """Emit a checkpoint of the state's digest at `ts_ns` (offering the sink a snapshot first); return the digest."""
        digest = self.state.digest()
        if not final:  # a snapshot at the end would serve no time before it
            self.sink.checkpointed(ts_ns, digest, self._snapshot)
        self.emit(ev.CheckpointRecorded(ts_ns=ts_ns, digest=digest, digest_version=DIGEST_VERSION, final=final))
        return digest

    def _snapshot(self, seq: int) -> tuple[int, bytes]:
        return self._snapshots.dump(self.state, seq)
