"""The liquidation engine's parameters, in integer units (ppm, quote minor units, ns)."""

from __future__ import annotations

from typing import NamedTuple


class LiquidationParams(NamedTuple):
    """Slippage and policy parameters of the close-out (ppm and quote minor units).

    The liquidation fee is each market's own (`market_listed.liquidation_fee_ppm`).
    """

    slippage_ppm: int
    impact_depth_minor: int
    max_slippage_ppm: int
    execution: str = "book"  # "book", "bankruptcy", "fillable", "vault" or "fund" (see the module doc)
    after_fund: str = "bad_debt"  # what the fund cannot cover: "bad_debt", "adl" or "socialise"
    adl_ranking: str = "pnl_leverage"
    partial: str = "none"  # how much one liquidation closes: "none" (all), "fraction", "restore"
    partial_fraction_ppm: int = 1_000_000
    partial_min_notional: int = 0
    cooldown_ns: int = 0
    max_notional_per_block: int = 0  # per account and block; 0: no cap
    vault_threshold_ppm: int = 666_667  # execution "vault": take-over below this share of maintenance
    fund_limit_ppm: int = 1_000_000  # execution "fund": the fund's most net notional, ppm of its equity
