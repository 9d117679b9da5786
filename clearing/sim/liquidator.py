"""Liquidators: take queued accounts one at a time, spend the service time, settle.

Each liquidator is one SimPy process, so the number of liquidators and the service time
bound how fast a liquidation storm clears and make the backlog visible. At its turn an
account is re-checked at the current mark: a recovered account is released. Otherwise its
resting orders on the market are cancelled and its position goes into the book as an IOC
order limited at mark -/+ max_slippage (execution "book") or at the account's bankruptcy
price (execution "bankruptcy", as Binance and BitMEX: no book fill ever needs the fund),
or at dYdX's fillable price (execution "fillable"). Execution "vault" (Hyperliquid) lets
the backstop take the whole position over at the bankruptcy price below a deeper
threshold; execution "fund" (Binance) sends the IOC at the bankruptcy price and lets the
insurance fund's account take over the rest at that price, within its notional limit,
then unwind it (`FundDesk`, `offload_process`). The backstop takes over whatever is
still left, at the mark moved by slippage and size impact (`backstop_price_ticks`), and
the balance left is settled by `clearing.core.liquidation.pricing.settle` (fee, insurance fund, bad
debt). Health is the account's, across its markets (`clearing.sim.risk.Risk`).
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from typing import Any

import numpy as np
import simpy

from clearing import events as ev
from clearing.core.liquidation.params import LiquidationParams
from clearing.core.liquidation.pricing import backstop_price_ticks, fill_price_ticks, fillable_price, partial_lots, settle
from clearing.core.liquidation.waterfall import adl_allocation, adl_ranking, socialised_amounts
from clearing.core.margin import bankruptcy_price, collateral_value, maintenance_amounts, notional, position_values
from clearing.core.risk import equity, fund_equity
from clearing.core.state import Role
from clearing.sim.clock import Clock
from clearing.sim.exchange import Exchange
from clearing.sim.live import Live
from clearing.sim.risk import Risk
from clearing.units import PPM, mul_div_ceil

Guard = Callable[[int, tuple[int, ...]], bool]
FUND = Role.INSURANCE_FUND


class BlockBudget:
    """How many liquidations the current block still allows, shared by every liquidator.

    Blocks are consecutive windows of `block_ns` from time 0 (dYdX: at most 50 per block).
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


class FundDesk:
    """The insurance fund's trading account (execution "fund", Binance's liquidation clearance).

    The fund takes over at the bankruptcy price what the book did not fill, as long as its
    net notional at the mark stays within `limit_ppm` of its equity (the fund plus its
    account's equity; Binance: 100 %); `offload_process` unwinds what it holds into the
    book and sweeps the realised result into the fund.
    """

    def __init__(self, account: int) -> None:
        self.account = account

    def room_lots(self, risk: Risk, market: int, lots: int, price_ticks: int, limit_ppm: int = PPM) -> int:
        """Return how many lots of a position of `lots` (signed, as held) the fund may take over at `price_ticks`.

        After taking n lots its net notional, the sum over markets of abs(position) x mark,
        must stay within limit x its equity, and the equity counts the take-over's loss
        against the mark: n <= (limit x equity - used) / (lot value + limit x loss per lot).
        Lots that offset a position the fund holds on the market come first and are free.
        """
        s = risk.bus.state
        prices = risk.prices()
        unit_value = int(s.unit_value[market])
        lot_value = int(prices[market]) * unit_value
        held = s.position.item(self.account, market)
        offsetting = min(abs(held), abs(lots)) if held and (held > 0) != (lots > 0) else 0
        used = int(np.abs(position_values(s.position[self.account : self.account + 1], prices, s.unit_value)).sum())
        loss = (price_ticks - int(prices[market])) * unit_value * (1 if lots > 0 else -1)  # per lot, at the mark
        equity = fund_equity(s) - offsetting * loss
        used -= offsetting * lot_value
        room = equity * limit_ppm - used * PPM
        per_lot = lot_value * PPM + limit_ppm * loss
        if room <= 0 or per_lot <= 0:
            return offsetting + (abs(lots) - offsetting if room > 0 else 0)
        return offsetting + room // per_lot


