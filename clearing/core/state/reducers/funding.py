"""Reducers of funding: premium samples, the interval's rate, and zero-sum payments.

Payments go through `state.funding_clearing`: each `funding_paid` moves its amounts
between accounts and the clearing ledger (an inverse perpetual's: in its settlement asset,
through `state.asset_clearing`), which is exactly zero after the final event of
a settlement. Premium samples accumulate the time-weighted average sum(i x P_i) / sum(i).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from clearing import events as ev
from clearing.core.state.reducers.checks import market, require

if TYPE_CHECKING:
    from clearing.core.state.state import ClearingState


def premium_sampled(state: ClearingState, e: ev.PremiumSampled) -> None:
    """Add the n-th sample with weight n to the interval's premium average."""
    market(state, e.market)
    n = int(state.premium_samples[e.market]) + 1
    state.premium_samples[e.market] = n
    state.premium_weighted_sum[e.market] += n * e.premium_ppb
    state.premium_weight[e.market] += n


def funding_rate_set(state: ClearingState, e: ev.FundingRateSet) -> None:
    """Fix the interval's rate and start a new premium average."""
    market(state, e.market)
    samples = int(state.premium_samples[e.market])
    require(e.samples == samples, "funding rate from %s samples, state has %s", e.samples, samples)
    state.funding_rate_ppb[e.market] = e.rate_ppb
    state.premium_samples[e.market] = 0
    state.premium_weighted_sum[e.market] = 0
    state.premium_weight[e.market] = 0


def funding_paid(state: ClearingState, e: ev.FundingPaid) -> None:
    """Credit (or debit, if negative) each account, against the clearing ledger."""
    market(state, e.market)
    require(len(e.accounts) == len(e.amounts), "funding_paid accounts and amounts differ in length")
    inverse = state.inverse.get(e.market)
    accounts = np.asarray(e.accounts, dtype=np.int64)
    amounts = np.asarray(e.amounts, dtype=np.int64)
    if accounts.size:
        require(
            int(accounts.min()) >= 0 and int(accounts.max()) < state.n_accounts and np.unique(accounts).size == accounts.size,
            "funding_paid names an unknown or repeated account",
        )
    if inverse is not None:  # in the settlement asset, through its own clearing ledger; the volume is quote only
        left = state.asset_clearing[inverse.asset] - sum(e.amounts)
        require(not e.final or left == 0, "coin funding settlement leaves %s in the clearing ledger", left)
        state.asset_clearing[inverse.asset] = left
        state.collateral[accounts, inverse.asset] += amounts
        state.touch(*e.accounts)
        return
    if accounts.size:
        state.cash[accounts] += amounts
        state.touch(*e.accounts)
    state.funding_clearing -= sum(e.amounts)
    state.funding_volume += sum(a for a in e.amounts if a > 0)
    if e.final:
        require(state.funding_clearing == 0, "funding settlement leaves %s in the clearing ledger", state.funding_clearing)
