"""The leveraged population: each trader deposits margin, opens by market order, later closes.

A trader holds one leg per market its scenario gives a non-zero multiple (`population.legs`).
At its entry time it deposits, for each leg, notional / leverage (at the current mark, the
index before the first mark) plus the taker fee, both rounded up, and sends a market order
per leg; at its exit time, each leg it still holds is closed by a reduce-only market order.
An isolated trader keeps each leg in its own account (a subaccount, funded with that leg's
margin); a cross or portfolio trader keeps every leg in one account, funded with the sum.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from typing import Any, NamedTuple

import numpy as np
import simpy

from clearing import events as ev
from clearing.core.agents.population import Population
from clearing.core.inverse import fee_coin
from clearing.core.market import off_book_trade
from clearing.core.state import ClearingState
from clearing.core.valuation import exposure_notional, valuation_price
from clearing.sim.clock import Clock
from clearing.sim.exchange import Exchange
from clearing.units import PPM, Int64Array, div_ceil, mul_div_ceil

ENTER, EXIT = 0, 1


class Leg(NamedTuple):
    """One leg of every trader: its market, and each trader's lots, side and account on it (shape (N,) each)."""

    market: int
    lots: Int64Array
    side: Int64Array
    accounts: Int64Array


class Desk(NamedTuple):
    """What every entry of the population reads: the run's clock and exchange, the legs and the draw."""

    env: Clock
    exchange: Exchange
    legs: Sequence[Leg]
    population: Population
    asset: int = -1  # the collateral asset some traders post margin in
    after_entry: Callable[[list[int], int, int], None] | None = None
    counterparty: int = -1  # entries trade with the backstop, not the book
    starting_prices: Sequence[int] = ()
    backstop: int = -1  # who the positions that stood before the start were opened against


def trader_process(desk: Desk) -> Generator[simpy.Event, Any, None]:
    """Run every trader's entry and exit in time order (ties: entries first, then by account).

    `after_entry(accounts, market, last_fill_seq)` is called once a trader's entry orders
    filled (the margin monitor's `on_entry`, the stop-losses). With a `counterparty` account
    (the backstop), entries do not go through the book: each leg is a trade against it at the
    reference price, with the taker fee (the open interest that stood before the run starts);
    a market with no price yet (an option before its first model mark) at its
    `starting_prices` one. A trader whose entry time is before the start (`history_ns`)
    opens at time 0 against the `backstop` at its pre-history price (`Population.entry_ticks`).
    """
    env, exchange, population = desk.env, desk.exchange, desk.population
    s = exchange.bus.state
    n = len(population.entry_ns)
    times = np.concatenate([np.maximum(population.entry_ns, 0), population.exit_ns])
    actions = np.concatenate([np.full(n, ENTER), np.full(n, EXIT)])
    who = np.concatenate([np.arange(n), np.arange(n)])
    keep = times >= 0  # exit -1: held to the end
    order = np.lexsort((who[keep], actions[keep], times[keep]))
    schedule = zip(times[keep][order].tolist(), actions[keep][order].tolist(), who[keep][order].tolist(), strict=True)
    prior = population.entry_ticks.tolist() if population.entry_ticks is not None else [0] * n
    for at, action, i in schedule:
        if at > env.now:
            yield env.timeout(at - env.now)
        if action == EXIT:
            for leg in desk.legs:
                account = int(leg.accounts[i])
                held = s.position.item(account, leg.market)  # (a hedge leg may hold lots it did not enter with)
                if held and not s.liquidating[account]:
                    exchange.submit(env.now, account, leg.market, -1 if held > 0 else 1, abs(held), "market", reduce_only=True)
            continue
        enter(desk, i, price_ticks=prior[i])


