"""Reducers of dated instruments: their contract terms, their expiry and the settlement of each position.

A market with a `contract_specified` is a dated future or a European option. At expiry the
shell cancels the market's resting orders, then emits `market_settled` (the settlement
price) and one `position_settled` per open position: each closes the position at that price
against the settlement ledger, exactly as a trade with the clearing house would, so the
ledger is zero again once the last position settled (long and short lots cancel).
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from clearing import events as ev
from clearing.core.inverse import coin_per_lot_tick
from clearing.core.options.surface import VolSurface
from clearing.core.state.reducers.checks import account, market, require
from clearing.core.state.schema import DATED, OPTION_TYPES, Instrument, InverseTerms
from clearing.errors import InvariantViolation
from clearing.units import to_decimal

if TYPE_CHECKING:
    from clearing.core.state.state import ClearingState


def _positive_decimal(text: str) -> bool:
    try:
        return to_decimal(text) > 0
    except ValueError:
        return False


def contract_specified(state: ClearingState, e: ev.ContractSpecified) -> None:
    """Record the contract of a newly listed market, before anything traded on it."""
    market(state, e.market)
    require(e.market not in state.contracts, "market %s already has a contract", e.market)
    book = state.books[e.market]
    require(not state.position[:, e.market].any() and not (book.best_bid() or book.best_ask()),
            "market %s traded before its contract", e.market)  # fmt: skip
    if e.instrument == Instrument.INVERSE_PERPETUAL:
        _inverse(state, e)
        return
    require(e.instrument in DATED, "unknown instrument %r of market %s", e.instrument, e.market)
    require(e.settlement_asset == -1, "dated market %s settles in the quote, not asset %s", e.market, e.settlement_asset)
    require(0 < e.settlement_window_ns <= e.expiry_ns and e.expiry_ns > e.ts_ns, "market %s: bad expiry or window", e.market)
    market(state, e.underlying)
    if e.instrument == Instrument.OPTION:
        require(e.underlying != e.market, "option market %s is its own underlying", e.market)
        require(e.option_type in OPTION_TYPES and _positive_decimal(e.strike), "option market %s: bad type or strike", e.market)
        tick, listing = Decimal(state.markets[e.underlying].tick_size), state.markets[e.market]
        exact = Decimal(e.strike) % tick == 0 and (Decimal(listing.lot_size) * tick * 10**listing.quote_decimals) % 1 == 0
        require(exact, "option market %s: strike or lot not whole in the underlying's ticks and minor units", e.market)
    else:
        require(e.option_type == e.strike == "", "future market %s has option terms", e.market)
    state.contracts[e.market] = e


def _inverse(state: ClearingState, e: ev.ContractSpecified) -> None:
    # An inverse perpetual: no expiry, its own underlying, a listed settlement asset without a
    # haircut (its PnL is that asset) and a contract whose coin value per lot-tick is whole.
    require(e.expiry_ns == e.settlement_window_ns == 0 and e.underlying == e.market and e.option_type == e.strike == "",
            "inverse perpetual %s has an expiry, an underlying or option terms", e.market)  # fmt: skip
    require(0 <= e.settlement_asset < len(state.assets), "inverse perpetual %s: unknown settlement asset %s",
            e.market, e.settlement_asset)  # fmt: skip
    asset = state.assets[e.settlement_asset]
    require(asset.haircut_ppm == 0, "inverse perpetual %s settles in %s, which has a haircut", e.market, asset.symbol)
    listing = state.markets[e.market]
    try:
        k = coin_per_lot_tick(listing.unit_value, listing.quote_decimals, listing.tick_size, asset.decimals)
    except ValueError as error:
        raise InvariantViolation(f"inverse perpetual {e.market}: {error}") from None
    state.contracts[e.market] = e
    state.inverse[e.market] = InverseTerms(e.settlement_asset, k)
    state.asset_pool.setdefault(e.settlement_asset, 0)
    state.asset_clearing.setdefault(e.settlement_asset, 0)


def market_settled(state: ClearingState, e: ev.MarketSettled) -> None:
    """Fix an expired market's settlement price; it takes no more orders."""
    market(state, e.market)
    contract = state.contracts.get(e.market)
    require(contract is not None and e.market not in state.settlement_prices, "market %s cannot settle", e.market)
    assert contract is not None
    require(e.ts_ns >= contract.expiry_ns, "market %s settled before its expiry", e.market)
    book = state.books[e.market]
    require(not (book.best_bid() or book.best_ask()) and all(o.market != e.market for o in state.incoming.values()),
            "market %s settles with orders open", e.market)  # fmt: skip
    floor = 1 if contract.instrument == Instrument.FUTURE else 0  # an out-of-the-money option settles at 0
    require(e.price_ticks >= floor and e.underlying_ticks > 0 and e.samples > 0, "bad settlement %s", e)
    state.settlement_prices[e.market] = e.price_ticks


def position_settled(state: ClearingState, e: ev.PositionSettled) -> None:
    """Close one position of an expired market at its settlement price, against the settlement ledger."""
    account(state, e.account)
    market(state, e.market)
    price = state.settlement_prices.get(e.market)
    require(price is not None and e.price_ticks == price, "market %s has not settled at %s", e.market, e.price_ticks)
    held = state.position.item(e.account, e.market)
    require(e.lots == held != 0, "account %s holds %s lots, not %s", e.account, held, e.lots)
    require(e.amount == e.lots * e.price_ticks * state.markets[e.market].unit_value, "bad settlement amount %s", e)
    state.cash[e.account] += e.amount
    state.settlement_clearing -= e.amount
    state.position[e.account, e.market] = 0
    state.entry_cost[e.account, e.market] = 0
    state.touch(e.account)


def volatility_surface_updated(state: ClearingState, e: ev.VolatilitySurfaceUpdated) -> None:
    """Replace an underlying's implied-volatility surface."""
    market(state, e.underlying)
    try:
        surface = VolSurface(e.expiries_ns, e.log_moneyness_ppm, e.vol_ppm)
    except ValueError as error:
        raise InvariantViolation(f"surface of market {e.underlying}: {error}") from None
    require(surface.expiries_ns[0] > e.ts_ns, "surface of market %s has an expiry in the past", e.underlying)
    state.surfaces[e.underlying] = surface
