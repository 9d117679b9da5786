"""The oracle's policies, pure: sources, rounds, aggregation, publication, delivery, guards.

`params` names the policies and holds the parameters; `sources` turns a sample into a
reading; `rounds` decides a round's outcome with `aggregation` and the `publication`
policy; `delivery` gives the delay and which deliveries land; `guards` decides whether
the mark, a pull or a liquidation may use a price. The SimPy shell
(`clearing.sim.oracle_feed`) waits, reads the state, calls these and emits the events.
"""

from clearing.core.oracle.aggregation import (
    AGGREGATIONS,
    AGGREGATORS,
    aggregate,
    aggregator,
    inliers,
    median,
    pyth_aggregate,
    quantile,
    spread_confidence,
    weighted_median,
)
from clearing.core.oracle.delivery import (
    LATENCY_MODELS,
    LATENCY_SAMPLERS,
    BreachWindow,
    delivery_delay_ns,
    has_newer_publication,
    is_superseded,
    latency_sampler,
    reads_breaches,
    sample_latency_ns,
)
from clearing.core.oracle.guards import (
    GuardDecision,
    confidence_guard,
    is_liquidation_guarded,
    liquidation_guard,
    pull_guard,
)
from clearing.core.oracle.params import (
    Aggregation,
    CollateralOracleParams,
    LatencyModel,
    OracleParams,
    Policy,
    Reference,
    SourceSpec,
    Window,
)
from clearing.core.oracle.publication import (
    PUBLICATION_POLICIES,
    Cadence,
    PublicationPolicy,
    Pull,
    Push,
    publication_policy,
    publication_reason,
)
from clearing.core.oracle.rounds import Publication, RoundFailure, round_outcome
from clearing.core.oracle.sources import (
    HeldReading,
    SourceReading,
    dislocation_offset,
    fresh_readings,
    in_windows,
    random_outages,
    read_source,
)

__all__ = [
    "AGGREGATIONS",
    "AGGREGATORS",
    "LATENCY_MODELS",
    "LATENCY_SAMPLERS",
    "PUBLICATION_POLICIES",
    "Aggregation",
    "BreachWindow",
    "Cadence",
    "CollateralOracleParams",
    "GuardDecision",
    "HeldReading",
    "LatencyModel",
    "OracleParams",
    "Policy",
    "Publication",
    "PublicationPolicy",
    "Pull",
    "Push",
    "Reference",
    "RoundFailure",
    "SourceReading",
    "SourceSpec",
    "Window",
    "aggregate",
    "aggregator",
    "confidence_guard",
    "delivery_delay_ns",
    "dislocation_offset",
    "fresh_readings",
    "has_newer_publication",
    "in_windows",
    "inliers",
    "is_liquidation_guarded",
    "is_superseded",
    "latency_sampler",
    "liquidation_guard",
    "median",
    "publication_policy",
    "publication_reason",
    "pull_guard",
    "pyth_aggregate",
    "quantile",
    "random_outages",
    "read_source",
    "reads_breaches",
    "round_outcome",
    "sample_latency_ns",
    "spread_confidence",
    "weighted_median",
]
