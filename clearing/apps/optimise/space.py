"""A study's search space: `--space key=lo:hi[:log|:STEP]` or `key=a,b,c`, one scenario key each.

A dimension is a scenario key (dotted, as for `--set`) and how its values are drawn: a range
of integers (both bounds whole numbers), of decimals on a grid (`STEP`, else the power of ten
just below a thousandth of the range, so a rate stays a whole number of ppm), on a log scale
(`log`: rounded to three significant figures), or a list of values. A drawn value becomes a
`--set key=value` override of every run of its trial, as exact text.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from clearing.errors import ConfigError


@dataclass(frozen=True)
class Dimension:
    """One searched scenario key: a numeric range (`low`..`high`, its `step` or `log` scale) or its `choices`."""

    key: str
    low: Decimal = Decimal(0)
    high: Decimal = Decimal(0)
    step: Decimal | None = None
    log: bool = False
    integer: bool = False
    choices: tuple[str, ...] = ()

    def describe(self) -> str:
        """Return the dimension as written on the command line."""
        if self.choices:
            return f"{self.key}={','.join(self.choices)}"
        tail = ":log" if self.log else f":{self.step}" if self.step is not None else ""
        return f"{self.key}={self.low}:{self.high}{tail}"


def parse_space(options: Sequence[str]) -> list[Dimension]:
    """Return the dimensions of `--space` options.

    Raises:
        ConfigError: an option without `=`, a key given twice, a bound that is not a number,
            low >= high, a log range that is not positive, a step that is not positive.
    """
    dims: list[Dimension] = []
    for option in options:
        key, sep, text = (part.strip() for part in option.partition("="))
        if not sep or not key or not text:
            raise ConfigError(f"--space {option!r}: expected dotted.key=LOW:HIGH[:log|:STEP] or dotted.key=A,B,...")
        if any(d.key == key for d in dims):
            raise ConfigError(f"--space {key}: given twice")
        dims.append(_dimension(option, key, text))
    if not dims:
        raise ConfigError("optimise needs at least one --space dotted.key=LOW:HIGH")
    return dims


def _dimension(option: str, key: str, text: str) -> Dimension:
    if ":" not in text:
        choices = tuple(v.strip() for v in text.split(","))
        if len(choices) < 2 or not all(choices) or len(set(choices)) != len(choices):
            raise ConfigError(f"--space {option!r}: a list needs two or more distinct values")
        return Dimension(key, choices=choices)
    parts = text.split(":")
    if len(parts) > 3:
        raise ConfigError(f"--space {option!r}: expected LOW:HIGH[:log|:STEP]")
    low, high = (_number(option, p) for p in parts[:2])
    if not low < high:
        raise ConfigError(f"--space {option!r}: LOW must be below HIGH")
    integer = all("." not in p and "e" not in p.lower() for p in parts[:2])
    log, step = False, None
    if len(parts) == 3:
        if parts[2].strip() == "log":
            log = True
            if low <= 0:
                raise ConfigError(f"--space {option!r}: a log range must be positive")
        else:
            step = _number(option, parts[2])
            if step <= 0:
                raise ConfigError(f"--space {option!r}: STEP must be positive")
            integer = integer and step == step.to_integral_value()
    if step is None and not log and not integer:
        step = Decimal(1).scaleb(math.floor(math.log10((high - low) / 1000)))
    return Dimension(key, low, high, step, log, integer)


def _number(option: str, text: str) -> Decimal:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise ConfigError(f"--space {option!r}: {text.strip()!r} is not a number") from None
    if not value.is_finite():
        raise ConfigError(f"--space {option!r}: {text.strip()!r} is not a finite number")
    return value


def suggest(trial: Any, dim: Dimension) -> str:
    """Return the value of `dim` drawn for an Optuna `trial`, as the exact text of its `--set` override."""
    if dim.choices:
        return str(trial.suggest_categorical(dim.key, list(dim.choices)))
    if dim.integer:
        step = int(dim.step) if dim.step is not None else 1
        return str(trial.suggest_int(dim.key, int(dim.low), int(dim.high), step=step, log=dim.log))
    if dim.log:
        x = Decimal(repr(trial.suggest_float(dim.key, float(dim.low), float(dim.high), log=True)))
        rounded = round(x, 2 - x.adjusted())  # three significant figures
        return _text(min(max(rounded, dim.low), dim.high))
    assert dim.step is not None
    x = Decimal(repr(trial.suggest_float(dim.key, float(dim.low), float(dim.high), step=float(dim.step))))
    on_grid = dim.low + ((x - dim.low) / dim.step).to_integral_value() * dim.step
    return _text(min(max(on_grid, dim.low), dim.high))


def _text(value: Decimal) -> str:
    # A plain decimal ("0.00512", "2500000"), never an exponent.
    text = format(value.normalize(), "f")
    return text
