"""Progress of a long read: the callback the command line's bar gives, found by whoever walks a log.

`reporting(update)` sets it for the block; the walks (`clearing.apps.fold.fold_log`,
`clearing.log.verify.verify_log`) call `update(rows done, rows in the log)` every `EVERY`
rows and at the end. Set by the command line only: the library's callers get no output.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

Update = Callable[[int, int], None]
EVERY = 1 << 16  # rows between two updates (a power of two: `seq & (EVERY - 1)` in the hot loops)
READ_PROGRESS: ContextVar[Update | None] = ContextVar("clearing_read_progress", default=None)


@contextmanager
def reporting(update: Update | None) -> Iterator[None]:
    """Make the walks of logs inside the block report to `update` (None: no report)."""
    token = READ_PROGRESS.set(update)
    try:
        yield
    finally:
        READ_PROGRESS.reset(token)
