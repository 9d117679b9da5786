"""What every command shares: times, seeds, summaries, progress bars, output files, the parser class."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn

from clearing.errors import ConfigError
from clearing.units import NS_PER_S

MAX_TIME_NS = 30 * 86_400 * NS_PER_S  # no run is longer (scenario duration_s <= 30 days)


def parse_time(text: str, epoch: datetime) -> int:
    """Return TIME (seconds from the start, or an ISO-8601 UTC time) as ns since `epoch`.

    Raises:
        ConfigError: the text is neither, or the time is before the start.
    """
    try:
        seconds = float(text)
    except ValueError:
        ns = _iso_ns(text, epoch)
    else:
        if seconds != seconds or seconds in (float("inf"), float("-inf")):
            raise ConfigError(f"time {text!r}: not a finite number of seconds")
        ns = round(min(max(seconds, -1.0), MAX_TIME_NS / NS_PER_S + 1.0) * NS_PER_S)  # bounded before the float grows
    if ns < 0:
        raise ConfigError(f"time {text!r} is before the run's start ({epoch.isoformat()})")
    if ns > MAX_TIME_NS:
        raise ConfigError(f"time {text!r} is more than 30 days after the run's start ({epoch.isoformat()})")
    return ns


def _iso_ns(text: str, epoch: datetime) -> int:
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"time {text!r}: expected seconds from start or an ISO-8601 UTC time") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    if when.utcoffset() != timedelta(0):
        raise ConfigError(f"time {text!r}: give the time in UTC (Z or +00:00)")
    delta = when - epoch
    return (delta.days * 86_400 + delta.seconds) * NS_PER_S + delta.microseconds * 1000


def print_summary(summary: Any, as_json: bool, extra: dict[str, Any] | None = None) -> None:
    """Print a run summary as text or one JSON object, with extra fields after it."""
    from clearing.apps.summary import render_text

    if as_json:
        print(json.dumps({**summary.as_dict(), **(extra or {})}))
    else:
        print(render_text(summary))
        for key, value in (extra or {}).items():
            print(f"{key}: {value}")


@contextmanager
def progress_bar(mode: str, name: str, text: Callable[[int, int], str]) -> Iterator[Callable[[int, int], None] | None]:
    """Yield `update(done, total)` drawing a rich bar on stderr (`text(done, total)`, elapsed, ETA), or None.

    "auto" shows it on a terminal. It starts at the first update, so that an input error
    comes alone, and from what was done by then (runs a resumed sweep skips are not in the ETA).
    """
    if mode == "never" or (mode == "auto" and not sys.stderr.isatty()):
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    bar = Progress(
        TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[text]}"), TimeElapsedColumn(),
        TextColumn("eta"), TimeRemainingColumn(), console=Console(stderr=True),
    )  # fmt: skip
    task = bar.add_task(name, total=None, text="")

    def update(done: int, total: int) -> None:
        if not bar.live.is_started:
            bar.reset(task, total=total, completed=done, text=text(done, total))
            bar.start()
        else:
            bar.update(task, total=total, completed=done, text=text(done, total))

    try:
        yield update
    finally:
        if bar.live.is_started:
            bar.stop()


@contextmanager
def reading(mode: str, name: str) -> Iterator[None]:
    """A progress bar (`--progress`) over the log walks inside the block: rows read of the log's rows."""
    from clearing.log.progress import reporting

    with progress_bar(mode, name, lambda done, total: f"{done:,} / {total:,} events") as update, reporting(update):
        yield


def sim_seconds(now_ns: int, end_ns: int) -> str:
    """Return the progress text of a run: simulated seconds done of the total."""
    return f"{now_ns // NS_PER_S:,} / {end_ns // NS_PER_S:,} sim s"


def add_progress_argument(parser: argparse.ArgumentParser) -> None:
    """Add `--progress auto|always|never` (a rich bar on stderr; auto: on a terminal) to a subcommand."""
    parser.add_argument(
        "--progress", choices=("auto", "always", "never"), default="auto",
        help="a progress bar on stderr: on a terminal (auto), always or never",
    )  # fmt: skip


def seed(text: str) -> int:
    """Parse a run seed: a whole number from 0 to 2**63 - 1 (an argparse type)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, was {text!r}") from None
    if not 0 <= value < 2**63:
        raise argparse.ArgumentTypeError(f"expected 0 <= seed < 2**63, was {value}")
    return value


def count(text: str) -> int:
    """Parse a count: a whole number from 0 to 2**62 (an argparse type)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, was {text!r}") from None
    if not 0 <= value <= 2**62:
        raise argparse.ArgumentTypeError(f"expected 0 <= count <= 2**62, was {value}")
    return value


class Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line, exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def guard_output(path: Path, option: str, overwrite: bool, reads: Sequence[Path | str] = ()) -> None:
    """Refuse to write `path` over a file the command reads, over an event log, or (without --overwrite) over anything.

    Raises:
        ConfigError: one line naming the option and why.
    """
    for source in reads:
        if _same_file(path, Path(source)):
            raise ConfigError(f"{option} {path}: that is {source}, which this command reads; choose another path")
    if path.is_dir():
        raise ConfigError(f"{option} {path}: is a directory")
    if path.exists():
        with path.open("rb") as f:
            if f.read(16) == b"SQLite format 3\x00":
                raise ConfigError(f"{option} {path}: is an SQLite database (an event log?); it is never written over")
        if not overwrite:
            raise ConfigError(f"{option} {path}: exists; pass --overwrite to replace it")


def _same_file(a: Path, b: Path) -> bool:
    try:
        return (a.exists() and b.exists() and os.path.samefile(a, b)) or a.resolve() == b.resolve()
    except OSError:
        return False


def write_atomically(path: Path, write: Callable[[Path], Any], option: str) -> Any:
    """Write an output file through `write(partial)` and rename it into place; return what `write` returns.

    A file half written never looks finished: the partial file sits beside the target
    and is removed whatever happens.

    Raises:
        ConfigError: no such directory, or the file cannot be written (names the `option`).
    """
    if not path.parent.is_dir():
        raise ConfigError(f"{option} {path}: no such directory {path.parent}")
    partial = path.with_name(path.name + ".partial")
    try:
        result = write(partial)
        partial.replace(path)
    except OSError as e:
        raise ConfigError(f"{option} {path}: cannot write ({e.strerror or e})") from None
    finally:
        partial.unlink(missing_ok=True)
    return result
