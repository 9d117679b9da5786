"""Applications on top of the shell and the log: running scenarios and reading their logs.

Writing: `lifecycle` (the one run lifecycle: inputs, header, sink, final status, the
partial-file policy, summary) under `run` (the Python API), `fork` and `sweep/`.
Reading: `fold` (the one verified walk of a log; every view is an observer of it) under
`replay`, `report`, `cascades/` and `diff`. `summary` is the summary both sides print.
"""
