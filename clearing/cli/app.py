"""The `clearing` command line: the parser of every command group, logging, exit codes.

The only place that configures logging and turns errors into exit codes: 0 success,
1 failed verification, 2 bad input, 3 internal invariant violation, 130 interrupted.
Every error is one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType

import structlog

from clearing import __version__
from clearing.cli.common import Parser
from clearing.cli.data import add_data_commands
from clearing.cli.export import add_export_commands
from clearing.cli.fork import add_fork_commands
from clearing.cli.logs import add_log_commands
from clearing.cli.margin import add_margin_commands
from clearing.cli.optimise import add_optimise_commands
from clearing.cli.sweep import add_sweep_commands
from clearing.cli.validate import add_validate_commands
from clearing.data.directory import ALLOW_PATH_ENV
from clearing.errors import ClearingError


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of every subcommand."""
    parser = Parser(prog="clearing", description="Event-sourced clearing and liquidation simulator.")
    parser.add_argument("--version", action="version", version=f"clearing {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    parser.add_argument(
        "--data-dir", help="where scenarios' data files are looked for first (then $CLEARING_DATA_DIR, then ./data)"
    )
    parser.add_argument(
        "--allow-path", action="append", metavar="DIR",
        help="also read data files named by path inside DIR (repeatable; data files are otherwise read only from the "
        "data directories)",
    )  # fmt: skip
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    add_log_commands(sub)
    add_export_commands(sub)
    add_data_commands(sub)
    add_fork_commands(sub)
    add_sweep_commands(sub)
    add_validate_commands(sub)
    add_margin_commands(sub)
    add_optimise_commands(sub)
    return parser


def _configure_logging(verbose: bool) -> None:
    import logging

    structlog.configure(
        processors=[structlog.processors.add_log_level, structlog.dev.ConsoleRenderer(colors=False)],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO if verbose else logging.WARNING),
        logger_factory=lambda *_: structlog.PrintLogger(sys.stderr),  # the stderr of the moment, not of configure time
        cache_logger_on_first_use=True,
    )


def on_sigterm(signum: int, frame: FrameType | None) -> None:
    """Turn SIGTERM into KeyboardInterrupt: a command stopped by either ends the same way."""
    raise KeyboardInterrupt


def _interrupted(e: BaseException) -> bool:
    # Whether `e` was caused by a KeyboardInterrupt (Python wraps one raised inside some hooks).
    seen: set[int] = set()
    cause: BaseException | None = e
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, KeyboardInterrupt):
            return True
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return False


def main(argv: Sequence[str] | None = None, loaded: Callable[[], None] | None = None) -> int:
    """Run the command line and return its exit code.

    `loaded()` is called once the arguments are read (the parser imports most of the program):
    `clearing.cli.main` installs the commands' signal handling there, in place of its quiet exit.
    """
    try:  # an interrupt while the arguments are read: nothing was done
        args = build_parser().parse_args(argv)
    except KeyboardInterrupt:
        print("clearing: interrupted", file=sys.stderr)
        return 130
    if loaded is not None:
        loaded()
    _configure_logging(args.verbose)
    allowed = os.environ.get(ALLOW_PATH_ENV)
    if args.allow_path:  # in the environment (for this command only), so that worker processes read the same files
        before = [p for p in (allowed or "").split(os.pathsep) if p]
        os.environ[ALLOW_PATH_ENV] = os.pathsep.join([*(str(Path(p).resolve()) for p in args.allow_path), *before])
    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        return int(args.func(args))
    except ClearingError as e:
        print(f"clearing: {'verification failed' if e.exit_code == 1 else 'error'}: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("clearing: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`clearing events ... | head`): not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as e:  # a bug: one line unless -v asks for the traceback
        if _interrupted(e):  # an interrupt that surfaced wrapped (in a class's __set_name__, say)
            print("clearing: interrupted", file=sys.stderr)
            return 130
        if args.verbose:
            raise
        print(f"clearing: internal error (please report; -v shows the traceback): {type(e).__name__}: {e}", file=sys.stderr)
        return 3
    finally:
        signal.signal(signal.SIGTERM, previous)
        if args.allow_path:
            if allowed is None:
                os.environ.pop(ALLOW_PATH_ENV, None)
            else:
                os.environ[ALLOW_PATH_ENV] = allowed
