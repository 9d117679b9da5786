"""Valuing positions from the state: the price a market is valued at, a position's quote value, option terms.

One place for the rules every risk computation reads (`clearing.core.risk`,
`clearing.core.scenario_margin`, the agents and the reports): positions are valued at each
market's mark, its index before the first mark (`valuation_price`); an inverse perpetual's
value is its coin value at the settlement asset's oracle price; an option's terms and its
inputs to Black-76 (forward, strike, time, the surface's volatility) come from its
`contract_specified`. Pure: reads a `ClearingState`, changes nothing.
"""

from __future__ import annotations

from decimal import Decimal
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from clearing.core.inverse import coin_to_quote, position_coin_values
from clearing.core.margin import position_values
from clearing.core.options.implied import implied_volatility
from clearing.core.options.pricing import greeks
from clearing.core.options.surface import implied_vol
from clearing.core.state import ClearingState
from clearing.core.state.schema import Instrument
from clearing.units import Float64Array, Int64Array


def valuation_price(state: ClearingState, market: int) -> int:
    """Return the price (ticks) `market`'s positions are valued at: its mark, its index before the first mark.

    0 before either is known.
    """
    return int(state.mark_ticks[market]) or int(state.index_ticks[market])


def valuation_prices(state: ClearingState) -> Int64Array:
    """Return `valuation_price` of every market, shape (M,)."""
    return np.array([valuation_price(state, m) for m in range(len(state.mark_ticks))], np.int64)


def market_values(state: ClearingState, held: Int64Array, prices: Int64Array) -> Int64Array:
    """Return each position's signed value in quote minor units at `prices` (ticks), shape (N, M).

    A linear market's is q x price x unit value (`clearing.core.margin.position_values`);
    an inverse perpetual's is its coin value at the price valued at its settlement asset's
    oracle price (`inverse_values`), so equity, requirements and every liquidation rule read
    one quote number whatever the instrument.
    """
    values = position_values(held, prices, state.unit_value)
    for market in state.inverse:
        values[:, market] = inverse_values(state, market, held[:, market], int(prices[market]))
    return values


def inverse_values(state: ClearingState, market: int, lots: Int64Array, price_ticks: int) -> Int64Array:
    """Return the quote value of inverse positions of `lots` at `price_ticks`: floor(floor(-q x k / P) x S / 10^d).

    S is the settlement asset's oracle price (quote minor units per coin), the price margin
    values the coin the account holds at; both floors are against the account. 0 before
    the asset has a price. Source: docs/references.md [bitmex-inverse].
    """
    terms = state.inverse[market]
    coin = position_coin_values(lots, price_ticks, terms.k)
    price = int(state.asset_oracle_ticks[terms.asset])
    return coin_to_quote(coin, price, int(state.asset_decimals[terms.asset]))  # type: ignore[return-value]


def lot_value(state: ClearingState, market: int, price_ticks: int) -> int:
    """Return one lot's quote value at `price_ticks`: price x unit value, an inverse perpetual's contract value at any price."""
    if market in state.inverse:
        return state.markets[market].unit_value
    return price_ticks * state.markets[market].unit_value


def trade_notional(state: ClearingState, market: int, lots: int, price_ticks: int) -> int:
    """Return the quote notional of `lots` (absolute) traded at `price_ticks`: lots x price x unit value.

    An inverse perpetual's lot is worth its contract value (`unit_value`) at every price.
    """
    return lots * lot_value(state, market, price_ticks)


def value_of(state: ClearingState, market: int, lots: int, price_ticks: int) -> int:
    """Return the quote value of a position of `lots` (signed) on `market` at `price_ticks` (`value_at`, one position)."""
    if market in state.inverse:
        return int(inverse_values(state, market, np.array([lots], np.int64), price_ticks)[0])
    return lots * lot_value(state, market, price_ticks)


def value_at(state: ClearingState, market: int, lots: Int64Array | int, price_ticks: int) -> Int64Array:
    """Return the quote value of positions of `lots` (signed) on `market` at `price_ticks` (`market_values`' rule)."""
    lots = np.atleast_1d(np.asarray(lots, np.int64))
    if market in state.inverse:
        return inverse_values(state, market, lots, price_ticks)
    return lots * (price_ticks * int(state.unit_value[market]))  # type: ignore[no-any-return]


class OptionTerms(NamedTuple):
    """What the standard option margin needs of each live option market, in integers."""

    market: int
    underlying: int
    is_call: bool
    strike_ticks: int  # in the underlying's ticks
    underlying_unit_value: int  # quote minor units per option lot per underlying tick


