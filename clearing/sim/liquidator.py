"""Liquidators: the SimPy processes that serve the liquidation queue, and the order of a liquidation's steps.

Each liquidator is one SimPy process: it takes a queued account, spends the service time,
waits for room in the block (`BlockBudget`), then `liquidate` runs the steps in order. Every
decision is a pure call into `clearing.core.liquidation` on the state as it stands; this
module only orders the steps, waits and emits the events the decisions name:

1. the oracle guards of every market held (`plan.guard_markets`), then the re-check
   (`clearing.core.risk.below_requirement`): a protected or recovered account is released;
2. the plan (`plan.close_plan`): which markets, in which order, how many lots;
3. per market: its resting orders cancelled; the execution mode (`modes.EXECUTIONS`,
   looked up once) gives the vault's take-over or the IOC's limit, sent through the
   exchange; what the book left goes to the insurance fund's account
   (`fund.fund_takeover`), then to ADL (`adl.deleveraging`, when the post-fund step
   `waterfall.AFTER_FUND` deleverages and the mode says so), then to the backstop
   (`backstop.takeover_price`); each later step is asked after the earlier ones' events;
4. settlement (`settlement`): collateral seized, the fee, the fund's payout, a socialised
   loss, bad debt, and `liquidation_completed`.

`offload_process` unwinds what the insurance fund's account holds (`fund.offload_orders`,
`fund.sweep_amount`). Sources: docs/references.md [binance-liq], [binance-insurance-fund],
[dydx-v4-liq], [hyperliquid-liq].
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from typing import Any

import simpy

from clearing import events as ev
from clearing.core.liquidation.adl import deleveraged_events, deleveraging
from clearing.core.liquidation.backstop import takeover_price
from clearing.core.liquidation.fund import fund_takeover, offload_orders, sweep_amount
from clearing.core.liquidation.modes import EXECUTIONS, ExecutionPolicy
from clearing.core.liquidation.params import LiquidationParams
from clearing.core.liquidation.plan import close_plan, guard_markets
from clearing.core.liquidation.settlement import Closed, collateral_seizures, debt_repayments, settlement, socialisation
from clearing.core.liquidation.waterfall import AFTER_FUND, AfterFundPolicy
from clearing.core.market import off_book_trade
from clearing.core.risk import below_requirement
from clearing.core.valuation import trade_notional
from clearing.sim.clock import Clock
from clearing.sim.exchange import Exchange
from clearing.sim.live import Live

Guard = Callable[[int, tuple[int, ...]], bool]


class BlockBudget:
    """How many liquidations the current block still allows, shared by every liquidator.

    Blocks are consecutive windows of `block_ns` from time 0 (dYdX: at most 50 per block;
    docs/references.md [dydx-v4-liq]).
    """

    def __init__(self) -> None:
        self.block = -1
        self.used = 0

    def take(self, now_ns: int, block_ns: int, max_per_block: int) -> int:
        """Take one slot now and return 0, or return how long to wait for the next block (no cap: always 0)."""
        if not max_per_block:
            return 0
        block = now_ns // block_ns
        if block != self.block:
            self.block, self.used = block, 0
        if self.used < max_per_block:
            self.used += 1
            return 0
        return (block + 1) * block_ns - now_ns


def offload_process(env: Clock, exchange: Exchange, fund_account: int, live: Live) -> Generator[simpy.Event, Any, None]:
    """Run `offload` for the insurance fund's account every interval, forever."""
    while True:
        yield env.timeout(live.params.fund.offload_interval_ns)
        p = live.params
        offload(exchange, env.now, fund_account, p.fund.offload_notional_minor, p.liquidation.max_slippage_ppm)


def offload(exchange: Exchange, now_ns: int, fund_account: int, notional_minor: int, max_slippage_ppm: int) -> None:
    """Send the fund's unwinding orders (`fund.offload_orders`), then sweep its realised result (`fund.sweep_amount`)."""
    s = exchange.bus.state
    for order in offload_orders(s, fund_account, notional_minor, max_slippage_ppm):
        exchange.submit(now_ns, fund_account, order.market, order.side, order.lots, "ioc", order.limit_ticks, reduce_only=True)
    amount = sweep_amount(s, fund_account)
    if amount:
        exchange.bus.emit(ev.InsuranceFundSwept(ts_ns=now_ns, account=fund_account, amount=amount))


