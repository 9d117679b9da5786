"""The one exception tree of `clearing`.

Business outcomes (a margin breach, an insurance shortfall) are events, never exceptions.
An exception means bad input (exit code 2), a failed verification (exit code 1) or a bug.
"""

from __future__ import annotations


class ClearingError(Exception):
    """Root of every error `clearing` raises on purpose."""

    exit_code = 2


class ConfigError(ClearingError):
    """A scenario, an override or a command-line value is malformed."""


class DataError(ClearingError):
    """An input data file is missing or unreadable."""


class EventLogError(ClearingError):
    """A file is not an event log this version can read."""


class SchemaVersionError(EventLogError):
    """A log was written by a newer schema than this version reads."""


class OutputExistsError(ClearingError):
    """A run would overwrite an existing log."""


class VerificationError(ClearingError):
    """A log failed verification: broken hash chain, tampered row or diverging replay."""

    exit_code = 1

    def __init__(self, message: str, seq: int | None = None) -> None:
        super().__init__(message)
        self.seq = seq


class ReplayDivergenceError(VerificationError):
    """A replayed state does not match a checkpoint digest recorded by the live run."""


class InvariantViolation(ClearingError):  # noqa: N818 - signals a bug; docs/references.md [style-guide]
    """A conservation law does not hold: this is a bug, never bad input."""

    exit_code = 3
