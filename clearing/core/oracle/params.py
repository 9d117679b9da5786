"""An oracle's parameters in run units, and the names that choose its policies.

`clearing.scenario.params.compile_params` builds these once per run (times in ns, rates in
ppm) and turns each policy name of the scenario into its enum member here, so the rest of
the oracle chooses a policy by looking the member up, never by comparing strings. Nothing
here decides anything.
"""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple

Window = tuple[int, int]  # [start, end) in ns


class Policy(StrEnum):
    """How an oracle publishes (`clearing.core.oracle.publication`)."""

    PUSH = "push"
    CADENCE = "cadence"
    PULL = "pull"


class Aggregation(StrEnum):
    """How a round combines its readings (`clearing.core.oracle.aggregation`)."""

    MEDIAN = "median"
    WEIGHTED_MEDIAN = "weighted_median"
    PYTH = "pyth"


class LatencyModel(StrEnum):
    """How long a publication takes to become visible (`clearing.core.oracle.delivery`)."""

    FIXED = "fixed"
    UNIFORM = "uniform"
    LOGNORMAL = "lognormal"
    LOAD = "load"


class Reference(StrEnum):
    """What a source reads: the external index, the perpetual's book mid, or its last trade."""

    INDEX = "index"
    MID = "mid"
    LAST = "last"


class SourceSpec(NamedTuple):
    """One source (times in ns, noise and confidence in ppm of the price)."""

    name: str
    reference: Reference
    weight: int
    interval_ns: int
    delay_ns: int
    noise_ppm: float
    confidence_ppm: float
    outages: tuple[Window, ...]
    frozen: tuple[Window, ...]
    dislocations: tuple[tuple[int, int, float], ...]


class OracleParams(NamedTuple):
    """Aggregation, policy, latency and guards (times in ns, rates in ppm)."""

    policy: Policy
    aggregation: Aggregation
    min_sources: int
    outlier_cut_ppm: int
    source_max_age_ns: int
    observe_interval_ns: int
    deviation_ppm: int
    heartbeat_ns: int
    cadence_ns: int
    inclusion_delay_ns: int
    latency_model: LatencyModel
    latency_ns: int
    latency_max_ns: int
    latency_sigma: float
    latency_per_breach_ns: int
    latency_window_ns: int
    pull_interval_ns: int
    max_age_ns: int
    sets_mark: bool
    max_confidence_ppm: int
    liquidation_max_age_ns: int
    max_divergence_ppm: int
    liquidation_validity: bool = False  # Drift: a liquidation refused only on an invalid price (`validity_guard`)
    twap_ns: int = 300 * 10**9
    too_volatile_ratio: int = 5
    max_twap_divergence_ppm: int = 500_000


class CollateralOracleParams(NamedTuple):
    """Policy (push or cadence) and times (ns) of a collateral asset's oracle; deviation in ppm."""

    policy: Policy
    interval_ns: int
    deviation_ppm: int
    heartbeat_ns: int
    latency_ns: int
