"""The command line: `clearing ...` (one module per group of commands)."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Sequence
from types import FrameType

import clearing


def _stop_at_start(signum: int, frame: FrameType | None) -> None:
    # Ctrl-C or SIGTERM while the program is still loading: nothing has been done or written, leave quietly.
    os._exit(130)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit code (`clearing.cli.app.main`).

    Until the program has loaded and read its arguments, SIGINT and SIGTERM end it at once with
    exit code 130 and no traceback (nothing has been read or written yet); then the commands' own
    handling applies (SIGINT and SIGTERM raise KeyboardInterrupt; a run defers them, decision 0023).
    """
    if threading.current_thread() is not threading.main_thread():
        from clearing.cli.app import main as run_in_thread

        return run_in_thread(argv)
    previous = {s: signal.signal(s, _stop_at_start) for s in (signal.SIGINT, signal.SIGTERM)}
    previous.update(clearing._SIGNALS_AT_START)  # the handlers from before `python -m clearing` loaded the package
    from clearing.cli.app import main as run
    from clearing.cli.app import on_interrupt

    def loaded() -> None:
        default = previous[signal.SIGINT] is signal.default_int_handler
        signal.signal(signal.SIGINT, on_interrupt if default else previous[signal.SIGINT])
        signal.signal(signal.SIGTERM, on_interrupt)

    try:
        return run(argv, loaded)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


__all__ = ["main"]
