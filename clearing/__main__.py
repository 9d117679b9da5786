"""Run the command line: `python -m clearing`."""

from clearing.cli.app import main

raise SystemExit(main())