def offload_process(env: Clock, exchange: Exchange, fund: FundDesk, live: Live, risk: Risk) -> Generator[simpy.Event, Any, None]:
    """Run `offload` every interval, forever."""
    while True:
        yield env.timeout(live.params.fund.offload_interval_ns)
        p = live.params
        offload(exchange, env.now, fund, p.fund.offload_notional_minor, p.liquidation.max_slippage_ppm, risk)


def offload(exchange: Exchange, now_ns: int, fund: FundDesk, notional_minor: int, max_slippage_ppm: int, risk: Risk) -> None:
    """Sell down (buy back) up to `notional_minor` of each position the fund holds, then sweep.

    An IOC order limited at the mark -/+ `max_slippage_ppm`, paying the taker fee like any
    order; then the account's realised balance (wallet: cash plus the open positions' cost)
    is swept into the fund, a loss no larger than the fund.
    """
    bus = exchange.bus
    s = bus.state
    prices = risk.prices()
    for market in range(s.n_markets):
        held = s.position.item(fund.account, market)
        if not held or not prices[market]:
            continue
        lot_value = int(prices[market]) * int(s.unit_value[market])
        lots = min(abs(held), max(1, notional_minor // lot_value))
        limit = fill_price_ticks(held, int(prices[market]), max_slippage_ppm)
        exchange.submit(now_ns, fund.account, market, -1 if held > 0 else 1, lots, "ioc", limit, reduce_only=True)
    wallet = s.cash.item(fund.account) + int(s.entry_cost[fund.account].sum())
    amount = max(wallet, -s.insurance_fund)
    if amount:
        bus.emit(ev.InsuranceFundSwept(ts_ns=now_ns, account=fund.account, amount=amount))


def liquidator_process(
    env: Clock,
    exchange: Exchange,
    queue: simpy.PriorityStore,
    liquidity_provider: int,
    live: Live,
    guard: Sequence[Guard] | None = None,
    budget: BlockBudget | None = None,
    risk: Risk | None = None,
    fund: FundDesk | None = None,
) -> Generator[simpy.Event, Any, None]:
    """Serve the liquidation queue forever (waiting for the next block when this one is full).

    `guard` is one oracle guard per market (the breach market's is asked).
    """
    while True:
        item = yield queue.get()
        account, market, breach_seq = item.item
        if service_ns := live.params.queue.service_ns:
            yield env.timeout(service_ns)
        while budget is not None and (wait := budget.take(env.now, live.params.queue.block_ns, live.params.queue.max_per_block)):
            yield env.timeout(wait)
        liquidate(exchange, env.now, account, market, breach_seq, liquidity_provider, live.params.liquidation, guard, risk, fund)


def liquidate(
    exchange: Exchange,
    now_ns: int,
    account: int,
    market: int,
    breach_seq: int,
    liquidity_provider: int,
    params: LiquidationParams,
    guard: Sequence[Guard] | None = None,
    risk: Risk | None = None,
    fund: FundDesk | None = None,
) -> None:
    """Release an account the oracle guards protect or that has recovered; else close and settle it.

    `guard` is one oracle guard per market: every market the account holds
    must allow the liquidation (the breach market's first).

    An account with one position closes it by the partial policy; an account with positions
    on several markets (cross or portfolio) closes all of them, largest notional first, and
    settles once. `LiquidationCompleted` then names the first market closed, its lots, and
    the notional of every market closed.
    """
    bus = exchange.bus
    s = bus.state
    risk = risk or Risk(bus)
    if not _guards_allow(s, guard, account, market, breach_seq):
        bus.emit(
            ev.LiquidationCancelled(ts_ns=now_ns, causes=(breach_seq,), account=account, market=market, reason="oracle_guard")
        )
        return
    if not risk.below(account):
        bus.emit(ev.LiquidationCancelled(ts_ns=now_ns, causes=(breach_seq,), account=account, market=market, reason="recovered"))
        return
    prices = risk.prices()
    held = [m for m in range(s.n_markets) if s.position.item(account, m)]
    held.sort(key=lambda m: (-abs(s.position.item(account, m)) * int(prices[m]) * int(s.unit_value[m]), m))
    if len(held) == 1:
        plan = [(held[0], _partial(s, risk, now_ns, account, held[0], int(prices[held[0]]), params))]
    else:
        plan = [(m, s.position.item(account, m)) for m in held]
    trades: list[int] = []
    notional = 0
    closed: list[tuple[int, int]] = []  # (market, notional) of every market closed
    for m, lots in plan:
        closed_trades, closed_notional = _close(exchange, now_ns, account, m, lots, breach_seq, liquidity_provider, params,
                                                risk, fund)  # fmt: skip
        trades += closed_trades
        notional += closed_notional
        closed.append((m, closed_notional))
    first, lots = plan[0]
    if s.position[account].any():  # a partial liquidation: the rest stays open, nothing to settle yet
        bus.emit(
            ev.LiquidationCompleted(
                ts_ns=now_ns, causes=tuple(trades), account=account, market=first, lots=lots, notional=notional,
                fee=0, insurance_paid=0, bad_debt=0,
            )
        )  # fmt: skip
        return
    if s.cash.item(account) < 0:
        _seize_collateral(bus, now_ns, account, liquidity_provider, (trades[-1],))
    # The fee is each market's liquidation fee rate on its closed notional, rounded up per market.
    fee_due = sum(int(mul_div_ceil(value, s.markets[m].liquidation_fee_ppm, PPM)) for m, value in closed)
    result = settle(s.cash.item(account), fee_due, PPM, s.insurance_fund, s.fund_payable(now_ns))
    cause = (trades[-1],)
    if result.fee:
        bus.emit(ev.LiquidationFeeCharged(ts_ns=now_ns, causes=cause, account=account, amount=result.fee))
    if result.insurance_paid:
        bus.emit(ev.InsuranceFundPaid(ts_ns=now_ns, causes=cause, account=account, amount=result.insurance_paid))
    bad_debt = result.bad_debt
    if bad_debt and params.after_fund == "socialise":  # shared by the markets closed, by their notional
        shares = socialised_amounts(bad_debt, [max(value, 0) for _m, value in closed]) if len(closed) > 1 else [bad_debt]
        bad_debt -= sum(_socialise(bus, now_ns, account, m, share, cause) for (m, _v), share in zip(closed, shares, strict=True)
                        if share)  # fmt: skip
    if bad_debt:
        bus.emit(ev.BadDebtRecorded(ts_ns=now_ns, causes=cause, account=account, amount=bad_debt))
    bus.emit(
        ev.LiquidationCompleted(
            ts_ns=now_ns, causes=tuple(trades), account=account, market=first, lots=lots, notional=notional,
            fee=result.fee, insurance_paid=result.insurance_paid, bad_debt=bad_debt,
        )
    )  # fmt: skip


def _guards_allow(s: Any, guard: Sequence[Guard] | None, account: int, market: int, breach_seq: int) -> bool:
    # The guard of every market the account holds, the breach market's first.
    if guard is None:
        return True
    held = [m for m in range(s.n_markets) if m != market and s.position.item(account, m)]
    return all(guard[m](account, (breach_seq,)) for m in [market, *held])


def _partial(s: Any, risk: Risk, now_ns: int, account: int, market: int, mark: int, params: LiquidationParams) -> int:
    # How much of the one position this liquidation closes (signed, as held), by the partial policy.
    held_lots = s.position.item(account, market)
    unit_value = int(s.unit_value[market])
    sign = 1 if held_lots > 0 else -1
    last = s.last_partial_ns.item(account)
    closing = partial_lots(
        params.partial, held_lots, risk.backing(account, market), mark, unit_value,
        lambda size: risk.requirement_of(account, market, sign * size), params.partial_fraction_ppm,
        params.partial_min_notional, in_cooldown=bool(params.cooldown_ns) and last > 0 and now_ns - last < params.cooldown_ns,
        max_notional=params.max_notional_per_block,
    )  # fmt: skip
    return sign * closing


def _close(
    exchange: Exchange,
    now_ns: int,
    account: int,
    market: int,
    lots: int,
    breach_seq: int,
    liquidity_provider: int,
    params: LiquidationParams,
    risk: Risk,
    fund: FundDesk | None,
) -> tuple[list[int], int]:
    # Close `lots` (signed, as held) of the account's position on `market` by the execution
    # mode, then ADL, the fund or the backstop for what is left; return (trade seqs, notional).
    bus = exchange.bus
    s = bus.state
    mark = int(risk.prices()[market])
    unit_value = int(s.unit_value[market])
    for order_id in [o.order_id for o in s.books[market].orders_of(account)]:
        exchange.cancel(now_ns, order_id, "liquidation", causes=(breach_seq,))
    held_lots = s.position.item(account, market)
    held = s.position[account : account + 1, market]
    side = -1 if held_lots > 0 else 1
    takeover = params.execution == "vault" and _below_vault_threshold(risk, account, params)
    trades: list[int] = []
    notional = 0
    if takeover:  # the backstop vault takes the whole position over at the bankruptcy price
        lots = held_lots
    else:
        if params.execution in ("bankruptcy", "fund"):
            limit = _bankruptcy(risk, account, market)
        elif params.execution == "fillable":
            limit = _fillable_limit(s, risk, account, market, held, mark, unit_value)
        else:
            limit = fill_price_ticks(lots, mark, params.max_slippage_ppm)
        outcome = exchange.submit(now_ns, account, market, side, abs(lots), "ioc", limit, liquidation=True, causes=(breach_seq,))
        trades = list(outcome.trade_seqs)
        notional = outcome.value
    remaining = s.position.item(account, market) - (held_lots - lots)  # of the part being closed
    if remaining and params.execution == "fund" and fund is not None:
        price = _bankruptcy(risk, account, market)
        taken = min(abs(remaining), fund.room_lots(risk, market, remaining, price, params.fund_limit_ppm))
        if taken:
            buyer, seller = (fund.account, account) if side < 0 else (account, fund.account)
            trades.append(
                bus.emit(
                    ev.TradeExecuted(
                        ts_ns=now_ns, causes=(breach_seq,), market=market, buyer=buyer, seller=seller, lots=taken,
                        price_ticks=price, buyer_fee=0, seller_fee=0, liquidation=True, maker_order=0, taker_order=0,
                        taker_side=side,
                    )
                )
            )  # fmt: skip
            notional += taken * price * unit_value
            exchange.latest.traded(market, trades[-1:])
            remaining = s.position.item(account, market) - (held_lots - lots)
    if (
        remaining
        and not takeover
        and params.after_fund == "adl"
        and (params.execution == "fund" or _fund_falls_short(s, risk, account, market, remaining, mark, params, now_ns))
    ):
        adl = _deleverage(bus, risk, now_ns, account, market, remaining, liquidity_provider, params, breach_seq)
        trades += [seq for seq, _value in adl]
        notional += sum(value for _seq, value in adl)
        remaining = s.position.item(account, market) - (held_lots - lots)
    if remaining:
        bound = _bankruptcy(risk, account, market) if takeover else _backstop_price(remaining, mark, unit_value, params)
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
        exchange.latest.traded(market, trades[-1:])
    return trades, notional


def _bankruptcy(risk: Risk, account: int, market: int) -> int:
    # The bankruptcy price of the account's position on `market`, its other positions at their marks.
    s = risk.bus.state
    backing = np.array([risk.backing(account, market)], np.int64)
    return int(bankruptcy_price(backing, s.position[account : account + 1, market], int(s.unit_value[market]))[0])


def _fillable_limit(s: Any, risk: Risk, account: int, market: int, held: Any, mark: int, unit_value: int) -> int:
    # dYdX v4: the limit moves from the oracle (account exactly at maintenance) toward 1.5 x
    # the position's maintenance margin below it (account bankrupt). TNC and TMMR are the
    # account's, PMMR the position's, all with this market at its oracle price.
    oracle = int(s.oracle_ticks[market]) or mark
    equity, requirement = risk.measure(np.array([account]))
    value_shift = int(held[0]) * (oracle - mark) * unit_value  # this market at the oracle, not the mark
    tnc = int(equity[0]) + value_shift
    position = int(maintenance_amounts(notional(held, oracle, unit_value), s.brackets[market])[0])
    total = int(requirement[0]) - int(maintenance_amounts(notional(held, mark, unit_value), s.brackets[market])[0]) + position
    return fillable_price(int(held[0]), oracle, unit_value, tnc, max(total, 1), max(position, 1))


def _below_vault_threshold(risk: Risk, account: int, params: LiquidationParams) -> bool:
    # Hyperliquid: below 2/3 of maintenance the liquidator vault takes the position over.
    account_equity, requirement = risk.measure(np.array([account]))
    return int(account_equity[0]) * 1_000_000 < int(requirement[0]) * params.vault_threshold_ppm


def _backstop_price(position: int, mark: int, unit_value: int, params: LiquidationParams) -> int:
    return backstop_price_ticks(
        position, mark, unit_value, params.slippage_ppm, params.impact_depth_minor, params.max_slippage_ppm
    )


def _fund_falls_short(
    s: Any, risk: Risk, account: int, market: int, position: int, mark: int, params: LiquidationParams, now_ns: int
) -> bool:
    # Would the backstop's take-over of `position` (the part being closed; the rest and the
    # other markets are valued at the mark) leave a shortfall larger than the fund may pay?
    unit_value = int(s.unit_value[market])
    kept = s.position.item(account, market) - position
    balance = (
        risk.backing(account, market)
        + position * _backstop_price(position, mark, unit_value, params) * unit_value
        + kept * mark * unit_value
    )
    return balance < 0 and -balance > s.fund_payable(now_ns)


def _deleverage(
    bus: Any,
    risk: Risk,
    now_ns: int,
    account: int,
    market: int,
    position: int,
    backstop: int,
    params: LiquidationParams,
    breach_seq: int,
) -> list[tuple[int, int]]:
    # Close the position against ranked opposite positions at its bankruptcy price; the
    # backstop and the insurance fund's account are never deleveraged, nor is an account
    # that closing its whole position at that price would leave with negative equity (it
    # is itself for liquidation, and ADL would leave it owing).
    s = bus.state
    unit_value = int(s.unit_value[market])
    price = _bankruptcy(risk, account, market)
    column = s.position[:, market]
    candidates = np.flatnonzero(column < 0) if position > 0 else np.flatnonzero(column > 0)
    candidates = candidates[~s.liquidating[candidates] & (s.role[candidates] != FUND)]
    candidates = candidates[(candidates != account) & (candidates != backstop)]
    prices = risk.prices()
    held = column[candidates]
    backing = s.margin_cash(candidates)
    at_price = equity(s, candidates) + held * (price - int(prices[market])) * unit_value
    keep = at_price >= 0
    candidates, held, backing = candidates[keep], held[keep], backing[keep]
    limit = None if params.adl_ranking == "pro_rata" else 64
    while True:  # rank only as far as the position needs (pro rata shares it among all)
        order = adl_ranking(
            params.adl_ranking, candidates, held, s.entry_cost[candidates, market], backing, int(s.mark_ticks[market]),
            unit_value, seed=breach_seq, limit=limit,
        )  # fmt: skip
        if limit is None or len(order) == len(candidates) or int(np.abs(held[order]).sum()) >= abs(position):
            break
        limit *= 4
    ranked = candidates[order]
    allocation = np.array(adl_allocation(abs(position), np.abs(held[order]), params.adl_ranking == "pro_rata"), np.int64)
    out = []
    for i in np.flatnonzero(allocation).tolist():
        counterparty, lots = int(ranked[i]), int(allocation[i])
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
