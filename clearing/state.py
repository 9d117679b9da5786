"""Clearing state as struct-of-arrays, and `apply`, the only function that changes it.

The live run and replay both fold events through `apply`; nothing else writes to a
`ClearingState`. Accounts are rows, markets columns. Money is int64 quote minor units.

Ledger convention: `cash` is an account's wallet balance minus the cost of its open
positions, so equity at mark P is `cash + position * P * unit_value`. Trades move `cash`
between buyer and seller exactly, which makes the sum of `cash` (= total equity at any
common price, since long and short lots cancel) the conserved quantity.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import numpy as np

from clearing import events as ev
from clearing.errors import InvariantViolation
from clearing.units import Int64Array

ROLE_CODES = {ev.ROLE_TRADER: 0, ev.ROLE_LIQUIDITY_PROVIDER: 1}


class ClearingState:
    """Everything a run knows at one instant; mutated only by `apply`.

    Attributes (N accounts, M markets):
        role: (N,) int8, 0 trader, 1 liquidity provider.
        cash: (N,) int64 quote minor units, wallet balance minus open-position cost.
        position: (N, M) int64 lots, signed (long > 0).
        entry_cost: (N, M) int64 quote minor units, signed cost of the open position.
        liquidating: (N,) bool, queued for liquidation and not yet settled.
        index_ticks, oracle_ticks, mark_ticks: (M,) int64 current prices.
        oracle_source_ns: (M,) int64 observation time of the visible oracle price.
        published_ticks, published_ns: (M,) int64 the oracle's last publication.
    """

    def __init__(self) -> None:
        self.markets: list[ev.MarketListed] = []
        self.unit_value: Int64Array = np.zeros(0, np.int64)
        self.maintenance_margin_ppm: Int64Array = np.zeros(0, np.int64)
        self.index_ticks: Int64Array = np.zeros(0, np.int64)
        self.oracle_ticks: Int64Array = np.zeros(0, np.int64)
        self.oracle_source_ns: Int64Array = np.zeros(0, np.int64)
        self.published_ticks: Int64Array = np.zeros(0, np.int64)
        self.published_ns: Int64Array = np.zeros(0, np.int64)
        self.mark_ticks: Int64Array = np.zeros(0, np.int64)
        self.role = np.zeros(0, np.int8)
        self.cash: Int64Array = np.zeros(0, np.int64)
        self.position: Int64Array = np.zeros((0, 0), np.int64)
        self.entry_cost: Int64Array = np.zeros((0, 0), np.int64)
        self.liquidating = np.zeros(0, np.bool_)
        self.deposits = 0
        self.insurance_fund = 0
        self.insurance_fund_min = 0  # lowest balance after the first payout (or the seed)
        self.fee_pool = 0
        self.bad_debt = 0
        self.insurance_paid = 0
        self.breaches = 0
        self.liquidations = 0
        self.liquidated_notional = 0
        self.events_applied = 0
        self.now_ns = 0

    @property
    def n_accounts(self) -> int:
        """Return the number of open accounts."""
        return int(self.cash.shape[0])

    @property
    def n_markets(self) -> int:
        """Return the number of listed markets."""
        return len(self.markets)

    def digest(self) -> str:
        """Return the SHA-256 hex digest of the full state, in a fixed canonical order."""
        h = hashlib.sha256()
        for market in self.markets:
            h.update(ev.encode(market))
        for name in _ARRAY_FIELDS:
            array = np.ascontiguousarray(getattr(self, name))
            h.update(f"{name}:{array.dtype.str}:{array.shape};".encode())
            h.update(array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes())
        for name in _SCALAR_FIELDS:
            h.update(f"{name}={int(getattr(self, name))};".encode())
        return h.hexdigest()


_ARRAY_FIELDS = (
    "unit_value", "maintenance_margin_ppm", "index_ticks", "oracle_ticks",
    "oracle_source_ns", "published_ticks", "published_ns", "mark_ticks",
    "role", "cash", "position", "entry_cost", "liquidating",
)  # fmt: skip
_SCALAR_FIELDS = (
    "deposits", "insurance_fund", "insurance_fund_min", "fee_pool", "bad_debt",
    "insurance_paid", "breaches", "liquidations", "liquidated_notional",
    "events_applied", "now_ns",
)  # fmt: skip


def apply(state: ClearingState, event: ev.Event) -> None:
    """Fold one event into the state: the only mutator, shared by live runs and replay.

    Raises:
        InvariantViolation: the event is impossible in this state (a bug in its emitter).
    """
    if event.ts_ns < state.now_ns:
        raise InvariantViolation(f"{type(event).__name__} at {event.ts_ns} ns is before {state.now_ns} ns")
    _APPLIERS[type(event)](state, event)
    state.now_ns = event.ts_ns
    state.events_applied += 1


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise InvariantViolation(message)


def _account(state: ClearingState, account: int) -> None:
    _require(0 <= account < state.n_accounts, f"unknown account {account}")


def _market_listed(state: ClearingState, e: ev.MarketListed) -> None:
    _require(e.market == state.n_markets, f"market {e.market} listed out of order")
    _require(e.unit_value > 0, f"market {e.market} unit value must be positive")
    state.markets.append(e)
    state.unit_value = np.append(state.unit_value, np.int64(e.unit_value))
    state.maintenance_margin_ppm = np.append(state.maintenance_margin_ppm, np.int64(e.maintenance_margin_ppm))
    for name in ("index_ticks", "oracle_ticks", "oracle_source_ns", "published_ticks", "published_ns", "mark_ticks"):
        setattr(state, name, np.append(getattr(state, name), np.int64(0)))
    column = np.zeros((state.n_accounts, 1), np.int64)
    state.position = np.hstack([state.position, column])
    state.entry_cost = np.hstack([state.entry_cost, column])


def _accounts_opened(state: ClearingState, e: ev.AccountsOpened) -> None:
    _require(e.first_account == state.n_accounts, f"accounts opened from {e.first_account}, expected {state.n_accounts}")
    _require(e.count > 0 and e.role in ROLE_CODES, f"bad accounts_opened count {e.count} or role {e.role!r}")
    n = e.count
    state.role = np.concatenate([state.role, np.full(n, ROLE_CODES[e.role], np.int8)])
    state.cash = np.concatenate([state.cash, np.zeros(n, np.int64)])
    state.liquidating = np.concatenate([state.liquidating, np.zeros(n, np.bool_)])
    block = np.zeros((n, state.n_markets), np.int64)
    state.position = np.vstack([state.position, block])
    state.entry_cost = np.vstack([state.entry_cost, block])


def _deposited(state: ClearingState, e: ev.Deposited) -> None:
    _account(state, e.account)
    _require(e.amount > 0, f"deposit of {e.amount} into account {e.account}")
    state.cash[e.account] += e.amount
    state.deposits += e.amount


def _insurance_fund_deposited(state: ClearingState, e: ev.InsuranceFundDeposited) -> None:
    _require(e.amount > 0, f"insurance fund deposit of {e.amount}")
    state.insurance_fund += e.amount
    state.deposits += e.amount
    if state.insurance_paid == 0:
        state.insurance_fund_min = state.insurance_fund


def _check_price(state: ClearingState, e: ev.IndexPriceUpdated | ev.OraclePricePublished | ev.MarkPriceUpdated) -> None:
    # Inline checks: these are the most frequent events, and message formatting is costly.
    if not (e.price_ticks > 0 and 0 <= e.market < len(state.markets)):
        raise InvariantViolation(f"{type(e).__name__}: price {e.price_ticks} ticks on market {e.market}")


def _market(state: ClearingState, market: int) -> None:
    if not 0 <= market < len(state.markets):
        raise InvariantViolation(f"unknown market {market}")


def _index_price_updated(state: ClearingState, e: ev.IndexPriceUpdated) -> None:
    _check_price(state, e)
    state.index_ticks[e.market] = e.price_ticks


def _oracle_price_published(state: ClearingState, e: ev.OraclePricePublished) -> None:
    _check_price(state, e)
    state.published_ticks[e.market] = e.price_ticks
    state.published_ns[e.market] = e.ts_ns


def _oracle_price_delivered(state: ClearingState, e: ev.OraclePriceDelivered) -> None:
    _check_price(state, e)  # type: ignore[arg-type]
    state.oracle_ticks[e.market] = e.price_ticks
    state.oracle_source_ns[e.market] = e.ts_source_ns


def _mark_price_updated(state: ClearingState, e: ev.MarkPriceUpdated) -> None:
    _check_price(state, e)
    state.mark_ticks[e.market] = e.price_ticks


def _move_position(state: ClearingState, account: int, market: int, lots: int, value: int) -> None:
    # `lots` and `value` are signed (buy > 0). The share of cost basis a reduction removes
    # rounds toward zero; it only splits equity between wallet and unrealised PnL.
    old = state.position.item(account, market)
    new = old + lots
    cost = state.entry_cost.item(account, market)
    if old == 0 or (old > 0) == (lots > 0):
        cost += value
    elif new == 0 or (new > 0) == (old > 0):
        removed = abs(cost) * abs(old - new) // abs(old)
        cost -= removed if cost > 0 else -removed
    else:
        cost = new * (value // lots)
    state.position[account, market] = new
    state.entry_cost[account, market] = cost if new != 0 else 0


def _trade_executed(state: ClearingState, e: ev.TradeExecuted) -> None:
    buyer, seller, market, lots = e.buyer, e.seller, e.market, e.lots
    n = len(state.cash)
    if not 0 <= buyer < n:
        raise InvariantViolation(f"unknown account {buyer}")
    if not 0 <= seller < n:
        raise InvariantViolation(f"unknown account {seller}")
    if not (lots > 0 and e.price_ticks > 0 and buyer != seller and 0 <= market < len(state.markets)):
        raise InvariantViolation(f"bad trade {e}")
    if not (e.buyer_fee >= 0 and e.seller_fee >= 0):
        raise InvariantViolation(f"negative fee in trade {e}")
    value = lots * e.price_ticks * state.markets[market].unit_value
    cash = state.cash
    cash[buyer] = cash.item(buyer) - value - e.buyer_fee
    cash[seller] = cash.item(seller) + value - e.seller_fee
    state.fee_pool += e.buyer_fee + e.seller_fee
    _move_position(state, buyer, market, lots, value)
    _move_position(state, seller, market, -lots, -value)


def _margin_breached(state: ClearingState, e: ev.MarginBreached) -> None:
    _account(state, e.account)
    _market(state, e.market)
    _require(not state.liquidating[e.account], f"account {e.account} is already being liquidated")
    state.liquidating[e.account] = True
    state.breaches += 1


def _liquidation_cancelled(state: ClearingState, e: ev.LiquidationCancelled) -> None:
    _account(state, e.account)
    _market(state, e.market)
    _require(bool(state.liquidating[e.account]), f"account {e.account} is not being liquidated")
    state.liquidating[e.account] = False


def _liquidation_fee_charged(state: ClearingState, e: ev.LiquidationFeeCharged) -> None:
    _account(state, e.account)
    _require(0 < e.amount <= state.cash[e.account], f"fee {e.amount} exceeds balance of account {e.account}")
    state.cash[e.account] -= e.amount
    state.insurance_fund += e.amount


def _insurance_fund_paid(state: ClearingState, e: ev.InsuranceFundPaid) -> None:
    _account(state, e.account)
    _require(0 < e.amount <= state.insurance_fund, f"insurance payout {e.amount} exceeds the fund")
    _require(e.amount <= -state.cash[e.account], f"insurance payout {e.amount} exceeds the shortfall")
    state.insurance_fund -= e.amount
    state.insurance_paid += e.amount
    state.cash[e.account] += e.amount
    state.insurance_fund_min = min(state.insurance_fund_min, state.insurance_fund)


def _bad_debt_recorded(state: ClearingState, e: ev.BadDebtRecorded) -> None:
    _account(state, e.account)
    _require(0 < e.amount <= -state.cash[e.account], f"bad debt {e.amount} exceeds the shortfall")
    state.cash[e.account] += e.amount
    state.bad_debt += e.amount


def _liquidation_completed(state: ClearingState, e: ev.LiquidationCompleted) -> None:
    _account(state, e.account)
    _market(state, e.market)
    _require(bool(state.liquidating[e.account]), f"account {e.account} is not being liquidated")
    state.liquidating[e.account] = False
    state.liquidations += 1
    state.liquidated_notional += e.notional


def _checkpoint_recorded(state: ClearingState, e: ev.CheckpointRecorded) -> None:
    pass


_APPLIERS: dict[type[Any], Callable[[ClearingState, Any], None]] = {
    ev.MarketListed: _market_listed,
    ev.AccountsOpened: _accounts_opened,
    ev.Deposited: _deposited,
    ev.InsuranceFundDeposited: _insurance_fund_deposited,
    ev.IndexPriceUpdated: _index_price_updated,
    ev.OraclePricePublished: _oracle_price_published,
    ev.OraclePriceDelivered: _oracle_price_delivered,
    ev.MarkPriceUpdated: _mark_price_updated,
    ev.TradeExecuted: _trade_executed,
    ev.MarginBreached: _margin_breached,
    ev.LiquidationCancelled: _liquidation_cancelled,
    ev.LiquidationFeeCharged: _liquidation_fee_charged,
    ev.InsuranceFundPaid: _insurance_fund_paid,
    ev.BadDebtRecorded: _bad_debt_recorded,
    ev.LiquidationCompleted: _liquidation_completed,
    ev.CheckpointRecorded: _checkpoint_recorded,
}
assert set(_APPLIERS) == set(ev.EVENT_TYPES), "every event kind needs an applier"
