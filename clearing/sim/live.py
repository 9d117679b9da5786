"""The run's parameters as they stand: the one place every process reads them from.

A run holds one `RunParams` (`clearing.scenario.params.compile_params`). A forked run
holds a second set, compiled from the changed scenario, and `fork_process` swaps the whole
set at the fork's time. Parameters are not state: the swap writes no event, and a replay
does not need it (decision 0013).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import simpy

from clearing.scenario.params import RunParams
from clearing.sim.clock import Clock


class Live:
    """Holds the parameters in force; processes read `live.params` at each use, never keep a copy."""

    __slots__ = ("params",)

    def __init__(self, params: RunParams) -> None:
        self.params = params


def fork_process(env: Clock, live: Live, after: RunParams) -> Generator[simpy.Event, Any, None]:
    """At the fork's time (`live.params.fork_at_ns`), put the changed scenario's parameters in force."""
    yield env.timeout(live.params.fork_at_ns)
    live.params = after