def enter(desk: Desk, i: int, causes: tuple[int, ...] = (), price_ticks: int = 0, reentry: bool = False) -> None:
    """Deposit trader `i`'s margin and open its legs now (a first entry, or a re-entry citing `causes`).

    Margin per leg: notional / leverage (at the current mark, the index before the first
    mark; at `price_ticks` when given, a position opened before the start at that price) plus
    the taker fee, both rounded up, deposited per account; then a market order per leg, or
    a trade with the counterparty (with `price_ticks`: with the backstop, at that price). A
    re-entry deposits only what the account's cash left from its last position lacks (none when
    it has enough), and always sends market orders into the book: it is new flow, not the open
    interest that stood before the start.
    """
    env, exchange, population = desk.env, desk.exchange, desk.population
    s = exchange.bus.state
    centi = int(population.leverage_centi[i])
    margins: dict[int, int] = {}
    for leg in desk.legs:
        lots = int(leg.lots[i])
        if not lots:  # a strategy that does not hold this market
            continue
        spec = s.markets[leg.market]
        # At `price_ticks` (a linear market: `Scenario` checks it), or an option's on its underlying.
        notional = lots * price_ticks * spec.unit_value if price_ticks else exposure_notional(s, leg.market, lots)
        margin = div_ceil(notional * 100, centi) + int(mul_div_ceil(notional, spec.taker_fee_ppm, PPM))
        account = int(leg.accounts[i])
        margins[account] = margins.get(account, 0) + margin
    deposits = {}
    for account, margin in margins.items():
        if reentry:  # what is left of the last position's margin counts
            margin -= max(0, s.cash.item(account))
            if margin <= 0:
                deposits[account] = causes[0]
                continue
        if desk.asset >= 0 and population.collateral[i]:
            amount = collateral_for(s, desk.asset, margin)
            deposit = ev.CollateralDeposited(ts_ns=env.now, causes=causes, account=account, asset=desk.asset, amount=amount)
            deposits[account] = exchange.bus.emit(deposit)
        else:
            deposits[account] = exchange.bus.emit(ev.Deposited(ts_ns=env.now, causes=causes, account=account, amount=margin))
    fills: list[int] = []
    for leg in desk.legs:
        account, lots = int(leg.accounts[i]), int(leg.lots[i])
        if not lots:
            continue
        side = int(leg.side[i])
        if price_ticks:
            fills.append(open_against(exchange, env.now, account, desk.backstop, leg.market, side * lots, deposits[account],
                                      price=price_ticks))  # fmt: skip
        elif desk.counterparty >= 0 and not reentry:
            fallback = desk.starting_prices[leg.market] if desk.starting_prices else 0
            fills.append(
                open_against(exchange, env.now, account, desk.counterparty, leg.market, side * lots, deposits[account], fallback)
            )
        else:
            outcome = exchange.submit(env.now, account, leg.market, side, lots, "market", causes=(deposits[account],))
            fills += outcome.trade_seqs
    if desk.after_entry is not None and fills:
        desk.after_entry(list(deposits), desk.legs[0].market, fills[-1])


def open_against(
    exchange: Exchange, now_ns: int, account: int, counterparty: int, market: int, lots: int, cause: int, fallback: int = 0,
    price: int = 0,
) -> int:  # fmt: skip
    """Open `lots` (signed) by a trade with `counterparty` at `price` or the valuation price; return its seq.

    The valuation price is the mark, the index before it, `fallback` before either; the
    trader pays the taker fee; no order, no book.
    """
    s = exchange.bus.state
    spec = s.markets[market]
    price = price or valuation_price(s, market) or fallback
    terms = s.inverse.get(market)
    if terms is None:
        fee = int(mul_div_ceil(abs(lots) * price * spec.unit_value, spec.taker_fee_ppm, PPM))
    else:  # in the settlement asset
        fee = fee_coin(abs(lots), price, terms.k, spec.taker_fee_ppm)
    return exchange.bus.emit(off_book_trade(now_ns, (cause,), market, account, counterparty, lots, price, fee=fee))


def collateral_for(s: ClearingState, asset: int, margin_minor: int) -> int:
    """Return the asset amount (minor units) worth `margin_minor` after the haircut, rounded up.

    amount = ceil(margin x 10^decimals x 10^6 / (price x (10^6 - haircut))), at the asset's
    oracle price (its venue price before the first delivery).
    """
    price = int(s.asset_oracle_ticks[asset]) or int(s.asset_venue_ticks[asset])
    keep = PPM - int(s.asset_haircut_ppm[asset])
    return div_ceil(margin_minor * 10 ** int(s.asset_decimals[asset]) * PPM, price * keep)
