"""The input data files a scenario reads, found through the data directory and hashed.

The run header records every input's name and SHA-256, so a log says exactly what data
made it. A missing file is a one-line `DataError` listing where it was looked for.
"""

from __future__ import annotations

from pathlib import Path

from clearing.data import file_sha256, resolve_data_file
from clearing.scenario import Scenario


def input_names(scenario: Scenario) -> list[str]:
    """Return the data file names the scenario reads, in a fixed order."""
    names = []
    for _market, price in scenario.listed():
        if price.model == "tape" and price.file not in names:
            names.append(price.file)
    if scenario.market_makers.depth_profile:
        names.append(scenario.market_makers.depth_profile)
    return names


def resolve_inputs(scenario: Scenario, data_dir: str | Path | None) -> dict[str, Path]:
    """Return {name: path} for every input file.

    Raises:
        clearing.errors.DataError: a file is in none of the places searched.
    """
    return {name: resolve_data_file(name, data_dir) for name in input_names(scenario)}


def input_hashes(paths: dict[str, Path]) -> dict[str, str]:
    """Return {name: sha256 hex} of the resolved inputs."""
    return {name: file_sha256(path) for name, path in sorted(paths.items())}
