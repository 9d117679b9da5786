"""Scenarios: the validated description of a run, loaded from TOML with `--set` overrides.

Everything from outside (files, overrides, CLI values) is validated here by pydantic, and
turned into the exact integer units the core uses (`params`). A bad value gives one
`ConfigError` line naming the file (or override) and the dotted key.
"""

from clearing.scenario.forks import FORKABLE_KEYS, ForkConfig, fork_refusal
from clearing.scenario.loading import PRESETS, load_scenario, merge, preset_names
from clearing.scenario.overrides import apply_override, parse_override
from clearing.scenario.scenario import Scenario
from clearing.scenario.sections import ListedMarketConfig, MarketConfig, PriceConfig

__all__ = [
    "FORKABLE_KEYS",
    "PRESETS",
    "ForkConfig",
    "ListedMarketConfig",
    "MarketConfig",
    "PriceConfig",
    "Scenario",
    "apply_override",
    "fork_refusal",
    "load_scenario",
    "merge",
    "parse_override",
    "preset_names",
]
