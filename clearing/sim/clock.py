"""The simulation's environment: SimPy's, with time typed as what it is here, integer ns."""

from __future__ import annotations

import simpy


class Clock(simpy.Environment):
    """A `simpy.Environment` whose time is integer nanoseconds since the scenario start.

    Every timeout in the model is an int, so `now` stays an int; this says so to the type
    checker (SimPy types it `int | float`) without a cast at each of its uses.
    """

    @property
    def now(self) -> int:
        """The current simulated time, ns."""
        return self._now  # type: ignore[return-value]
