"""Applications on top of the shell and the log: running scenarios and reading their logs.

Writing: `lifecycle` (the one run lifecycle: inputs, header, sink, final status, the
partial-file policy, summary) under `run` (the Python API), `fork` and `sweep/`.
Reading: `fold` (the one verified walk of a log; every view is an observer of it) under
`replay`, `report`, `cascades/` and `diff`. `summary` is the summary both sides print.
"""

import threading

# An interrupt the command line noted before a run began (`clearing.cli.app.on_interrupt`): the KeyboardInterrupt it
# raised may have been lost (CPython ignores one raised inside some callbacks, as importlib's module-lock ones), so a
# run (`lifecycle`) stops at its first step instead of running to the end. Here, for the command line to set it
# without loading the applications.
INTERRUPT_NOTED = threading.Event()
