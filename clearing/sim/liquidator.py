"""Liquidators: take queued accounts one at a time, spend the service time, settle.

Each liquidator is one SimPy process, so the number of liquidators and the service time
bound how fast a liquidation storm clears and make the backlog visible. At its turn an
account is re-checked at the current mark: a recovered account is released. Otherwise its
resting orders on the market are cancelled and its position goes into the book as an IOC
order limited at mark -/+ max_slippage (execution "book") or at the account's bankruptcy
price (execution "bankruptcy", as Binance and BitMEX: no book fill ever needs the fund).
The backstop takes over whatever the book could not fill, at the mark moved by slippage
and size impact (`backstop_price_ticks`), and the balance left is settled by
`clearing.liquidation.settle` (fee, insurance fund, bad debt).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any, NamedTuple

import numpy as np
import simpy

from clearing import events as ev
from clearing.liquidation import backstop_price_ticks, fill_price_ticks, fillable_price, partial_lots, settle
from clearing.margin import bankruptcy_price, below_maintenance, collateral_value, equity, maintenance_amounts, notional
from clearing.sim.clock import Clock
from clearing.sim.exchange import Exchange
from clearing.waterfall import adl_allocation, adl_ranking, socialised_amounts

Guard = Callable[[int, tuple[int, ...]], bool]


class LiquidationParams(NamedTuple):
    """Fee and slippage parameters of the close-out (ppm and quote minor units)."""

    fee_ppm: int
    slippage_ppm: int
    impact_depth_minor: int
    max_slippage_ppm: int
    execution: str = "book"  # IOC limit: "book" mark -/+ max slippage, "bankruptcy" the bankruptcy price
    after_fund: str = "bad_debt"  # what the fund cannot cover: "bad_debt", "adl" or "socialise"
    adl_ranking: str = "pnl_leverage"
    partial: str = "none"  # how much one liquidation closes: "none" (all), "fraction", "restore"
    partial_fraction_ppm: int = 1_000_000
    partial_min_notional: int = 0
    cooldown_ns: int = 0
    max_notional_per_block: int = 0  # per account and block; 0: no cap
    vault_threshold_ppm: int = 666_667  # execution "vault": take-over below this share of maintenance


class BlockBudget:
    """How many liquidations the current block still allows, shared by every liquidator.

    Blocks are consecutive windows of `block_ns` from time 0 (dYdX: at most 50 per block).
    """

    def __init__(self, block_ns: int, max_per_block: int) -> None:
        self.block_ns = block_ns
        self.max_per_block = max_per_block
        self.block = -1
        self.used = 0

    def take(self, now_ns: int) -> int:
        """Take one slot now and return 0, or return how long to wait for the next block."""
        if not self.max_per_block:
            return 0
        block = now_ns // self.block_ns
        if block != self.block:
            self.block, self.used = block, 0
        if self.used < self.max_per_block:
            self.used += 1
            return 0
        return (block + 1) * self.block_ns - now_ns


def liquidator_process(
    env: Clock,
    exchange: Exchange,
    queue: simpy.PriorityStore,
    liquidity_provider: int,
    service_ns: int,
    params: LiquidationParams,
    guard: Guard | None = None,
    budget: BlockBudget | None = None,
) -> Generator[simpy.Event, Any, None]:
    """Serve the liquidation queue forever (waiting for the next block when this one is full)."""
    while True:
        item = yield queue.get()
        account, market, breach_seq = item.item
        if service_ns:
            yield env.timeout(service_ns)
        while budget is not None and (wait := budget.take(env.now)):
            yield env.timeout(wait)
        liquidate(exchange, env.now, account, market, breach_seq, liquidity_provider, params, guard)


def liquidate(
    exchange: Exchange,
    now_ns: int,
    account: int,
    market: int,
    breach_seq: int,
    liquidity_provider: int,
    params: LiquidationParams,
    guard: Guard | None = None,
) -> None:
    """Release an account the oracle guards protect or that has recovered; else close and settle it."""
    bus = exchange.bus
    s = bus.state
    if guard is not None and not guard(account, (breach_seq,)):
        bus.emit(
            ev.LiquidationCancelled(ts_ns=now_ns, causes=(breach_seq,), account=account, market=market, reason="oracle_guard")
        )
        return
    mark = int(s.mark_ticks[market])
    unit_value = int(s.unit_value[market])
    held = s.position[account : account + 1, market]
    backing = s.margin_cash(slice(account, account + 1))
    if not below_maintenance(backing, held, mark, unit_value, s.brackets[market])[0]:
        bus.emit(ev.LiquidationCancelled(ts_ns=now_ns, causes=(breach_seq,), account=account, market=market, reason="recovered"))
        return
    for order_id in [o.order_id for o in s.books[market].orders.values() if o.account == account]:
        exchange.cancel(now_ns, order_id, "liquidation", causes=(breach_seq,))
    held_lots = int(held[0])
    side = -1 if held_lots > 0 else 1
    brackets = s.brackets[market]
    cooling = bool(params.cooldown_ns) and now_ns - s.last_partial_ns.item(account) < params.cooldown_ns
    closing = partial_lots(
        params.partial, held_lots, int(backing[0]), mark, unit_value,
        lambda size: int(maintenance_amounts(np.array([size * mark * unit_value], np.int64), brackets)[0]),
        params.partial_fraction_ppm, params.partial_min_notional, in_cooldown=cooling and s.last_partial_ns.item(account) > 0,
        max_notional=params.max_notional_per_block,
    )  # fmt: skip
    lots = closing if held_lots > 0 else -closing
    takeover = params.execution == "vault" and _below_vault_threshold(s, account, market, held, mark, unit_value, params)
    if takeover:  # the backstop vault takes the whole position over at the bankruptcy price
        lots = held_lots
        trades: list[int] = []
        notional = 0
    else:
        if params.execution == "bankruptcy":
            limit = int(bankruptcy_price(s.margin_cash(slice(account, account + 1)), held, unit_value)[0])
        elif params.execution == "fillable":
            limit = _fillable_limit(s, account, market, held, mark, unit_value)
        else:
            limit = fill_price_ticks(lots, mark, params.max_slippage_ppm)
        outcome = exchange.submit(now_ns, account, market, side, abs(lots), "ioc", limit, liquidation=True, causes=(breach_seq,))
        trades = list(outcome.trade_seqs)
        notional = outcome.value
    remaining = s.position.item(account, market) - (held_lots - lots)  # of the part being closed
    if (
        remaining
        and not takeover
        and params.after_fund == "adl"
        and _fund_falls_short(s, account, market, remaining, mark, params, now_ns)
    ):
        adl = _deleverage(bus, now_ns, account, market, remaining, liquidity_provider, params, breach_seq)
        trades += [seq for seq, _value in adl]
        notional += sum(value for _seq, value in adl)
        remaining = s.position.item(account, market) - (held_lots - lots)
    if remaining:
        if takeover:
            backing = s.margin_cash(slice(account, account + 1))
            bound = int(bankruptcy_price(backing, s.position[account : account + 1, market], unit_value)[0])
        else:
            bound = _backstop_price(remaining, mark, unit_value, params)
        buyer, seller = (liquidity_provider, account) if side < 0 else (account, liquidity_provider)
        trades.append(
            bus.emit(
                ev.TradeExecuted(
                    ts_ns=now_ns, causes=(breach_seq,), market=market, buyer=buyer, seller=seller, lots=abs(remaining),
                    price_ticks=bound, buyer_fee=0, seller_fee=0, liquidation=True, maker_order=0, taker_order=0,
                    taker_side=side,
                )
            )
        )  # fmt: skip
        notional += abs(remaining) * bound * unit_value
        exchange.latest.trade[market] = trades[-1]
    if s.position.item(account, market):  # a partial liquidation: the rest stays open, nothing to settle yet
        bus.emit(
            ev.LiquidationCompleted(
                ts_ns=now_ns, causes=tuple(trades), account=account, market=market, lots=lots, notional=notional,
                fee=0, insurance_paid=0, bad_debt=0,
            )
        )  # fmt: skip
        return
    if s.cash.item(account) < 0:
        _seize_collateral(bus, now_ns, account, liquidity_provider, (trades[-1],))
    result = settle(s.cash.item(account), notional, params.fee_ppm, s.insurance_fund, s.fund_payable(now_ns))
    cause = (trades[-1],)
    if result.fee:
        bus.emit(ev.LiquidationFeeCharged(ts_ns=now_ns, causes=cause, account=account, amount=result.fee))
    if result.insurance_paid:
        bus.emit(ev.InsuranceFundPaid(ts_ns=now_ns, causes=cause, account=account, amount=result.insurance_paid))
    bad_debt = result.bad_debt
    if bad_debt and params.after_fund == "socialise":
        bad_debt -= _socialise(bus, now_ns, account, market, bad_debt, cause)
    if bad_debt:
        bus.emit(ev.BadDebtRecorded(ts_ns=now_ns, causes=cause, account=account, amount=bad_debt))
    bus.emit(
        ev.LiquidationCompleted(
            ts_ns=now_ns, causes=tuple(trades), account=account, market=market, lots=lots, notional=notional,
            fee=result.fee, insurance_paid=result.insurance_paid, bad_debt=bad_debt,
        )
    )  # fmt: skip


def _fillable_limit(s: Any, account: int, market: int, held: Any, mark: int, unit_value: int) -> int:
    # dYdX v4: the limit moves from the oracle (account exactly at maintenance) toward 1.5 x
    # the position's maintenance margin below it (account bankrupt), in one isolated position.
    oracle = int(s.oracle_ticks[market]) or mark
    backing = s.margin_cash(slice(account, account + 1))
    tnc = int(equity(backing, held, oracle, unit_value)[0])
    requirement = int(maintenance_amounts(notional(held, oracle, unit_value), s.brackets[market])[0])
    return fillable_price(int(held[0]), oracle, unit_value, tnc, max(requirement, 1), max(requirement, 1))


def _below_vault_threshold(
    s: Any, account: int, market: int, held: Any, mark: int, unit_value: int, params: LiquidationParams
) -> bool:
    # Hyperliquid: below 2/3 of maintenance the liquidator vault takes the position over.
    account_equity = int(equity(s.margin_cash(slice(account, account + 1)), held, mark, unit_value)[0])
    requirement = int(maintenance_amounts(notional(held, mark, unit_value), s.brackets[market])[0])
    return account_equity * 1_000_000 < requirement * params.vault_threshold_ppm


def _backstop_price(position: int, mark: int, unit_value: int, params: LiquidationParams) -> int:
    return backstop_price_ticks(
        position, mark, unit_value, params.slippage_ppm, params.impact_depth_minor, params.max_slippage_ppm
    )


def _fund_falls_short(
    s: Any, account: int, market: int, position: int, mark: int, params: LiquidationParams, now_ns: int
) -> bool:
    # Would the backstop's take-over of `position` (the part being closed; the rest is valued
    # at the mark) leave a shortfall larger than what the fund may pay under its caps?
    unit_value = int(s.unit_value[market])
    backing = int(s.margin_cash(slice(account, account + 1))[0])
    kept = s.position.item(account, market) - position
    balance = backing + position * _backstop_price(position, mark, unit_value, params) * unit_value + kept * mark * unit_value
    return balance < 0 and -balance > s.fund_payable(now_ns)


def _deleverage(
    bus: Any, now_ns: int, account: int, market: int, position: int, backstop: int, params: LiquidationParams, breach_seq: int
) -> list[tuple[int, int]]:
    # Close the position against ranked opposite positions at its bankruptcy price.
    s = bus.state
    unit_value = int(s.unit_value[market])
    price = int(
        bankruptcy_price(s.margin_cash(slice(account, account + 1)), s.position[account : account + 1, market], unit_value)[0]
    )
    column = s.position[:, market]
    eligible = (np.sign(column) == -np.sign(position)) & ~s.liquidating
    eligible[[account, backstop]] = False
    candidates = np.flatnonzero(eligible)
    order = adl_ranking(
        params.adl_ranking, candidates, column[candidates], s.entry_cost[candidates, market], s.margin_cash()[candidates],
        int(s.mark_ticks[market]), unit_value, seed=breach_seq,
    )  # fmt: skip
    ranked = candidates[order]
    sizes = np.abs(column[ranked]).tolist()
    out = []
    for counterparty, lots in zip(
        ranked.tolist(), adl_allocation(abs(position), sizes, params.adl_ranking == "pro_rata"), strict=True
    ):
        if lots:
            buyer, seller = (counterparty, account) if position > 0 else (account, counterparty)
            seq = bus.emit(
                ev.PositionDeleveraged(
                    ts_ns=now_ns, causes=(breach_seq,), market=market, account=account, buyer=buyer, seller=seller,
                    lots=lots, price_ticks=price,
                )
            )  # fmt: skip
            out.append((seq, lots * price * unit_value))
    return out


def _socialise(bus: Any, now_ns: int, account: int, market: int, loss: int, causes: tuple[int, ...]) -> int:
    # Charge what is left to every other open position of the market, in proportion to size,
    # the backstop's included: it holds the positions it took over like anyone else (Drift).
    s = bus.state
    column = s.position[:, market]
    holders = np.flatnonzero(column)
    holders = holders[holders != account]
    if holders.size == 0:
        return 0
    notionals = (np.abs(column[holders]) * (int(s.mark_ticks[market]) * int(s.unit_value[market]))).tolist()
    amounts = socialised_amounts(loss, notionals)
    bus.emit(
        ev.LossSocialised(
            ts_ns=now_ns, causes=causes, market=market, account=account, accounts=tuple(holders.tolist()), amounts=tuple(amounts)
        )
    )
    return sum(amounts)


def _seize_collateral(bus: Any, now_ns: int, account: int, buyer: int, causes: tuple[int, ...]) -> None:
    # A bankrupt-in-cash account's collateral goes to the backstop at the oracle price less
    # the haircut, which brings quote into the account before the settlement.
    s = bus.state
    for asset in range(len(s.assets)):
        amount = s.collateral.item(account, asset)
        if amount:
            one = s.collateral[account : account + 1, asset : asset + 1]
            value = int(
                collateral_value(one, s.asset_oracle_ticks[asset : asset + 1], s.asset_decimals[asset : asset + 1],
                                 s.asset_haircut_ppm[asset : asset + 1])[0]
            )  # fmt: skip
            bus.emit(
                ev.CollateralSeized(
                    ts_ns=now_ns, causes=causes, account=account, asset=asset, amount=amount, value=value, buyer=buyer
                )
            )
