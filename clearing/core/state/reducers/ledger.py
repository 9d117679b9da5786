"""Reducers of accounts and money: listings, deposits, trades, liquidation settlement.

Ledger convention (see docs/decisions/0002): `cash` is wallet balance minus the cost of
open positions; a trade moves lots x price x unit_value from buyer to seller exactly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from clearing import events as ev
from clearing.core.book import Book
from clearing.core.inverse import trade_coin
from clearing.core.margin import Brackets
from clearing.core.state.reducers import orders
from clearing.core.state.reducers.checks import account, market, require
from clearing.core.state.schema import MARKET_ARRAYS, MODE_LABELS, ROLE_LABELS, InverseTerms, MarginMode, Role
from clearing.errors import InvariantViolation

if TYPE_CHECKING:
    from clearing.core.state.state import ClearingState

FUND = Role.INSURANCE_FUND


def market_listed(state: ClearingState, e: ev.MarketListed) -> None:
    """Add a market column to every per-market array and an empty book."""
    if not (e.market == state.n_markets):
        raise InvariantViolation(f"market {e.market} listed out of order")
    if not (e.unit_value > 0):
        raise InvariantViolation(f"market {e.market} unit value must be positive")
    if not (len(e.bracket_floors) == len(e.bracket_rates_ppm) > 0 and e.bracket_rates_ppm[0] == e.maintenance_margin_ppm):
        raise InvariantViolation(f"market {e.market} brackets do not start at its maintenance rate")
    base_limit, step = e.risk_limit_lots
    if ((e.size_premium_ppm or step) and len(e.bracket_floors) > 1) or e.size_premium_ppm < 0 or min(base_limit, step) < 0:
        raise InvariantViolation(f"market {e.market}: a rate set by size needs one bracket and no negative terms")
    try:
        brackets = Brackets.of(e.bracket_floors, e.bracket_rates_ppm)
    except ValueError as error:
        raise InvariantViolation(f"market {e.market}: {error}") from None
    brackets = brackets._replace(premium_ppm=e.size_premium_ppm, risk_limit_lots=(base_limit, step))
    state.markets.append(e)
    state.brackets.append(brackets)
    state.books.append(Book())
    state.oracle_sources.append([])
    state.observations.append([])
    state.unit_value = np.append(state.unit_value, np.int64(e.unit_value))
    state.maintenance_margin_ppm = np.append(state.maintenance_margin_ppm, np.int64(e.maintenance_margin_ppm))
    for name in MARKET_ARRAYS:
        setattr(state, name, np.append(getattr(state, name), np.int64(0)))
    column = np.zeros((state.n_accounts, 1), np.int64)
    state.position = np.hstack([state.position, column])
    state.entry_cost = np.hstack([state.entry_cost, column])


def accounts_opened(state: ClearingState, e: ev.AccountsOpened) -> None:
    """Append `count` empty accounts of one role."""
    if not (e.first_account == state.n_accounts):
        raise InvariantViolation(f"accounts opened from {e.first_account}, expected {state.n_accounts}")
    if not (e.count > 0 and e.role in ROLE_LABELS and e.margin_mode in MODE_LABELS):
        raise InvariantViolation(f"bad accounts_opened count {e.count}, role {e.role!r} or margin mode {e.margin_mode!r}")
    n = e.count
    state.role = np.concatenate([state.role, np.full(n, Role.of(e.role), np.int8)])
    state.margin_mode = np.concatenate([state.margin_mode, np.full(n, MarginMode.of(e.margin_mode), np.int8)])
    state.cash = np.concatenate([state.cash, np.zeros(n, np.int64)])
    state.liquidating = np.concatenate([state.liquidating, np.zeros(n, np.bool_)])
    state.breach_ns = np.concatenate([state.breach_ns, np.zeros(n, np.int64)])
    state.last_partial_ns = np.concatenate([state.last_partial_ns, np.zeros(n, np.int64)])
    block = np.zeros((n, state.n_markets), np.int64)
    state.position = np.vstack([state.position, block])
    state.entry_cost = np.vstack([state.entry_cost, block])
    state.collateral = np.vstack([state.collateral, np.zeros((n, len(state.assets)), np.int64)])


def strategy_assigned(state: ClearingState, e: ev.StrategyAssigned) -> None:
    """Record which traders' accounts hold portfolio type `e.strategy` (types in order, each account in one)."""
    require(e.strategy == len(state.strategy_names) and bool(e.name) and e.name not in state.strategy_names,
            "strategy %s %r out of order or named twice", e.strategy, e.name)  # fmt: skip
    accounts = list(e.accounts)
    require(accounts == sorted(set(accounts)), "strategy %r: accounts not ascending and distinct", e.name)
    ends = accounts[:1] + accounts[-1:]
    require(all(0 <= a < state.n_accounts for a in ends), "strategy %r names an account not opened", e.name)
    rows = np.array(accounts, np.int64)
    require(bool((state.role[rows] == Role.TRADER).all()), "strategy %r names an account that is not a trader's", e.name)
    require(not any(a in state.strategy_of for a in accounts), "strategy %r names an account of another type", e.name)
    state.strategy_names.append(e.name)
    state.strategy_of.update(dict.fromkeys(accounts, e.strategy))


