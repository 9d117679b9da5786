"""One source's reading: what a venue, node or publisher reports when it samples its reference.

Pure: the shell draws the source's noise from the source's own generator and reads the
reference price from the state; `read_source` turns them into the reading, or none. A
reading's status is the simulator's ground truth for analysis (`ok`, `frozen`,
`dislocated`); no aggregation looks at it. Also here: which readings a batch that reaches
the oracle late still brings (not overtaken), and the sources' random outage windows.
Sources: docs/references.md [synthetix-skrw-2019] (outages), [compound-dai-2020]
(dislocations).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, Protocol

import numpy as np

from clearing.core.oracle.params import SourceSpec, Window
from clearing.units import PPM

OK: Final = "ok"
FROZEN: Final = "frozen"
DISLOCATED: Final = "dislocated"

SourceReading = tuple[int, int, str]
"""One reading: price ticks, confidence ticks, status."""


class HeldReading(Protocol):
    """A source's latest reading as the oracle holds it (the state's `Observation`)."""

    @property
    def price(self) -> int:
        """The reading's price, ticks."""
        ...

    @property
    def confidence(self) -> int:
        """The reading's confidence, ticks."""
        ...

    @property
    def source_ns(self) -> int:
        """When the source took the reading, ns."""
        ...


def in_windows(windows: Sequence[Window], now_ns: int) -> bool:
    """Return whether now falls in [start, end) of any window."""
    for start, end in windows:  # noqa: SIM110 - a loop, not any() of a generator: this runs for every reading
        if start <= now_ns < end:
            return True
    return False


def dislocation_offset(dislocations: Sequence[tuple[int, int, float]], now_ns: int) -> float:
    """Return the offset of the first dislocation window [start, end) holding now, else 0."""
    for start, end, offset in dislocations:
        if start <= now_ns < end:
            return offset
    return 0.0


def read_source(spec: SourceSpec, reference_ticks: int, last_ticks: int, now_ns: int, noise: float) -> SourceReading | None:
    """Return the source's reading now, or None (an outage, or no reference price yet).

    In an outage window there is no reading. In a frozen window, once the source has read
    once, it repeats its last price (`last_ticks`). Otherwise the price is
    max(1, round(reference x (1 + offset) x (1 + noise_ppm / 10^6 x Z))), with the offset of
    a dislocation window holding now (status `dislocated`, else `ok`) and Z = `noise`, a
    standard normal draw. The confidence is ceil(round(price x confidence_ppm) / 10^6).
    """
    if reference_ticks <= 0 or in_windows(spec.outages, now_ns):
        return None
    if last_ticks and in_windows(spec.frozen, now_ns):
        price, status = last_ticks, FROZEN
    else:
        offset = dislocation_offset(spec.dislocations, now_ns)
        price = max(1, round(reference_ticks * (1.0 + offset) * (1.0 + spec.noise_ppm / PPM * noise)))
        status = DISLOCATED if offset else OK
    return price, -(-round(price * spec.confidence_ppm) // PPM), status


def fresh_readings(held: Sequence[HeldReading | None], sources: Sequence[int], taken_ns: int) -> list[int]:
    """Return the positions in `sources` whose reading taken at `taken_ns` is not overtaken.

    A reading is overtaken when the oracle already holds a later one of the same source
    (taken after `taken_ns`); it is dropped, not recorded.
    """
    fresh = []
    for k, source in enumerate(sources):
        o = held[source]
        if o is None or o.source_ns <= taken_ns:
            fresh.append(k)
    return fresh


def random_outages(rng: np.random.Generator, rate_per_hour: float, mean_s: float, horizon_ns: int) -> list[Window]:
    """Return [(start_ns, end_ns), ...] of outages starting as a Poisson process over the horizon.

    Gaps between outage starts are exponential with mean 1 / rate; durations exponential
    with mean `mean_s`. Draws alternate gap, duration until the horizon is passed.
    """
    windows: list[Window] = []
    if rate_per_hour <= 0:
        return windows
    t = 0.0
    while True:
        t += rng.exponential(3600.0 / rate_per_hour) * 1e9
        duration = rng.exponential(mean_s) * 1e9
        if t >= horizon_ns:
            return windows
        windows.append((round(t), round(t + duration)))
