"""The matching engine's shell: turns an order into events, one pure `match` call each.

`Exchange.submit` checks reduce-only and post-only, emits `order_placed`, asks
`clearing.core.book.match` what happens, and emits the self-trade cancels and fills in that
order, then the rest of the order: resting (limit, post-only) or expired (market, IOC).
With an initial margin rate, a trader's order that would grow its position is rejected
("insufficient_margin") unless its equity (across its markets) covers the initial margin
of the positions the order would leave, at the marks. An isolated account holds one
market: an order that would open a second is rejected ("isolated_market"). Market orders
fill only within the market's price band around the mark (price protection); what is
left expires as "price_band" (or "no_liquidity" when the other side is empty). Each
market has its own terms (`MarketTerms`: self-trade prevention, band, initial margin).
Fees: the taker pays taker_fee on each fill's notional (none on liquidation orders, which
pay the liquidation fee instead), the maker pays maker_fee; both round up.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from clearing import events as ev
from clearing.core.book import BUY, crosses, match
from clearing.core.book import Fill as BookFill
from clearing.core.inverse import fee_coin
from clearing.core.market import MarketTerms
from clearing.core.rates import initial_margin_ppm
from clearing.core.state import ClearingState, MarginMode, Role
from clearing.core.valuation import valuation_price, value_of
from clearing.sim.bus import EventBus
from clearing.sim.causes import Latest
from clearing.units import PPM, mul_div_ceil, mul_div_floor

TRADER = Role.TRADER
ISOLATED = MarginMode.ISOLATED


class OrderOutcome(NamedTuple):
    """What became of one order (value in quote minor units; seqs of its events)."""

    order_id: int
    filled: int
    remaining: int
    value: int
    trade_seqs: tuple[int, ...]
    rejected: str


class Exchange:
    """Order entry for every market of one run."""

    def __init__(self, bus: EventBus, self_trade_prevention: str, latest: Latest | None = None) -> None:
        self.bus = bus
        self.latest = latest or Latest()
        self.default_terms = MarketTerms(self_trade_prevention)
        self.terms: dict[int, MarketTerms] = {}

    def set_terms(self, market: int, terms: MarketTerms) -> None:
        """Give `market` its own terms (others keep the default: `MarketTerms` with the constructor's self-trade prevention)."""
        self.terms[market] = terms

    def terms_of(self, market: int) -> MarketTerms:
        """Return the order-entry terms of `market`."""
        return self.terms.get(market, self.default_terms)

    def submit(
        self,
        now_ns: int,
        account: int,
        market: int,
        side: int,
        lots: int,
        order_type: str,
        price_ticks: int = 0,
        *,
        reduce_only: bool = False,
        liquidation: bool = False,
        causes: tuple[int, ...] = (),
    ) -> OrderOutcome:
        """Place one order and run it through the book; return its outcome."""
        s = self.bus.state
        emit = self.bus.emit
        order_id = s.next_order_id
        book = s.books[market]
        terms = self.terms_of(market)
        reason = "expired" if market in s.settlement_prices else ""
        if reduce_only and not reason:
            held = s.position.item(account, market)
            if held == 0 or (held > 0) == (side > 0):
                reason = "would_increase"
            lots = min(lots, abs(held))
        if not reason and not (reduce_only or liquidation) and s.role.item(account) == TRADER:
            if s.margin_mode.item(account) == ISOLATED and _holds_other(s, account, market):
                reason = "isolated_market"
            elif terms.initial_margin_ppm:
                reason = self._initial_margin_check(account, market, side * lots)
        if order_type == "post_only" and not reason:
            opposite = book.best_ask() if side == BUY else book.best_bid()
            if opposite and crosses(side, price_ticks, opposite):
                reason = "would_take"
        if reason:
            emit(ev.OrderRejected(ts_ns=now_ns, causes=causes, order_id=order_id, account=account, market=market, reason=reason))
            return OrderOutcome(order_id, 0, lots, 0, (), reason)
        placed = emit(
            ev.OrderPlaced(
                ts_ns=now_ns, causes=causes, order_id=order_id, account=account, market=market, side=side, lots=lots,
                price_ticks=price_ticks, order_type=order_type, reduce_only=reduce_only, liquidation=liquidation,
            )
        )  # fmt: skip
        limit = self._market_limit(market, side) if order_type == "market" else price_ticks
        result = match(book, account, side, lots, limit, terms.self_trade_prevention)
        market_spec = s.markets[market]
        taker_fee = 0 if liquidation else market_spec.taker_fee_ppm
        maker_fee, unit_value = market_spec.maker_fee_ppm, market_spec.unit_value
        inverse = s.inverse.get(market)
        trades: list[int] = []
        makers: list[int] = []
        value = 0
        for step in result.steps:
            if not isinstance(step, BookFill):
                emit(
                    ev.OrderCancelled(
                        ts_ns=now_ns, causes=(placed,), order_id=step.maker_order, lots=step.lots, reason="self_trade"
                    )
                )
                continue
            if inverse is None:
                notional = step.lots * step.price * unit_value
                fee_taker = -(-notional * taker_fee // PPM)  # ceil, exact on Python ints (= mul_div_ceil)
                fee_maker = -(-notional * maker_fee // PPM)
            else:  # fees in the settlement asset, on the lots' coin value
                notional = step.lots * unit_value
                fee_taker = fee_coin(step.lots, step.price, inverse.k, taker_fee)
                fee_maker = fee_coin(step.lots, step.price, inverse.k, maker_fee)
            buyer, seller = (account, step.maker_account) if side == BUY else (step.maker_account, account)
            trades.append(
                emit(
                    ev.TradeExecuted(
                        ts_ns=now_ns, causes=(placed,), market=market, buyer=buyer, seller=seller, lots=step.lots,
                        price_ticks=step.price, buyer_fee=fee_taker if side == BUY else fee_maker,
                        seller_fee=fee_maker if side == BUY else fee_taker, liquidation=liquidation,
                        maker_order=step.maker_order, taker_order=order_id, taker_side=side,
                    )
                )
            )  # fmt: skip
            makers.append(step.maker_account)
            value += notional
        if trades:
            self.latest.traded(market, trades, makers)
        if result.remaining:
            if order_type in ("limit", "post_only") and not result.taker_expired:
                emit(ev.OrderRested(ts_ns=now_ns, causes=(placed,), order_id=order_id, lots=result.remaining))
            else:
                if result.taker_expired:
                    why = "self_trade"
                elif order_type == "market":
                    why = "no_liquidity" if not (book.best_ask() if side == BUY else book.best_bid()) else "price_band"
                else:
                    why = "ioc_remainder"
                emit(ev.OrderCancelled(ts_ns=now_ns, causes=(placed,), order_id=order_id, lots=result.remaining, reason=why))
        return OrderOutcome(order_id, result.filled, result.remaining, value, tuple(trades), "")

    def _initial_margin_check(self, account: int, market: int, lots: int) -> str:
        # Equity at the marks (the index before the first) must cover the initial margin of
        # the positions the order would leave: the sum over markets of ceil(|value| x IMR),
        # value = position x price x unit value (`value_of`), the order's market with the order.
        s = self.bus.state
        held = s.position.item(account, market)
        if abs(held + lots) <= abs(held):
            return ""
        equity = int(s.margin_cash(slice(account, account + 1))[0])
        requirement = 0
        for m in range(s.n_markets):
            position = s.position.item(account, m)
            if not (position or m == market):
                continue
            price = valuation_price(s, m)
            equity += value_of(s, m, position, price)
            after = position + lots if m == market else position
            terms = self.terms_of(m)
            lower, upper = terms.oi_caps_minor
            open_notional = 0
            if upper > lower:  # the market's open interest (long lots) at the price
                column = s.position[:, m]
                open_notional = abs(value_of(s, m, int(column[column > 0].sum()), price))
            base = terms.initial_margin_ppm
            if base and m in s.dynamic_rates:  # dynamic margin scales the initial rate with the maintenance ones
                base = -(-base * s.dynamic_rates[m][0] // PPM)
            maintenance = int(s.maintenance_margin_ppm[m])
            rate = int(
                initial_margin_ppm(
                    base or maintenance, np.array([after]), open_notional, terms.size_premium_ppm, lower, upper,
                    terms.risk_limit_lots, maintenance,
                )[0]
            )  # fmt: skip
            requirement += int(mul_div_ceil(abs(value_of(s, m, after, price)), rate, PPM))
        return "insufficient_margin" if equity < requirement else ""

    def _market_limit(self, market: int, side: int) -> int | None:
        # Price protection: a market order fills only within the band around the mark (the
        # index before the first mark), as venues' percent-price filters do.
        reference = valuation_price(self.bus.state, market)
        if not reference:
            return None
        band = self.terms_of(market).band_ppm
        if side == BUY:
            return int(mul_div_floor(reference, PPM + band, PPM))
        return max(1, int(mul_div_ceil(reference, PPM - band, PPM)))

    def cancel(self, now_ns: int, order_id: int, reason: str = "user", causes: tuple[int, ...] = ()) -> int:
        """Cancel a resting order for all its remaining lots; return the event's seq."""
        for book in self.bus.state.books:
            order = book.get(order_id)
            if order is not None:
                return self.bus.emit(
                    ev.OrderCancelled(ts_ns=now_ns, causes=causes, order_id=order_id, lots=order.lots, reason=reason)
                )
        raise ValueError(f"expected a resting order, was {order_id}")


def _holds_other(s: ClearingState, account: int, market: int) -> bool:
    # Whether the account holds a position on a market other than `market`.
    position = s.position[account]
    return any(position.item(m) for m in range(len(position)) if m != market)
