"""The input data files a scenario reads, found through the data directory and hashed.

The run header records every input's name and SHA-256, so a log says exactly what data
made it. A missing file is a one-line `DataError` listing where it was looked for.
"""

from __future__ import annotations

from pathlib import Path

from clearing.data.directory import file_sha256, resolve_data_file
from clearing.errors import DataError
from clearing.scenario import Scenario


def input_names(scenario: Scenario) -> list[str]:
    """Return the data file names the scenario reads, in a fixed order."""
    names = []
    for _market, price in scenario.listed():
        for name in price.files:
            if name not in names:
                names.append(name)
    if scenario.market_makers.depth_profile:
        names.append(scenario.market_makers.depth_profile)
    if scenario.volatility.model == "okx" and any(m.kind == "option" for m, _ in scenario.listed()):
        names.append(scenario.volatility.file)
    if scenario.portfolio.method == "es" and scenario.population.uses("portfolio"):
        for _symbol, files in sorted(scenario.portfolio.es.stress_files.items()):
            names.extend(name for name in files if name not in names)
    return names


def resolve_inputs(scenario: Scenario, data_dir: str | Path | None) -> dict[str, Path]:
    """Return {name: path} for every input file found.

    A tape whose scenario also writes an hourly path (`price.hourly`) may be missing: its
    files are left out, and the run bridges the hourly path instead; so may a depth profile
    marked `market_makers.depth_optional`, the makers then quoting their own ladder
    (`data_sources` says which each used).

    Raises:
        clearing.errors.DataError: a file is in none of the places searched and has no fallback.
    """
    optional = {name for _m, price in scenario.listed() if price.hourly for name in price.files}
    if scenario.market_makers.depth_optional:
        optional.add(scenario.market_makers.depth_profile)
    if scenario.volatility.file_optional:
        optional.add(scenario.volatility.file)
    found: dict[str, Path] = {}
    for name in input_names(scenario):
        try:
            found[name] = resolve_data_file(name, data_dir)
        except DataError:
            if name not in optional:
                raise
    for _m, price in scenario.listed():  # a tape is read whole or not at all
        if price.hourly and not all(name in found for name in price.files):
            for name in price.files:
                found.pop(name, None)
    return found


def data_sources(scenario: Scenario, inputs: dict[str, Path] | dict[str, str]) -> list[str]:
    """Return what each market's index path was made from (the tape's files, its hourly path, or
    its model), and where the book's depth came from when the scenario names a depth file."""
    out = []
    correlated = scenario.correlation.markets
    v = scenario.volatility
    if v.model != "okx":
        surface = f"the {v.model} surface"
    elif v.file in inputs:
        surface = f"the okx surface ({v.file})"
    else:
        surface = f"the synthetic surface ({v.file} not in the data directory)"
    for market, price in scenario.listed():
        if market.kind == "option":
            what = f"model value on {market.underlying} and {surface}"
        elif market.symbol in correlated:
            others = ", ".join(name for name in correlated if name != market.symbol)
            what = f"gbm model, drawn jointly with {others}"
        elif price.model != "tape":
            what = f"{price.model} model"
        elif price.files and all(name in inputs for name in price.files):
            what = "tape " + ", ".join(price.files)
        else:
            missing = [name for name in price.files if name not in inputs]
            note = f"; {', '.join(missing)} not in the data directory" if missing else ""
            what = f"hourly path in the scenario ({price.hourly_source}){note}"
        out.append(f"{market.symbol}: {what}")
    depth = scenario.market_makers.depth_profile
    if depth:
        out.append(f"book depth: {depth}" if depth in inputs else f"book depth: ladder ({depth} not in the data directory)")
    stress = scenario.portfolio.es.stress_files
    if scenario.portfolio.method == "es" and scenario.population.uses("portfolio") and stress:
        out.append("stress scenarios: " + "; ".join(f"{s} {', '.join(files)}" for s, files in sorted(stress.items())))
    return out


def input_hashes(paths: dict[str, Path]) -> dict[str, str]:
    """Return {name: sha256 hex} of the resolved inputs."""
    return {name: file_sha256(path) for name, path in sorted(paths.items())}


def data_sources_of(scenario_json: str, inputs_json: str) -> str:
    """Return `data_sources` of a log's header, joined by "; " ("" when its scenario is of an older layout)."""
    import json

    from pydantic import ValidationError

    try:
        scenario = Scenario.model_validate_json(scenario_json)
    except ValidationError:
        return ""
    return "; ".join(data_sources(scenario, json.loads(inputs_json or "{}")))
