"""The simulation's environment: SimPy's, with time typed as what it is here, integer ns, and a run that stops
between two steps when asked."""

from __future__ import annotations

from collections.abc import Callable

import simpy
from simpy.core import URGENT


class Clock(simpy.Environment):
    """A `simpy.Environment` whose time is integer nanoseconds since the scenario start.

    Every timeout in the model is an int, so `now` stays an int; this says so to the type
    checker (SimPy types it `int | float`) without a cast at each of its uses.
    """

    @property
    def now(self) -> int:
        """The current simulated time, ns."""
        return self._now  # type: ignore[return-value]

    def run_until(self, until: int, stopped: Callable[[], bool]) -> None:
        """Process events up to (not including) time `until`, as `run(until=...)` does; raise KeyboardInterrupt
        between two steps once `stopped()` is true.

        The stop event is `run`'s own (an URGENT event at `until`, so the events of time `until`
        stay for later), so the order of events is the same byte for byte; only the check between
        steps is added. An interrupt is never raised inside a process: SimPy would turn it into
        that process's failure and let the others run on.
        """
        at = simpy.Event(self)
        at._ok = True  # as Environment.run builds its stop event
        at._value = None
        self.schedule(at, URGENT, until - self._now)
        step = self.step
        while at.callbacks is not None:
            if stopped():
                raise KeyboardInterrupt
            step()
