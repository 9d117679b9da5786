"""Loading scenarios: TOML files, `include` of presets and files, `--set` overrides, validation."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from clearing.errors import ConfigError
from clearing.scenario.overrides import apply_override, format_error, parse_override
from clearing.scenario.scenario import Scenario

PRESETS = Path(__file__).resolve().parent / "presets"


def preset_names() -> list[str]:
    """Return the names of the presets shipped with clearing ("oracle/chainlink-push", ...)."""
    return sorted(str(p.relative_to(PRESETS).with_suffix("")) for p in PRESETS.rglob("*.toml"))


def merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """Return `base` updated by `top`: tables merge key by key, any other value is replaced."""
    out = dict(base)
    for key, value in top.items():
        out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _with_includes(data: dict[str, Any], path: Path, chain: tuple[Path, ...], root: Path) -> dict[str, Any]:
    # `include = ["oracle/chainlink-push", "mine.toml"]`: presets by name, files relative to the
    # including file and inside `root` (the scenario's own folder: nothing else on the machine is
    # read); later includes override earlier ones, the file itself all.
    names = data.pop("include", [])
    names = [names] if isinstance(names, str) else names
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ConfigError(f"{path}: include: expected a list of preset names or file paths")
    merged: dict[str, Any] = {}
    for name in names:
        file = (path.parent / name) if name.endswith(".toml") else PRESETS / f"{name}.toml"
        inside = root if name.endswith(".toml") else PRESETS
        if not file.resolve().is_relative_to(inside):
            where = f"outside the scenario's folder {root}" if name.endswith(".toml") else "not a preset"
            raise ConfigError(f"{path}: include {name!r}: {where}; include a file beside the scenario or a preset "
                              f"({', '.join(preset_names())})")  # fmt: skip
        if not file.is_file():
            raise ConfigError(f"{path}: include {name!r}: no such preset or file (presets: {', '.join(preset_names())})")
        if file.resolve() in chain:
            raise ConfigError(f"{path}: include {name!r}: includes itself")
        try:
            included = tomllib.loads(file.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{file}: invalid TOML: {e}") from None
        merged = merge(merged, _with_includes(included, file, (*chain, file.resolve()), root))
    return merge(merged, data)


def read_input(path: Path, what: str) -> str:
    """Return the text of an input file (a scenario, a book, a positions CSV).

    Raises:
        ConfigError: "PATH: no such WHAT file", or why it cannot be read, in one line.
    """
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such {what} file") from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read the {what} ({e.__class__.__name__}: {e})") from None


def load_scenario(path: Path | str, overrides: list[str] | tuple[str, ...] = ()) -> Scenario:
    """Read, override and validate a scenario file.

    Raises:
        ConfigError: missing file, bad TOML, unknown key, wrong type or out-of-range value.
    """
    path = Path(path)
    text = read_input(path, "scenario")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: invalid TOML: {e}") from None
    parsed = [(parse_override(o), o) for o in overrides]
    for (keys, value), text_ in parsed:  # `--set include=...` picks presets before they are merged
        if keys == ["include"]:
            apply_override(data, keys, value, text_)
    data = _with_includes(data, path, (), path.resolve().parent)
    data.setdefault("name", path.stem)
    for (keys, value), text_ in parsed:
        if keys != ["include"]:
            apply_override(data, keys, value, text_)
    try:
        return Scenario.model_validate(data)
    except ValidationError as e:
        where = str(path)
        if parsed:
            loc = ".".join(str(p) for p in e.errors()[0]["loc"])
            hits = [t for (keys, _), t in parsed if loc.startswith(".".join(keys)) or ".".join(keys).startswith(loc)]
            if hits:
                where = f"{path} with --set {hits[-1]}"
        raise ConfigError(format_error(where, e)) from None
