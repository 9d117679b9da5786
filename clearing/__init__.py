"""clearing: an event-sourced clearing and liquidation simulator for crypto derivatives.

The Python API, importable from the package root (loaded on first use, so that
`import clearing` stays cheap):

- `load_scenario(path, overrides)`: read and validate a scenario;
- `run_scenario(scenario, seed, out)`, `run_in_memory(scenario, seed)`: run it;
- `replay(path, until_ns)`: fold a log back into its state, checking it (`ReplayResult`);
- `fold_log(path, observers)` and `Observer`: walk a log, chain-checked, with views of your own;
- `verify_log(path)`: check a log's hash chain, schema and header;
- `EventLogReader(path)`: read a log's header and events;
- `open_log(path)` -> `Log`: any view, SQL query or the sampled state path as a pandas DataFrame
  with UTC times and exact decimal prices and money; `sweep_frame(dir)`: a sweep's results;
  `export_parquet(path, out)`: every view as Parquet (these need the `frames` extra).
"""

from __future__ import annotations

import signal as _signal
import sys as _sys


def _quiet_exit(signum: int, frame: object) -> None:
    # `python -m clearing` still loading its package: nothing read or written yet, leave at once (clearing.cli.main).
    import os

    os._exit(130)


# While `python -m` imports this package (argv[0] is "-m" until the module is found), SIGINT and SIGTERM end the
# program quietly; `clearing.cli.main` takes over and restores the handlers recorded here.
_SIGNALS_AT_START = (
    {s: _signal.signal(s, _quiet_exit) for s in (_signal.SIGINT, _signal.SIGTERM)} if _sys.argv[:1] == ["-m"] else {}
)

from importlib import import_module  # noqa: E402
from typing import Any  # noqa: E402

__version__ = "0.1.0"

_API = {
    "load_scenario": ("clearing.scenario", "load_scenario"),
    "run_scenario": ("clearing.apps.run", "run_scenario"),
    "run_in_memory": ("clearing.apps.run", "run_in_memory"),
    "replay": ("clearing.apps.replay", "fold"),
    "fold_log": ("clearing.apps.fold", "fold_log"),
    "Observer": ("clearing.apps.fold", "Observer"),
    "verify_log": ("clearing.log.verify", "verify_log"),
    "EventLogReader": ("clearing.log.reader", "EventLogReader"),
    "open_log": ("clearing.apps.frames", "open_log"),
    "Log": ("clearing.apps.frames", "Log"),
    "sweep_frame": ("clearing.apps.frames", "sweep_frame"),
    "export_parquet": ("clearing.apps.export", "export"),
}

__all__ = ["EventLogReader", "Log", "Observer", "__version__", "export_parquet", "fold_log", "load_scenario", "open_log",
           "replay", "run_in_memory", "run_scenario", "sweep_frame", "verify_log"]  # fmt: skip


def __getattr__(name: str) -> Any:
    """Return an API name, importing its module on first use."""
    if name not in _API:
        raise AttributeError(f"module 'clearing' has no attribute {name!r}")
    module, attribute = _API[name]
    return getattr(import_module(module), attribute)
