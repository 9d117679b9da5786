"""The loss waterfall after the insurance fund: the post-fund steps, ADL rankings and exact sharing.

Pure functions on arrays and integers: what comes after the fund (`AFTER_FUND`), who is
deleveraged first (`RANKINGS`), how a deleveraged size or a loss is shared out, exactly, in
integers. Which accounts may be deleveraged, and the plan for one position, read the
state in `clearing.core.liquidation.adl`; the liquidator (`clearing.sim.liquidator`)
emits the events.

- ADL: what the fund cannot absorb is closed against opposite positions at the
  bankruptcy price. Rankings: "pnl_leverage" (BitMEX: PnL% x effective leverage when in
  profit, PnL% / effective leverage when not; highest first), "leverage_pnl" (Binance:
  profit over wallet balance times the maintenance margin ratio), "random" (dYdX: a
  pseudo-random start over the candidates in account order), "pro_rata" (every candidate
  in proportion to size). Sources: docs/references.md [binance-adl], [bitmex-adl],
  [dydx-v4-deleveraging], [hyperliquid-adl].
- Socialised loss (Drift): what is left is charged to every open position of the market,
  both sides, in proportion to size. Source: docs/references.md [drift-v2-socialised-loss].
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np

from clearing.core.liquidation.params import AdlRanking, AfterFund
from clearing.units import Int64Array


class AfterFundPolicy(NamedTuple):
    """What happens to what the insurance fund cannot cover.

    deleverages: a close-out the fund cannot afford is closed against ranked opposite
    positions at the bankruptcy price (`clearing.core.liquidation.adl`); socialises: the
    bad debt left after the fund is charged to the markets' other open positions
    (`clearing.core.liquidation.settlement.socialisation`). Neither: it is bad debt.
    """

    deleverages: bool
    socialises: bool


AFTER_FUND: dict[AfterFund, AfterFundPolicy] = {
    AfterFund.BAD_DEBT: AfterFundPolicy(deleverages=False, socialises=False),
    AfterFund.ADL: AfterFundPolicy(deleverages=True, socialises=False),
    AfterFund.SOCIALISE: AfterFundPolicy(deleverages=False, socialises=True),
}

class RankInputs(NamedTuple):
    """What a ranking may read of the K candidates: accounts, signed positions, entry costs, backing (margin cash),
    maintenance requirements of the positions, shape (K,); the mark, the unit value and one quote unit in minor
    units (Binance's max(1, wallet balance) is in quote units)."""

    accounts: Int64Array
    position_lots: Int64Array
    entry_cost: Int64Array
    backing: Int64Array
    mark_ticks: int
    unit_value: int
    maintenance: Int64Array
    quote_unit: int


# (what the ranking reads, seed, limit) -> candidate indices in order.
Order = Callable[[RankInputs, int, "int | None"], Int64Array]


def _account_order(r: RankInputs, _seed: int, limit: int | None) -> Int64Array:
    return np.argsort(r.accounts, kind="stable")[:limit]


def _random_order(r: RankInputs, seed: int, limit: int | None) -> Int64Array:
    start = int.from_bytes(hashlib.sha256(str(seed).encode()).digest()[:8], "big") % len(r.accounts)
    by_account = np.argsort(r.accounts, kind="stable")
    return np.roll(by_account, -start)[:limit]


def _highest_first(accounts: Int64Array, score: np.ndarray, limit: int | None) -> Int64Array:
    # Highest score first, ties to the lower account; with `limit`, found without sorting the rest.
    if limit is not None and limit < len(accounts):
        key = -score
        bound = np.partition(key, limit - 1)[limit - 1]  # the limit-th smallest key: the prefix is at or below it
        chosen = np.flatnonzero(key <= bound)
        return chosen[np.lexsort((accounts[chosen], key[chosen]))][:limit]  # type: ignore[no-any-return]
    return np.lexsort((accounts, -score))


def _pnl_leverage_order(r: RankInputs, _seed: int, limit: int | None) -> Int64Array:
    value = r.position_lots.astype(np.float64) * (r.mark_ticks * r.unit_value)
    pnl = (value - r.entry_cost) / np.maximum(np.abs(r.entry_cost), 1)
    equity = r.backing + value
    broke = equity <= 0  # no equity left: infinite leverage, ranked first
    leverage = np.abs(value) / np.where(broke, 1, equity)
    score = np.where(broke, np.inf, np.where(pnl > 0, pnl * leverage, pnl / np.maximum(leverage, 1e-300)))
    return _highest_first(r.accounts, score, limit)


def _leverage_pnl_order(r: RankInputs, _seed: int, limit: int | None) -> Int64Array:
    # Binance: PnLPercent = max(0, UPnL) / max(1, wallet), MarginRatio = MM / (wallet + UPnL) (0 when that is <= 0).
    # The ledger's cash holds what positions were bought or sold for (decision 0002): the wallet balance is the
    # backing plus the position's entry cost, and wallet + UPnL the equity, backing + value.
    value = r.position_lots.astype(np.float64) * (r.mark_ticks * r.unit_value)
    upnl = value - r.entry_cost
    wallet = r.backing.astype(np.float64) + r.entry_cost
    percent = np.maximum(0.0, upnl) / np.maximum(float(r.quote_unit), wallet)
    equity = wallet + upnl
    ratio = np.where(equity > 0, r.maintenance / np.where(equity > 0, equity, 1.0), 0.0)
    return _highest_first(r.accounts, percent * ratio, limit)


class Ranking(NamedTuple):
    """An ADL ranking: the order candidates are deleveraged in, and how sizes are shared.

    pro_rata: every candidate gives in proportion to its size (all are ranked); otherwise
    each in ranked order gives min(what is left, its position) (`adl_allocation`).
    """

    order: Order
    pro_rata: bool


RANKINGS: dict[AdlRanking, Ranking] = {
    AdlRanking.PNL_LEVERAGE: Ranking(_pnl_leverage_order, pro_rata=False),
    AdlRanking.LEVERAGE_PNL: Ranking(_leverage_pnl_order, pro_rata=False),
    AdlRanking.RANDOM: Ranking(_random_order, pro_rata=False),
    AdlRanking.PRO_RATA: Ranking(_account_order, pro_rata=True),
}


def adl_ranking(
    method: AdlRanking,
    accounts: Int64Array,
    position_lots: Int64Array,
    entry_cost: Int64Array,
    backing: Int64Array,
    mark_ticks: int,
    unit_value: int,
    seed: int = 0,
    limit: int | None = None,
    *,
    maintenance: Int64Array | None = None,
    quote_unit: int = 1,
) -> Int64Array:
    """Return the candidates' indices in the order they are deleveraged, shape (K,), or its first `limit`.

    pnl_leverage (BitMEX): value = position x mark x unit_value, PnL% = (value - entry
    cost) / |entry cost|, effective leverage = |value| / (backing + value); score = PnL% x
    leverage if PnL% > 0 else PnL% / leverage (an account with no equity left ranks
    first); highest score first, ties to the lower account. leverage_pnl (Binance's
    "LeveragePnL"): PnLPercent = max(0, UPnL) / max(1 quote unit, wallet balance) times
    MarginRatio = maintenance / (wallet + UPnL) (0 when wallet + UPnL <= 0), with UPnL = value
    - entry cost, the wallet balance = backing + entry cost (the cash before the position's
    trades) and `maintenance` the positions' maintenance requirements; highest first, ties to
    the lower account. random (dYdX): the candidates
    in account order, rotated to start at sha256(seed) mod K. pro_rata: account order
    (sizes are shared by `adl_allocation`). With `limit`, only the first `limit` of that
    order, found without sorting the rest (a liquidation usually needs a handful of the
    tens of thousands of candidates). Sources: docs/references.md [bitmex-adl],
    [dydx-v4-deleveraging], [binance-adl].
    """
    if len(accounts) == 0:
        return np.argsort(accounts, kind="stable")[:limit]
    if maintenance is None:
        maintenance = np.zeros(len(accounts), np.int64)
    inputs = RankInputs(accounts, position_lots, entry_cost, backing, mark_ticks, unit_value, maintenance, quote_unit)
    return RANKINGS[method].order(inputs, seed, limit)


def adl_allocation(lots: int, sizes: Sequence[int] | Int64Array, pro_rata: bool) -> list[int]:
    """Return how many lots each candidate (in ranked order) gives up; they sum to min(lots, total).

    In order: each gives min(what is left, its size). Pro rata: floor(lots x size / total),
    then one more lot each to the largest remainders (ties to the earlier candidate).
    Vectorised (int64: lots x size must stay below 2^63).
    """
    size = np.asarray(sizes, np.int64)
    total = int(size.sum())
    lots = min(lots, total)
    if not pro_rata:
        before = np.cumsum(size) - size  # what the earlier candidates give, at most
        return np.clip(lots - before, 0, size).tolist()  # type: ignore[no-any-return]
    if not total:
        return [0] * len(size)
    shares, remainders = np.divmod(lots * size, total)
    extra = np.argsort(-remainders, kind="stable")[: lots - int(shares.sum())]
    shares[extra] += 1
    return shares.tolist()  # type: ignore[no-any-return]


def socialised_amounts(loss: int, notionals: Sequence[int]) -> list[int]:
    """Return what each open position is charged to cover `loss`; the charges sum to exactly `loss`.

    floor(loss x notional / total), then one more minor unit each to the largest
    remainders (ties to the earlier position): in proportion to size, rounded so that the
    total is exact. Source: docs/references.md [drift-v2-socialised-loss].
    """
    total = sum(notionals)
    if loss <= 0 or total <= 0:
        return [0] * len(notionals)
    shares = [loss * n // total for n in notionals]
    remainders = [loss * n % total for n in notionals]
    for i in sorted(range(len(notionals)), key=lambda i: -remainders[i])[: loss - sum(shares)]:
        shares[i] += 1
    return shares
