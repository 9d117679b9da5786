"""The checkpointer: records a digest of the full state every interval of simulated time."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import simpy

from clearing import events as ev
from clearing.core.state import DIGEST_VERSION
from clearing.sim.bus import EventBus
from clearing.sim.clock import Clock


def checkpoint_process(env: Clock, bus: EventBus, interval_ns: int) -> Generator[simpy.Event, Any, None]:
    """Emit `checkpoint_recorded` every `interval_ns` (the final one is the world's)."""
    while True:
        yield env.timeout(interval_ns)
        bus.emit(ev.CheckpointRecorded(ts_ns=env.now, digest=bus.state.digest(), digest_version=DIGEST_VERSION, final=False))
