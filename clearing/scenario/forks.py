"""Forks: which scenario keys a fork may change mid-run, and the `[fork]` section that schedules the changes."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from clearing.scenario.sections import Section

_ORACLE_LIVE = (
    "aggregation", "min_sources", "outlier_cut", "source_max_age_s", "deviation", "heartbeat_s", "inclusion_delay_ms",
    "latency_ms", "latency_model", "latency_max_ms", "latency_sigma", "latency_per_breach_ms", "latency_window_s",
    "pull_interval_ms", "max_age_s", "guards.liquidation_max_age_s", "guards.max_confidence", "guards.max_mark_divergence",
)  # fmt: skip
_LIQUIDATION_LIVE = (
    "slippage", "impact_depth", "max_slippage", "execution", "vault_threshold", "after_fund", "adl_ranking", "partial",
    "partial_fraction", "partial_min_notional", "cooldown_s", "max_notional_per_block", "block_ms", "max_per_block",
    "detection_latency_ms", "fund_limit", "multi_leg", "engine", "margin_buffer",
)  # fmt: skip
FORKABLE_KEYS = tuple(f"oracle.{k}" for k in _ORACLE_LIVE) + tuple(f"liquidation.{k}" for k in _LIQUIDATION_LIVE)
"""The keys a fork may change mid-run: parameters the SimPy shell reads afresh at each use."""

_STARTED = "is read once when its SimPy process starts at time 0"
_WHY_NOT = (
    # (dotted prefix, why a fork cannot change it); the first matching prefix wins.
    ("oracle.sources", "lists the oracle's sources at time 0 (oracle_source_listed) and starts their processes"),
    ("oracle.source", "is the default source, listed at time 0"),
    ("oracle.policy", "decides which oracle processes run from time 0"),
    ("oracle.observe_interval_ms", f"sets the sampling and round cadence, which {_STARTED}"),
    ("oracle.cadence_ms", f"sets the round cadence, which {_STARTED}"),
    ("liquidation.liquidators", "is the number of liquidator processes started at time 0"),
    ("liquidation.service_time_ms", f"{_STARTED} (each liquidator's)"),
    ("liquidation.priority", "ranks accounts already queued; mixing two rules in one queue has no meaning"),
    ("liquidation.fund_offload_", f"{_STARTED} (the fund's unwinding)"),
    ("market.", "is state listed at time 0 (market_listed)"),
    ("markets", "is state listed at time 0 (market_listed)"),
    ("collateral", "is state listed at time 0 (collateral_listed) with a price path drawn up front"),
    ("population", "was drawn at time 0 from the seed"),
    ("liquidity_provider", "is a deposit made at time 0"),
    ("insurance_fund", "is state set at time 0 (insurance_fund_deposited, insurance_fund_configured)"),
    ("portfolio", "is state set at time 0 (portfolio_margin_configured)"),
    ("price", "is the index path, drawn up front from the seed"),
    ("market_makers", f"{_STARTED} (each maker's ladder parameters)"),
    ("noise_takers", f"{_STARTED}"),
    ("arbitrageurs", f"{_STARTED}"),
    ("mark", f"{_STARTED} (the mark clock) or when the oracle is built"),
    ("funding", f"{_STARTED} (the funding clock)"),
    ("dynamic_margin", f"{_STARTED} (one per market, only when enabled)"),
    ("margin_calls", f"{_STARTED} (only when enabled)"),
    ("fork", "is the fork itself"),
    ("name", "describes the whole run"),
    ("description", "describes the whole run"),
    ("epoch", "describes the whole run"),
    ("duration_s", "describes the whole run"),
    ("checkpoint_interval_s", f"{_STARTED} (the checkpointer)"),
)


def fork_refusal(key: str) -> str | None:
    """Return why a fork cannot change the dotted `key` (None when it can)."""
    if key in FORKABLE_KEYS:
        return None
    for prefix, why in _WHY_NOT:
        if key.startswith(prefix) if prefix.endswith((".", "_")) else key == prefix or key.startswith(f"{prefix}."):
            return f"{key} {why}; a fork cannot change it; run a new scenario"
    return f"{key} is not a key a fork can change (only oracle and liquidation parameters, see docs/forks.md)"


def flatten(table: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    # `[fork.set]` written as TOML dotted keys arrives as nested tables: back to dotted keys.
    out: dict[str, Any] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


class ForkConfig(Section):
    """Changes of shell parameters scheduled at `at_s`: what `clearing fork` writes.

    `set` maps dotted scenario keys (only `FORKABLE_KEYS`) to their new values;
    `parent_run_id` names the run this one was forked from (informative).
    """

    at_s: float = Field(gt=0)
    parent_run_id: str = Field(default="", max_length=64)
    set: dict[str, bool | int | float | str] = Field(min_length=1)

    @field_validator("set", mode="before")
    @classmethod
    def _dotted(cls, value: Any) -> Any:
        return flatten(value) if isinstance(value, dict) else value

    @field_validator("set")
    @classmethod
    def _forkable(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key in value:
            why = fork_refusal(key)
            if why:
                raise ValueError(why)
        return value
