"""The base of every event kind: when it happened and which events caused it.

Events encode as JSON arrays (`array_like`): the kind's tag, `ts_ns`, `causes`, then the kind's own
fields in declared order. Logs of layout 7 on store the part after `causes` as the payload and the
rest in their columns (decision 0031); older logs hold JSON objects (`clearing.events.codec.decode_object`).
"""

from __future__ import annotations

from typing import ClassVar

import msgspec


class Event(msgspec.Struct, frozen=True, kw_only=True, tag_field="kind", array_like=True):
    """Fields every event has: when it happened and which events caused it."""

    VERSION: ClassVar[int] = 1
    ts_ns: int
    causes: tuple[int, ...] = ()
