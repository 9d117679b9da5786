"""Run the command line: `python -m clearing`."""

from clearing.cli import main

raise SystemExit(main())
