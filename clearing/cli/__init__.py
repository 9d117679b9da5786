"""The command line: `clearing ...` (one module per group of commands)."""

from clearing.cli.app import main

__all__ = ["main"]
