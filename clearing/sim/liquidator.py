"""Liquidators: take queued accounts one at a time, spend the service time, settle.

Each liquidator is one SimPy process, so the number of liquidators and the service time
bound how fast a liquidation storm clears and make the backlog visible. At its turn an
account is re-checked at the current mark: a recovered account is released, otherwise
`clearing.liquidation.close_out` decides the fill and the settlement.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any, NamedTuple

import simpy

from clearing import events as ev
from clearing.liquidation import close_out
from clearing.margin import below_maintenance
from clearing.sim.bus import EventBus


class LiquidationParams(NamedTuple):
    """Fee and slippage parameters of the close-out (ppm and quote minor units)."""

    fee_ppm: int
    slippage_ppm: int
    impact_depth_minor: int
    max_slippage_ppm: int


def liquidator_process(
    env: simpy.Environment,
    bus: EventBus,
    queue: simpy.Store,
    liquidity_provider: int,
    service_ns: int,
    params: LiquidationParams,
) -> Generator[simpy.Event, Any, None]:
    """Serve the liquidation queue forever."""
    while True:
        account, market, breach_seq = yield queue.get()
        if service_ns:
            yield env.timeout(service_ns)
        settle(bus, env.now, account, market, breach_seq, liquidity_provider, params)


def settle(
    bus: EventBus, now_ns: int, account: int, market: int, breach_seq: int, liquidity_provider: int, params: LiquidationParams
) -> None:
    """Release a recovered account, or close its position and settle the result, by events."""
    s = bus.state
    mark = int(s.mark_ticks[market])
    unit_value = int(s.unit_value[market])
    held = s.position[account : account + 1, market]
    if not below_maintenance(s.cash[account : account + 1], held, mark, unit_value, int(s.maintenance_margin_ppm[market]))[0]:
        bus.emit(ev.LiquidationCancelled(ts_ns=now_ns, causes=(breach_seq,), account=account, market=market, reason="recovered"))
        return
    lots = int(held[0])
    plan = close_out(int(s.cash[account]), lots, mark, unit_value, params.fee_ppm, s.insurance_fund, *params[1:])
    buyer, seller = (liquidity_provider, account) if lots > 0 else (account, liquidity_provider)
    trade = bus.emit(
        ev.TradeExecuted(
            ts_ns=now_ns, causes=(breach_seq,), market=market, buyer=buyer, seller=seller, lots=abs(lots),
            price_ticks=plan.price_ticks, buyer_fee=0, seller_fee=0, liquidation=True,
        )
    )  # fmt: skip
    if plan.fee:
        bus.emit(ev.LiquidationFeeCharged(ts_ns=now_ns, causes=(trade,), account=account, amount=plan.fee))
    if plan.insurance_paid:
        bus.emit(ev.InsuranceFundPaid(ts_ns=now_ns, causes=(trade,), account=account, amount=plan.insurance_paid))
    if plan.bad_debt:
        bus.emit(ev.BadDebtRecorded(ts_ns=now_ns, causes=(trade,), account=account, amount=plan.bad_debt))
    bus.emit(
        ev.LiquidationCompleted(
            ts_ns=now_ns, causes=(trade,), account=account, market=market, lots=lots, notional=plan.notional,
            fee=plan.fee, insurance_paid=plan.insurance_paid, bad_debt=plan.bad_debt,
        )
    )  # fmt: skip
