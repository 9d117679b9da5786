"""The leveraged population: each trader deposits margin, opens by market order, later closes.

At its entry time a trader deposits notional / leverage (at the current mark, the index
before the first mark) plus the taker fee, both rounded up, and sends a market order; at
its exit time, if it still holds a position, a reduce-only market order closes it.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import numpy as np
import simpy

from clearing import events as ev
from clearing.population import Population
from clearing.sim.clock import Clock
from clearing.sim.exchange import Exchange
from clearing.units import PPM, div_ceil, mul_div_ceil

ENTER, EXIT = 0, 1


def trader_process(
    env: Clock, exchange: Exchange, market: int, population: Population, first_account: int, asset: int = -1
) -> Generator[simpy.Event, Any, None]:
    """Run every trader's entry and exit in time order (ties: entries first, then by account)."""
    s = exchange.bus.state
    spec = s.markets[market]
    n = len(population.entry_ns)
    times = np.concatenate([population.entry_ns, population.exit_ns])
    actions = np.concatenate([np.full(n, ENTER), np.full(n, EXIT)])
    who = np.concatenate([np.arange(n), np.arange(n)])
    keep = times >= 0  # exit -1: held to the end
    order = np.lexsort((who[keep], actions[keep], times[keep]))
    schedule = zip(times[keep][order].tolist(), actions[keep][order].tolist(), who[keep][order].tolist(), strict=True)
    side, lots, leverage = population.side.tolist(), population.lots.tolist(), population.leverage.tolist()
    uses_collateral = population.collateral.tolist()
    for at, action, i in schedule:
        if at > env.now:
            yield env.timeout(at - env.now)
        account = first_account + i
        if action == EXIT:
            held = s.position.item(account, market)
            if held and not s.liquidating[account]:
                exchange.submit(env.now, account, market, -1 if held > 0 else 1, abs(held), "market", reduce_only=True)
            continue
        reference = int(s.mark_ticks[market]) or int(s.index_ticks[market])
        notional = lots[i] * reference * spec.unit_value
        margin = div_ceil(notional, leverage[i]) + int(mul_div_ceil(notional, spec.taker_fee_ppm, PPM))
        if asset >= 0 and uses_collateral[i]:
            deposit = exchange.bus.emit(
                ev.CollateralDeposited(ts_ns=env.now, account=account, asset=asset, amount=collateral_for(s, asset, margin))
            )
        else:
            deposit = exchange.bus.emit(ev.Deposited(ts_ns=env.now, account=account, amount=margin))
        exchange.submit(env.now, account, market, side[i], lots[i], "market", causes=(deposit,))


def collateral_for(s: Any, asset: int, margin_minor: int) -> int:
    """Return the asset amount (minor units) worth `margin_minor` after the haircut, rounded up.

    amount = ceil(margin x 10^decimals x 10^6 / (price x (10^6 - haircut))), at the asset's
    oracle price (its venue price before the first delivery).
    """
    price = int(s.asset_oracle_ticks[asset]) or int(s.asset_venue_ticks[asset])
    keep = PPM - int(s.asset_haircut_ppm[asset])
    return div_ceil(margin_minor * 10 ** int(s.asset_decimals[asset]) * PPM, price * keep)
