"""Run the command line: `python -m clearing`."""

import signal

from clearing.cli import main

code = main()
for _sig in (signal.SIGINT, signal.SIGTERM):  # the command is done: a late Ctrl-C changes nothing
    signal.signal(_sig, signal.SIG_IGN)
raise SystemExit(code)