def live_options(state: ClearingState) -> list[int]:
    """Return the option markets not yet expired, ascending."""
    contracts = sorted(state.contracts.items())
    return [m for m, c in contracts if c.instrument == Instrument.OPTION and m not in state.settlement_prices]


def option_terms(state: ClearingState) -> list[OptionTerms]:
    """Return the terms of every option market not yet expired, ascending (exact: `contract_specified` checks them)."""
    out = []
    for market in live_options(state):
        contract = state.contracts[market]
        u = state.markets[contract.underlying]
        tick, listing = Decimal(u.tick_size), state.markets[market]
        out.append(OptionTerms(
            market, contract.underlying, contract.option_type == "call", int(Decimal(contract.strike) / tick),
            int(Decimal(listing.lot_size) * tick * 10**listing.quote_decimals),
        ))  # fmt: skip
    return out


def underlying_of(state: ClearingState, market: int) -> int:
    """Return the market whose price moves `market` in a scenario: a future's or an option's underlying, else itself."""
    contract = state.contracts.get(market)
    return market if contract is None else contract.underlying


def option_inputs(
    state: ClearingState, terms: list[OptionTerms], prices: Int64Array, now: int
) -> tuple[float, Float64Array, npt.NDArray[np.bool_], Int64Array, Float64Array]:
    """Return (forward, strikes, is_call, tau_ns, vols) of options on one underlying, prices in its ticks, at `now`.

    The forward is the underlying's valuation price; an option's volatility is the
    underlying's surface at its strike and expiry (read before the surface's first expiry),
    its mark's implied volatility before any surface exists, 0 at or past its expiry.
    """
    u = terms[0].underlying
    forward = float(prices[u])
    strike = np.array([t.strike_ticks for t in terms], np.float64)
    call = np.array([t.is_call for t in terms], np.bool_)
    expiry = np.array([state.contracts[t.market].expiry_ns for t in terms], np.int64)
    tau = np.maximum(expiry - now, 0)
    live = tau > 0
    vol = np.zeros(len(terms))
    surface = state.surfaces.get(u)
    if live.any() and forward > 0:
        if surface is not None:
            at = min(now, surface.expiries_ns[0] - 1)
            vol[live] = implied_vol(surface, at, expiry[live], forward, strike[live])
        else:
            marks = np.array([prices[t.market] * _option_tick_ratio(state, t) for t in terms], np.float64)
            implied = implied_volatility(marks[live], forward, strike[live], tau[live], call[live])
            vol[live] = np.nan_to_num(implied, nan=0.0)
    return forward, strike, call, tau, vol


def delta_exposure(state: ClearingState, rows: Int64Array, underlying: int) -> Float64Array:
    """Return each account's delta on `underlying`: quote minor units per underlying tick, float64, shape (len(rows),).

    Linear markets on it count their unit value per lot (a future moving tick for tick with
    its underlying); options their Black-76 delta x their quote value per underlying tick
    (`option_inputs` at the current time).
    """
    held = state.position[rows]
    out = np.zeros(len(rows))
    terms = [t for t in option_terms(state) if t.underlying == underlying]
    options = {t.market for t in terms}
    for market in range(state.n_markets):
        linear = market not in options and market not in state.inverse and market not in state.settlement_prices
        if linear and underlying_of(state, market) == underlying:
            out += held[:, market] * float(state.unit_value[market])
    if terms:
        forward, strike, call, tau, vol = option_inputs(state, terms, valuation_prices(state), state.now_ns)
        if forward > 0:
            delta = greeks(forward, strike, vol, tau, call).delta * np.array([t.underlying_unit_value for t in terms])
            out += held[:, [t.market for t in terms]] @ delta
    return out


def exposure_notional(state: ClearingState, market: int, lots: int) -> int:
    """Return the quote notional of `lots` (absolute) on `market`; an option's is on its underlying.

    An option's: lots x its quote value per underlying tick x the underlying's valuation price.
    """
    contract = state.contracts.get(market)
    if contract is not None and contract.instrument == Instrument.OPTION:
        t = next(t for t in option_terms(state) if t.market == market)
        return lots * t.underlying_unit_value * valuation_price(state, t.underlying)
    return trade_notional(state, market, lots, valuation_price(state, market))


def _option_tick_ratio(state: ClearingState, t: OptionTerms) -> float:
    # The option's price tick in its underlying's ticks (an option mark times this is a price in underlying ticks).
    return float(Decimal(state.markets[t.market].tick_size) / Decimal(state.markets[t.underlying].tick_size))
