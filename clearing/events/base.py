"""The base of every event kind: when it happened and which events caused it."""

from __future__ import annotations

from typing import ClassVar

import msgspec


class Event(msgspec.Struct, frozen=True, kw_only=True, tag_field="kind"):
    """Fields every event has: when it happened and which events caused it."""

    VERSION: ClassVar[int] = 1
    ts_ns: int
    causes: tuple[int, ...] = ()
