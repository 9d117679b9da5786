"""The event bus: the single write path of a run.

`emit` encodes an event to its canonical bytes, decodes them back (so the live run applies
exactly what a replay will read, and a wrong type fails here rather than in a replay),
applies it to the state, and appends it to the sink. It returns the event's seq.
"""

from __future__ import annotations

from clearing import events as ev
from clearing.log.writer import Sink
from clearing.state import ClearingState, apply

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
