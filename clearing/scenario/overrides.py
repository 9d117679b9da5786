"""`--set dotted.key=value` overrides and one-line messages of validation errors."""

from __future__ import annotations

import re
import tomllib
from typing import Any

from pydantic import ValidationError

from clearing.errors import ConfigError


def format_error(where: str, error: ValidationError) -> str:
    """Return pydantic's first error as one line: where, the dotted key, the message, the value."""
    first = error.errors()[0]
    loc = ".".join(str(p) for p in first["loc"]) or "(top level)"
    message = first["msg"].removeprefix("Value error, ")
    got = first.get("input")
    shown = "" if isinstance(got, dict) or first["type"] in ("missing", "value_error") else f" (got {got!r})"
    more = len(error.errors()) - 1
    tail = f"; and {more} more problem{'s' * (more > 1)}" if more else ""
    if not first["loc"] and re.match(r"[a-z_][\w.]*[ :]", message):
        return f"{where}: {message}{shown}{tail}"  # a whole-scenario check whose message names its field first
    return f"{where}: {loc}: {message}{shown}{tail}"


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split `dotted.key=value`; the value is read as a TOML value, else as a bare string.

    Raises:
        ConfigError: the override has no `=` or an empty key.
    """
    key, sep, raw = text.partition("=")
    path = key.strip().split(".")
    if not sep or not all(path):
        raise ConfigError(f"--set {text}: expected dotted.key=value")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return path, value


def apply_override(data: dict[str, Any], path: list[str], value: Any, text: str) -> None:
    """Set `value` at `path` inside raw scenario data, creating tables on the way."""
    node: Any = data
    for i, part in enumerate(path[:-1]):
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ConfigError(f"--set {text}: {'.'.join(path[: i + 1])}: no such list item")
            node = node[int(part)]
        else:
            child = node.setdefault(part, {})
            if not isinstance(child, dict | list):
                raise ConfigError(f"--set {text}: {'.'.join(path[: i + 1])} is a value, not a table")
            node = child
    last = path[-1]
    if isinstance(node, list):
        if not last.isdigit() or int(last) >= len(node):
            raise ConfigError(f"--set {text}: {'.'.join(path)}: no such list item")
        node[int(last)] = value
    else:
        node[last] = value
