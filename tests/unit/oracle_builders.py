"""Builders for the oracle's unit tests: parameters with defaults, held readings."""

from __future__ import annotations

from clearing.core.oracle import Aggregation, LatencyModel, OracleParams, Policy, Reference, SourceSpec
from clearing.core.state.schema import Observation

S = 10**9


def oracle_params(**overrides: object) -> OracleParams:
    """A push oracle, median of at least one source, 0.5 % / 1 h, no latency, no guards; `overrides` replace fields."""
    params = OracleParams(
        policy=Policy.PUSH, aggregation=Aggregation.MEDIAN, min_sources=1, outlier_cut_ppm=0, source_max_age_ns=60 * S,
        observe_interval_ns=S, deviation_ppm=5_000, heartbeat_ns=3600 * S, cadence_ns=3 * S, inclusion_delay_ns=0,
        latency_model=LatencyModel.FIXED, latency_ns=0, latency_max_ns=0, latency_sigma=0.0, latency_per_breach_ns=0,
        latency_window_ns=60 * S, pull_interval_ns=S, max_age_ns=60 * S, sets_mark=True, max_confidence_ppm=0,
        liquidation_max_age_ns=0, max_divergence_ppm=0,
    )  # fmt: skip
    return params._replace(**overrides)


def source(**overrides: object) -> SourceSpec:
    """A noiseless index source read every second, with no failures; `overrides` replace fields."""
    spec = SourceSpec("venue", Reference.INDEX, 1, S, 0, 0.0, 0.0, (), (), ())
    return spec._replace(**overrides)


def held(price: int, source_ns: int, confidence: int = 0) -> Observation:
    """A reading as the oracle holds it (arrived when taken)."""
    return Observation(price, confidence, source_ns, source_ns, "ok")
