"""The checkpointer: records a digest of the full state every interval of simulated time (and lets the log snapshot it)."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import simpy

from clearing.sim.bus import EventBus
from clearing.sim.clock import Clock


def checkpoint_process(env: Clock, bus: EventBus, interval_ns: int) -> Generator[simpy.Event, Any, None]:
    """Emit `checkpoint_recorded` every `interval_ns` (the final one is the world's)."""
    while True:
        yield env.timeout(interval_ns)
        bus.checkpoint(env.now)