def liquidator_process(
    env: Clock,
    exchange: Exchange,
    queue: simpy.PriorityStore,
    backstop: int,
    live: Live,
    guard: Sequence[Guard] | None = None,
    budget: BlockBudget | None = None,
    fund_account: int | None = None,
    closed: Callable[[int, int], None] | None = None,
) -> Generator[simpy.Event, Any, None]:
    """Serve the liquidation queue forever: the service time, then a slot in the block, then `liquidate`.

    `closed(account, seq)` is told of every account a liquidation closed out and settled
    (`seq`: its `liquidation_completed`), for the traders' re-entry.
    """
    while True:
        item = yield queue.get()
        account, market, breach_seq = item.item
        if not live.params.liquidation.engine_on:  # switched off by a fork: the queued are released
            exchange.bus.emit(ev.LiquidationCancelled(ts_ns=env.now, causes=(breach_seq,), account=account, market=market,
                                                      reason="engine_off"))  # fmt: skip
            continue
        if service_ns := live.params.queue.service_ns:
            yield env.timeout(service_ns)
        while budget is not None and (wait := budget.take(env.now, live.params.queue.block_ns, live.params.queue.max_per_block)):
            yield env.timeout(wait)
        if not live.params.liquidation.engine_on:  # switched off while this one waited
            exchange.bus.emit(ev.LiquidationCancelled(ts_ns=env.now, causes=(breach_seq,), account=account, market=market,
                                                      reason="engine_off"))  # fmt: skip
            continue
        done = liquidate(exchange, env.now, account, market, breach_seq, backstop, live.params.liquidation, guard, fund_account)
        if done >= 0 and closed is not None:
            closed(account, done)


def liquidate(
    exchange: Exchange,
    now_ns: int,
    account: int,
    market: int,
    breach_seq: int,
    backstop: int,
    params: LiquidationParams,
    guard: Sequence[Guard] | None = None,
    fund_account: int | None = None,
) -> int:
    """Release an account its oracle guards protect or that has recovered; else close and settle it.

    Return the seq of the `liquidation_completed` that settled the account, -1 when it was
    released or only partly closed.

    `guard` is one oracle guard per market. A partial liquidation (a position left open)
    ends with `liquidation_completed` and nothing settled; otherwise the account is settled
    once. `liquidation_completed` names the first market closed, its lots, and the notional
    of every market closed.
    """
    bus = exchange.bus
    s = bus.state
    cause = (breach_seq,)
    if guard is not None and not all(guard[m](account, cause) for m in guard_markets(s, account, market)):
        bus.emit(ev.LiquidationCancelled(ts_ns=now_ns, causes=cause, account=account, market=market, reason="oracle_guard"))
        return -1
    if not below_requirement(s, account):
        bus.emit(ev.LiquidationCancelled(ts_ns=now_ns, causes=cause, account=account, market=market, reason="recovered"))
        return -1
    mode, after_fund = EXECUTIONS[params.execution], AFTER_FUND[params.after_fund]
    plan = close_plan(s, account, now_ns, params)
    trades: list[int] = []
    closed: list[Closed] = []
    for m, lots in plan:
        closed_trades, closed_notional = _close(exchange, now_ns, account, m, lots, breach_seq, backstop, params, mode,
                                                after_fund, fund_account)  # fmt: skip
        trades += closed_trades
        closed.append(Closed(m, closed_notional))
    first, lots = plan[0]
    notional = sum(value for _m, value in closed)
    if s.position[account].any():  # a partial liquidation: the rest stays open, nothing to settle yet
        bus.emit(
            ev.LiquidationCompleted(
                ts_ns=now_ns, causes=tuple(trades), account=account, market=first, lots=lots, notional=notional,
                fee=0, insurance_paid=0, bad_debt=0,
            )
        )  # fmt: skip
        return -1
    last = (trades[-1],)
    for asset, amount, value in debt_repayments(s, account):  # a coin debt becomes a quote one
        bus.emit(ev.CollateralSeized(ts_ns=now_ns, causes=last, account=account, asset=asset, amount=amount, value=value,
                                     buyer=backstop))  # fmt: skip
    if s.cash.item(account) < 0:
        for asset, amount, value in collateral_seizures(s, account):
            bus.emit(ev.CollateralSeized(ts_ns=now_ns, causes=last, account=account, asset=asset, amount=amount, value=value,
                                         buyer=backstop))  # fmt: skip
    result = settlement(s, account, closed, now_ns)
    if result.fee:
        bus.emit(ev.LiquidationFeeCharged(ts_ns=now_ns, causes=last, account=account, amount=result.fee))
    if result.insurance_paid:
        bus.emit(ev.InsuranceFundPaid(ts_ns=now_ns, causes=last, account=account, amount=result.insurance_paid))
    bad_debt = result.bad_debt
    if bad_debt and after_fund.socialises:
        for charge in socialisation(s, account, closed, bad_debt):
            bus.emit(ev.LossSocialised(ts_ns=now_ns, causes=last, market=charge.market, account=account,
                                       accounts=charge.accounts, amounts=charge.amounts))  # fmt: skip
            bad_debt -= sum(charge.amounts)
    if bad_debt:
        bus.emit(ev.BadDebtRecorded(ts_ns=now_ns, causes=last, account=account, amount=bad_debt))
    return bus.emit(
        ev.LiquidationCompleted(
            ts_ns=now_ns, causes=tuple(trades), account=account, market=first, lots=lots, notional=notional,
            fee=result.fee, insurance_paid=result.insurance_paid, bad_debt=bad_debt,
        )
    )  # fmt: skip


