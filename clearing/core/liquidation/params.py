"""The liquidation engine's parameters, in integer units (ppm, quote minor units, ns), and its choices.

Each choice a scenario makes (execution mode, what comes after the fund, ADL ranking,
partial policy, queue priority) is a `StrEnum`, compiled once by
`clearing.scenario.params`; the policy modules map each member to its policy by a dict
(`clearing.core.liquidation.modes.EXECUTIONS`, `waterfall.AFTER_FUND`, `waterfall.RANKINGS`,
`pricing.PARTIALS`, `queue.PRIORITIES`). A member's value is the scenario's spelling.
"""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple


class Execution(StrEnum):
    """Where a liquidation's close-out goes (`clearing.core.liquidation.modes`)."""

    BOOK = "book"  # an IOC limited at mark -/+ max slippage
    BANKRUPTCY = "bankruptcy"  # an IOC limited at the bankruptcy price
    FILLABLE = "fillable"  # an IOC limited at dYdX v4's fillable price
    VAULT = "vault"  # below the vault threshold the backstop takes the position over; else as book
    FUND = "fund"  # as bankruptcy, then the insurance fund's account takes over the rest


class AfterFund(StrEnum):
    """What the insurance fund cannot cover (`clearing.core.liquidation.waterfall.AFTER_FUND`)."""

    BAD_DEBT = "bad_debt"
    ADL = "adl"
    SOCIALISE = "socialise"


class AdlRanking(StrEnum):
    """Who is deleveraged first (`clearing.core.liquidation.waterfall.RANKINGS`)."""

    PNL_LEVERAGE = "pnl_leverage"
    LEVERAGE_PNL = "leverage_pnl"
    RANDOM = "random"
    PRO_RATA = "pro_rata"


class Partial(StrEnum):
    """How much of a one-position account one liquidation closes (`clearing.core.liquidation.pricing.PARTIALS`)."""

    NONE = "none"
    FRACTION = "fraction"
    RESTORE = "restore"
    SHORTAGE = "shortage"  # Drift's: the lots whose transfer covers the shortage against maintenance plus a buffer


class MultiLeg(StrEnum):
    """How a liquidation closes an account with positions on several markets (`clearing.core.liquidation.plan`)."""

    WHOLE = "whole"  # every leg whole, the largest first
    INCREMENTAL = "incremental"  # Deribit's: the chunk that lowers the requirement most per unit of cost first


class QueuePriority(StrEnum):
    """The order of the liquidation queue (`clearing.core.liquidation.queue.PRIORITIES`)."""

    FIFO = "fifo"
    WORST_HEALTH = "worst_health"
    LARGEST = "largest"


class LiquidationParams(NamedTuple):
    """Slippage and policy parameters of the close-out (ppm and quote minor units).

    The liquidation fee is each market's own (`market_listed.liquidation_fee_ppm`).
    """

    slippage_ppm: int
    impact_depth_minor: int
    max_slippage_ppm: int
    execution: Execution = Execution.BOOK
    after_fund: AfterFund = AfterFund.BAD_DEBT  # what the fund cannot cover
    adl_ranking: AdlRanking = AdlRanking.PNL_LEVERAGE
    partial: Partial = Partial.NONE  # how much one liquidation closes
    partial_fraction_ppm: int = 1_000_000
    partial_min_notional: int = 0
    cooldown_ns: int = 0
    max_notional_per_block: int = 0  # per account and block; 0: no cap
    vault_threshold_ppm: int = 666_667  # execution "vault": take-over below this share of maintenance
    fund_limit_ppm: int = 1_000_000  # execution "fund": the fund's most net notional, ppm of its equity
    multi_leg: MultiLeg = MultiLeg.WHOLE  # several markets: every leg whole, or Deribit's incremental reduction
    engine_on: bool = True  # False: the margin monitor checks nobody (the counterfactual without liquidations)
    margin_buffer_ppm: int = 0  # partial "shortage": Drift's liquidation margin buffer