def deposited(state: ClearingState, e: ev.Deposited) -> None:
    """Credit outside money to an account."""
    credit_outside_money(state, e.account, e.amount)


def credit_outside_money(state: ClearingState, account_id: int, amount: int) -> None:
    """Credit `amount` (> 0) of outside money to `account_id`'s cash and the run's deposits: a deposit, a top-up."""
    account(state, account_id)
    if not (amount > 0):
        raise InvariantViolation(f"deposit of {amount} into account {account_id}")
    state.cash[account_id] += amount
    state.touch(account_id)
    state.deposits += amount


def insurance_fund_deposited(state: ClearingState, e: ev.InsuranceFundDeposited) -> None:
    """Credit outside money to the insurance fund."""
    if not (e.amount > 0):
        raise InvariantViolation(f"insurance fund deposit of {e.amount}")
    state.insurance_fund += e.amount
    state.deposits += e.amount
    if state.insurance_paid == 0:
        state.insurance_fund_min = state.insurance_fund


def _move_position(state: ClearingState, account_id: int, market_id: int, lots: int, value: int) -> None:
    # `lots` and `value` are signed (buy > 0). The share of cost basis a reduction removes
    # rounds toward zero; it only splits equity between wallet and unrealised PnL.
    old = state.position.item(account_id, market_id)
    new = old + lots
    cost = state.entry_cost.item(account_id, market_id)
    if old == 0 or (old > 0) == (lots > 0):
        cost += value
    elif new == 0 or (new > 0) == (old > 0):
        removed = abs(cost) * abs(old - new) // abs(old)
        cost -= removed if cost > 0 else -removed
    else:
        cost = new * (value // lots)
    state.position[account_id, market_id] = new
    state.touch(account_id)
    state.entry_cost[account_id, market_id] = cost if new != 0 else 0


def trade_executed(state: ClearingState, e: ev.TradeExecuted) -> None:
    """Move value and fees between buyer and seller; update positions, orders and last price."""
    buyer, seller, market_id, lots = e.buyer, e.seller, e.market, e.lots
    n = len(state.cash)
    if not (0 <= buyer < n and 0 <= seller < n):
        raise InvariantViolation(f"unknown account in trade {e}")
    if not (lots > 0 and e.price_ticks > 0 and buyer != seller and 0 <= market_id < len(state.markets)):
        raise InvariantViolation(f"bad trade {e}")
    if not (e.buyer_fee >= 0 and e.seller_fee >= 0):
        raise InvariantViolation(f"negative fee in trade {e}")
    if market_id in state.settlement_prices:
        raise InvariantViolation(f"trade on market {market_id}, which has expired")
    if e.maker_order or e.taker_order:
        orders.fill(state, e)
    value = _exchange(state, market_id, buyer, seller, lots, e.price_ticks, e.buyer_fee, e.seller_fee)
    state.last_trade_ticks[market_id] = e.price_ticks
    if e.liquidation and e.maker_order:
        state.liquidation_fills_book += 1
        state.liquidated_notional_book += value
    elif e.liquidation and FUND in (state.role.item(buyer), state.role.item(seller)):  # the fund took it over
        state.liquidation_fills_fund += 1
        state.liquidated_notional_fund += value
    elif e.liquidation:  # no maker order: the backstop took the other side
        state.liquidation_fills_backstop += 1
        state.liquidated_notional_backstop += value


def _exchange(state: ClearingState, market_id: int, buyer: int, seller: int, lots: int, price: int, buyer_fee: int,
              seller_fee: int) -> int:  # fmt: skip
    """Move `lots` at `price` from seller to buyer with their fees; return the value moved (quote notional).

    An inverse perpetual moves coin the other way (`clearing.core.inverse.trade_coin`): the
    buyer receives floor(lots x k / price) of the settlement asset, the seller pays the
    ceiling, the dust and the fees (in the asset) go to the asset's pool; its notional is
    lots x the contract's quote value.
    """
    inverse = state.inverse.get(market_id)
    if inverse is not None:
        return _exchange_coin(state, market_id, inverse, buyer, seller, lots, price, buyer_fee, seller_fee)
    value = lots * price * state.markets[market_id].unit_value
    cash = state.cash
    cash[buyer] = cash.item(buyer) - value - buyer_fee
    cash[seller] = cash.item(seller) + value - seller_fee
    state.fee_pool += buyer_fee + seller_fee
    _move_position(state, buyer, market_id, lots, value)
    _move_position(state, seller, market_id, -lots, -value)
    return value


def _exchange_coin(state: ClearingState, market_id: int, inverse: InverseTerms, buyer: int, seller: int, lots: int,
                   price: int, buyer_fee: int, seller_fee: int) -> int:  # fmt: skip
    received, paid = trade_coin(lots, price, inverse.k)
    coin = state.collateral
    asset = inverse.asset
    coin[buyer, asset] = coin.item(buyer, asset) + received - buyer_fee
    coin[seller, asset] = coin.item(seller, asset) - paid - seller_fee
    state.asset_pool[asset] += paid - received + buyer_fee + seller_fee
    _move_position(state, buyer, market_id, lots, -received)
    _move_position(state, seller, market_id, -lots, paid)
    return lots * state.markets[market_id].unit_value


def position_deleveraged(state: ClearingState, e: ev.PositionDeleveraged) -> None:
    """Close part of the liquidated account's position against a counterparty, without fees."""
    for who in (e.account, e.buyer, e.seller):
        account(state, who)
    market(state, e.market)
    if not (e.account in (e.buyer, e.seller) and e.buyer != e.seller and e.lots > 0 and e.price_ticks > 0):
        raise InvariantViolation(f"bad deleveraging {e}")
    counterparty_lots = state.position.item(e.seller if e.account == e.buyer else e.buyer, e.market)
    if not (abs(counterparty_lots) >= e.lots):
        raise InvariantViolation(f"deleveraging {e.lots} lots from a position of {counterparty_lots}")
    state.adl_events += 1
    state.adl_notional += _exchange(state, e.market, e.buyer, e.seller, e.lots, e.price_ticks, 0, 0)


def loss_socialised(state: ClearingState, e: ev.LossSocialised) -> None:
    """Charge the open positions and credit the bankrupt account, exactly."""
    account(state, e.account)
    market(state, e.market)
    if not (len(e.accounts) == len(e.amounts) and all(a >= 0 for a in e.amounts)):
        raise InvariantViolation(f"bad socialisation {e}")
    total = sum(e.amounts)
    if not (0 < total <= -state.cash[e.account]):
        raise InvariantViolation(f"socialised {total} exceeds the shortfall of account {e.account}")
    for who, amount in zip(e.accounts, e.amounts, strict=True):
        account(state, who)
        state.cash[who] -= amount
    state.cash[e.account] += total
    state.touch(e.account, *e.accounts)
    state.socialised_loss += total
    state.socialisations += 1


def margin_breached(state: ClearingState, e: ev.MarginBreached) -> None:
    """Mark the account as queued for liquidation."""
    account(state, e.account)
    market(state, e.market)
    if state.liquidating[e.account]:
        raise InvariantViolation(f"account {e.account} is already being liquidated")
    state.liquidating[e.account] = True
    state.breaches += 1
    state.breach_ns[e.account] = e.ts_ns
    state.backlog += 1
    state.max_backlog = max(state.max_backlog, state.backlog)


def liquidation_cancelled(state: ClearingState, e: ev.LiquidationCancelled) -> None:
    """Release a queued account."""
    _leave_queue(state, e)


def _leave_queue(state: ClearingState, e: ev.LiquidationCancelled | ev.LiquidationCompleted) -> None:
    # The account of a liquidation episode's last event leaves the queue.
    account(state, e.account)
    market(state, e.market)
    if not (bool(state.liquidating[e.account])):
        raise InvariantViolation(f"account {e.account} is not being liquidated")
    account_id, now_ns = e.account, e.ts_ns
    state.liquidating[account_id] = False
    state.backlog -= 1
    state.max_queue_wait_ns = max(state.max_queue_wait_ns, now_ns - state.breach_ns.item(account_id))


def liquidation_fee_charged(state: ClearingState, e: ev.LiquidationFeeCharged) -> None:
    """Move the liquidation fee from the account to the insurance fund."""
    account(state, e.account)
    if not (0 < e.amount <= state.cash[e.account]):
        raise InvariantViolation(f"fee {e.amount} exceeds balance of account {e.account}")
    state.cash[e.account] -= e.amount
    state.touch(e.account)
    state.insurance_fund += e.amount


def insurance_fund_configured(state: ClearingState, e: ev.InsuranceFundConfigured) -> None:
    """Set the fund's payout caps."""
    if not (min(e.max_per_event, e.max_per_period, e.period_ns) >= 0):
        raise InvariantViolation(f"bad insurance fund caps {e}")
    if not (not e.max_per_period or e.period_ns > 0):
        raise InvariantViolation("a per-period cap needs a period")
    state.fund_max_per_event = e.max_per_event
    state.fund_max_per_period = e.max_per_period
    state.fund_period_ns = e.period_ns


def insurance_fund_paid(state: ClearingState, e: ev.InsuranceFundPaid) -> None:
    """Cover part of a bankrupt account's shortfall from the fund, within its caps."""
    account(state, e.account)
    if not (0 < e.amount <= state.insurance_fund):
        raise InvariantViolation(f"insurance payout {e.amount} exceeds the fund")
    if not (e.amount <= state.fund_payable(e.ts_ns)):
        raise InvariantViolation(f"insurance payout {e.amount} exceeds the fund's caps")
    if state.fund_max_per_period:
        while state.fund_window and state.fund_window[0][0] <= e.ts_ns - state.fund_period_ns:
            state.fund_window.popleft()
        state.fund_window.append((e.ts_ns, e.amount))
    if not (e.amount <= -state.cash[e.account]):
        raise InvariantViolation(f"insurance payout {e.amount} exceeds the shortfall")
    state.insurance_fund -= e.amount
    state.insurance_paid += e.amount
    state.cash[e.account] += e.amount
    state.touch(e.account)
    state.insurance_fund_min = min(state.insurance_fund_min, state.insurance_fund)


def insurance_fund_swept(state: ClearingState, e: ev.InsuranceFundSwept) -> None:
    """Move the fund account's realised balance (signed) into the insurance fund."""
    account(state, e.account)
    if not (state.role.item(e.account) == FUND):
        raise InvariantViolation(f"account {e.account} is not the insurance fund's")
    if not (e.amount != 0 and state.insurance_fund + e.amount >= 0):
        raise InvariantViolation(f"sweep of {e.amount} would leave the fund negative")
    state.cash[e.account] -= e.amount
    state.touch(e.account)
    state.insurance_fund += e.amount
    state.fund_swept += e.amount
    state.insurance_fund_min = min(state.insurance_fund_min, state.insurance_fund)


def bad_debt_recorded(state: ClearingState, e: ev.BadDebtRecorded) -> None:
    """Write off the uncovered shortfall: the account's balance returns to zero."""
    account(state, e.account)
    if not (0 < e.amount <= -state.cash[e.account]):
        raise InvariantViolation(f"bad debt {e.amount} exceeds the shortfall")
    state.cash[e.account] += e.amount
    state.touch(e.account)
    state.bad_debt += e.amount


def liquidation_completed(state: ClearingState, e: ev.LiquidationCompleted) -> None:
    """Close the liquidation episode and count it."""
    _leave_queue(state, e)
    if state.position.item(e.account, e.market):
        state.last_partial_ns[e.account] = e.ts_ns  # a partial liquidation starts the cooldown
    state.liquidations += 1
    state.liquidated_notional += e.notional
    if state.oracle_ticks.item(e.market) > 0:  # the age of the oracle price the exchange saw
        lag = e.ts_ns - state.oracle_source_ns.item(e.market)
        state.oracle_lagged_liquidations += 1
        state.oracle_lag_sum_ns += lag
        state.oracle_lag_max_ns = max(state.oracle_lag_max_ns, lag)