def _close(
    exchange: Exchange,
    now_ns: int,
    account: int,
    market: int,
    lots: int,
    breach_seq: int,
    backstop: int,
    params: LiquidationParams,
    mode: ExecutionPolicy,
    after_fund: AfterFundPolicy,
    fund_account: int | None,
) -> tuple[list[int], int]:
    # Close `lots` (signed, as held) of the account's position on `market`: the vault's
    # take-over or the IOC, then the fund's take-over, ADL and the backstop for what is
    # left; return (trade seqs, notional closed).
    bus = exchange.bus
    s = bus.state
    cause = (breach_seq,)
    for order in s.books[market].orders_of(account):
        exchange.cancel(now_ns, order.order_id, "liquidation", causes=cause)
    held = s.position.item(account, market)
    vault = mode.vault_takes_over(s, account, params)
    if vault:  # the backstop vault takes the whole position over at the bankruptcy price, no IOC
        lots = held
    trades: list[int] = []
    notional = 0
    if not vault:
        limit = mode.limit_ticks(s, account, market, lots, params)
        outcome = exchange.submit(now_ns, account, market, -1 if held > 0 else 1, abs(lots), "ioc", limit, liquidation=True,
                                  causes=cause)  # fmt: skip
        trades, notional = list(outcome.trade_seqs), outcome.value
    remaining = s.position.item(account, market) - (held - lots)  # of the part being closed
    if remaining and mode.fund_takes_over and fund_account is not None:
        taken, price = fund_takeover(s, fund_account, account, market, remaining, params.fund_limit_ppm)
        if taken:
            sold = -taken if held > 0 else taken
            trades.append(bus.emit(off_book_trade(now_ns, cause, market, account, fund_account, sold, price, liquidation=True)))
            notional += trade_notional(s, market, taken, price)
            exchange.latest.traded(market, trades[-1:])
            remaining = s.position.item(account, market) - (held - lots)
    if remaining and not vault and after_fund.deleverages and mode.adl_applies(s, account, market, remaining, params, now_ns):
        plan = deleveraging(s, account, market, remaining, backstop, params.adl_ranking, breach_seq)
        for event in deleveraged_events(plan, now_ns, cause, market, account, remaining):
            trades.append(bus.emit(event))
            notional += trade_notional(s, market, event.lots, plan.price_ticks)
        remaining = s.position.item(account, market) - (held - lots)
    if remaining:
        price = takeover_price(s, account, market, remaining, params, vault)
        trades.append(bus.emit(off_book_trade(now_ns, cause, market, account, backstop, -remaining, price, liquidation=True)))
        notional += trade_notional(s, market, abs(remaining), price)
        exchange.latest.traded(market, trades[-1:])
    return trades, notional
