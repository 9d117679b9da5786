"""The `clearing` command line: the parser of every command group, logging, exit codes.

The only place that configures logging and turns errors into exit codes: 0 success,
1 failed verification, 2 bad input, 3 internal invariant violation, 130 interrupted.
Every error is one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

import structlog

from clearing import __version__
from clearing.apps import INTERRUPT_NOTED
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
    parser.add_argument("--log-format", choices=("text", "json"), default="text",
                        help="the stderr log's format: text, or one JSON object per line (default text)")
    parser.add_argument("--log-file", metavar="FILE",
                        help="also append the log, as JSON lines at level info, to FILE (runs, sweeps: run ids, timings)")
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
    completion = sub.add_parser("completion", help="print the shell completion script (bash, zsh or tcsh)")
    completion.add_argument("shell", choices=("bash", "zsh", "tcsh"))
    completion.set_defaults(func=cmd_completion)
    _share_global_options(parser)
    return parser


def _share_global_options(parser: argparse.ArgumentParser) -> None:
    # -v, --data-dir and --allow-path are accepted after the subcommand too (`clearing run X --data-dir D -v`): each
    # subcommand's parser gets them with no default, so they are set only when given there (and then win).
    seen: set[int] = set()
    for action in parser._actions:
        if not isinstance(action, argparse._SubParsersAction):
            continue
        for sub in action.choices.values():
            if id(sub) in seen:
                continue
            seen.add(id(sub))
            options = {o for a in sub._actions for o in a.option_strings}
            if "--verbose" not in options:
                sub.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
            if "--data-dir" not in options:
                sub.add_argument("--data-dir", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
            if "--log-format" not in options:
                sub.add_argument("--log-format", choices=("text", "json"), default=argparse.SUPPRESS, help=argparse.SUPPRESS)
            if "--log-file" not in options:
                sub.add_argument("--log-file", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
            if "--allow-path" not in options:
                sub.add_argument("--allow-path", action="append", dest="sub_allow_path", default=argparse.SUPPRESS,
                                 metavar="DIR", help=argparse.SUPPRESS)  # fmt: skip
            _share_global_options(sub)


def cmd_completion(args: argparse.Namespace) -> int:
    """Print a completion script: `eval "$(clearing completion bash)"`, or save it where the shell looks."""
    import shtab

    print(shtab.complete(build_parser(), shell=args.shell))
    return 0


class _Tee:
    """A structlog logger writing each line to stderr (at its level and format) and to a JSON-lines file."""

    def __init__(self, stderr_level: int, json_stderr: bool, file: Any) -> None:
        self.stderr_level, self.json_stderr, self.file = stderr_level, json_stderr, file

    def msg(self, **fields: Any) -> None:
        message = {k: fields[k] for k in ("timestamp", "level", "event") if k in fields} | fields  # those three first
        level = _LEVELS.get(message.get("level", "info"), 20)
        if level >= self.stderr_level:
            text = json.dumps(message, default=str) if self.json_stderr else _console(message)
            print(text, file=sys.stderr)
        if self.file is not None:
            self.file.write(json.dumps(message, default=str) + "\n")
            self.file.flush()

    debug = info = warning = warn = error = critical = exception = fatal = msg


_LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50}


def _console(message: dict[str, Any]) -> str:
    fields = {k: v for k, v in message.items() if k not in ("event", "level", "timestamp")}
    return f"[{message.get('level', 'info'):<7}] {message.get('event', '')} " + " ".join(f"{k}={v}" for k, v in fields.items())


def _configure_logging(verbose: bool, log_format: str = "text", log_file: Any = None) -> None:
    """Configure structlog: warnings (info with -v) to stderr as text or JSON, and everything from info to `log_file`.

    Records are dicts (event, level, UTC timestamp and fields such as run_id); they never reach an event log.
    """
    import logging

    stderr_level = logging.INFO if verbose else logging.WARNING
    structlog.configure(
        processors=[structlog.processors.add_log_level, structlog.processors.TimeStamper(fmt="iso", utc=True)],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO if log_file is not None else stderr_level),
        logger_factory=lambda *_: _Tee(stderr_level, log_format == "json", log_file),
        cache_logger_on_first_use=False,  # the stderr of the moment, not of configure time
    )


def on_interrupt(signum: int, frame: FrameType | None) -> None:
    """Note SIGINT or SIGTERM and raise KeyboardInterrupt: a command stopped by either ends the same way, and a run
    that has not begun stops at its first step should the exception be lost (`INTERRUPT_NOTED`)."""
    INTERRUPT_NOTED.set()
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
    INTERRUPT_NOTED.clear()
    try:  # an interrupt while the arguments are read: nothing was done
        args = build_parser().parse_args(argv)
    except KeyboardInterrupt:
        print("clearing: interrupted", file=sys.stderr)
        return 130
    if loaded is not None:
        loaded()
    args.allow_path = [*(args.allow_path or []), *getattr(args, "sub_allow_path", [])]
    try:
        log_file = open(args.log_file, "a", encoding="utf-8") if args.log_file else None  # noqa: SIM115 (closed below)
    except OSError as e:
        print(f"clearing: error: --log-file {args.log_file}: cannot write ({e.strerror or e})", file=sys.stderr)
        return 2
    _configure_logging(args.verbose, args.log_format, log_file)
    allowed = os.environ.get(ALLOW_PATH_ENV)
    if args.allow_path:  # in the environment (for this command only), so that worker processes read the same files
        before = [p for p in (allowed or "").split(os.pathsep) if p]
        os.environ[ALLOW_PATH_ENV] = os.pathsep.join([*(str(Path(p).resolve()) for p in args.allow_path), *before])
    previous = signal.signal(signal.SIGTERM, on_interrupt)
    try:
        return int(args.func(args))
    except ClearingError as e:  # one line, whatever it quotes (SQLite's messages quote a schema's lines)
        message = " ".join(str(e).split())
        print(f"clearing: {'verification failed' if e.exit_code == 1 else 'error'}: {message}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("clearing: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`clearing events ... | head`): not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as e:  # a bug: one line unless -v asks for the traceback
        if _interrupted(e) or INTERRUPT_NOTED.is_set():  # an interrupt that surfaced wrapped (pydantic's SchemaError)
            print("clearing: interrupted", file=sys.stderr)
            return 130
        if args.verbose:
            raise
        print(f"clearing: internal error (please report; -v shows the traceback): {type(e).__name__}: {e}", file=sys.stderr)
        return 3
    finally:
        signal.signal(signal.SIGTERM, previous)
        if log_file is not None:
            log_file.close()
            _configure_logging(False)
        if args.allow_path:
            if allowed is None:
                os.environ.pop(ALLOW_PATH_ENV, None)
            else:
                os.environ[ALLOW_PATH_ENV] = allowed
