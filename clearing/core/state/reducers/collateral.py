"""Reducers of collateral assets: listing, deposits, venue and oracle prices, seizures.

`state.collateral` (N accounts x A assets) holds asset minor units; assets only move in
from outside (deposits) or between accounts (seizures), so per asset the sum over
accounts equals the deposits.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from clearing import events as ev
from clearing.core.state.reducers.checks import account, require
from clearing.core.state.schema import ASSET_ARRAYS, TOUCHED_ALL

if TYPE_CHECKING:
    from clearing.core.state.state import ClearingState



def _asset(state: ClearingState, asset: int) -> None:
    require(0 <= asset < len(state.assets), "unknown collateral asset %s", asset)


def collateral_listed(state: ClearingState, e: ev.CollateralListed) -> None:
    """Add an asset column."""
    require(e.asset == len(state.assets), "collateral asset %s listed out of order", e.asset)
    require(0 <= e.decimals <= 18 and 0 <= e.haircut_ppm < 1_000_000, "bad collateral asset %s", e)
    state.assets.append(e)
    for name in ASSET_ARRAYS:
        setattr(state, name, np.append(getattr(state, name), np.int64(0)))
    state.asset_decimals[-1] = e.decimals
    state.asset_haircut_ppm[-1] = e.haircut_ppm
    state.collateral = np.hstack([state.collateral, np.zeros((state.n_accounts, 1), np.int64)])


def collateral_deposited(state: ClearingState, e: ev.CollateralDeposited) -> None:
    """Credit an amount of an asset to an account."""
    account(state, e.account)
    _asset(state, e.asset)
    require(e.amount > 0, "collateral deposit of %s", e.amount)
    state.collateral[e.account, e.asset] += e.amount
    state.touch(e.account)
    state.asset_deposits[e.asset] += e.amount


def collateral_price_updated(state: ClearingState, e: ev.CollateralPriceUpdated) -> None:
    """Set the asset's venue price."""
    _asset(state, e.asset)
    require(e.price_ticks > 0, "collateral price %s", e.price_ticks)
    state.asset_venue_ticks[e.asset] = e.price_ticks


def collateral_price_published(state: ClearingState, e: ev.CollateralPricePublished) -> None:
    """Record the asset oracle's last publication."""
    _asset(state, e.asset)
    require(e.price_ticks > 0, "collateral price %s", e.price_ticks)
    state.asset_published_ticks[e.asset] = e.price_ticks
    state.asset_published_ns[e.asset] = e.ts_ns


def collateral_price_delivered(state: ClearingState, e: ev.CollateralPriceDelivered) -> None:
    """Set the asset price margin uses."""
    _asset(state, e.asset)
    require(e.price_ticks > 0, "collateral price %s", e.price_ticks)
    state.asset_oracle_ticks[e.asset] = e.price_ticks
    state.touch(TOUCHED_ALL)
    state.asset_oracle_source_ns[e.asset] = e.ts_source_ns


def collateral_seized(state: ClearingState, e: ev.CollateralSeized) -> None:
    """Move the asset from the account to the buyer, and the value back in quote (both reversed for a debt repaid)."""
    account(state, e.account)
    account(state, e.buyer)
    _asset(state, e.asset)
    held = state.collateral.item(e.account, e.asset)
    sold = 0 < e.amount <= held and e.value >= 0
    repaid = held <= e.amount < 0 and e.value <= 0  # a coin debt bought back from the buyer
    require(sold or repaid, "bad seizure %s", e)
    state.collateral[e.account, e.asset] -= e.amount
    state.collateral[e.buyer, e.asset] += e.amount
    state.cash[e.account] += e.value
    state.cash[e.buyer] -= e.value
    state.touch(e.account, e.buyer)
