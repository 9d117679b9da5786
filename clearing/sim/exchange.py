"""The matching engine's shell: turns an order into events, one pure `match` call each.

`Exchange.submit` checks reduce-only and post-only, emits `order_placed`, asks
`clearing.book.match` what happens, and emits the self-trade cancels and fills in that
order, then the rest of the order: resting (limit, post-only) or expired (market, IOC).
With an initial margin rate, a trader's order that would grow its position is rejected
("insufficient_margin") unless its equity covers the initial margin of the position the
order would leave, at the mark. Market orders fill only within `market_band` of the mark (price protection); what is
left expires as "price_band" (or "no_liquidity" when the other side is empty).
Fees: the taker pays taker_fee on each fill's notional (none on liquidation orders, which
pay the liquidation fee instead), the maker pays maker_fee; both round up.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from clearing import events as ev
from clearing.book import BUY, crosses, match
from clearing.book import Fill as BookFill
from clearing.margin import initial_margin_ppm
from clearing.sim.bus import EventBus
from clearing.sim.causes import Latest
from clearing.state import ROLE_CODES
from clearing.units import PPM, mul_div_ceil, mul_div_floor

TRADER = ROLE_CODES[ev.ROLE_TRADER]


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

    def __init__(
        self,
        bus: EventBus,
        self_trade_prevention: str,
        market_band_ppm: int = 50_000,
        latest: Latest | None = None,
        initial_margin_ppm: int = 0,
        size_premium_ppm: int = 0,
        oi_caps_minor: tuple[int, int] = (0, 0),
    ) -> None:
        self.bus = bus
        self.stp = self_trade_prevention
        self.band_ppm = market_band_ppm
        self.latest = latest or Latest()
        self.initial_margin_ppm = initial_margin_ppm
        self.size_premium_ppm = size_premium_ppm
        self.oi_caps_minor = oi_caps_minor

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
        reason = ""
        if reduce_only:
            held = s.position.item(account, market)
            if held == 0 or (held > 0) == (side > 0):
                reason = "would_increase"
            lots = min(lots, abs(held))
        if not reason and self.initial_margin_ppm and not (reduce_only or liquidation) and s.role[account] == TRADER:
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
        result = match(book, account, side, lots, limit, self.stp)
        market_spec = s.markets[market]
        taker_fee = 0 if liquidation else market_spec.taker_fee_ppm
        trades: list[int] = []
        value = 0
        for step in result.steps:
            if not isinstance(step, BookFill):
                emit(
                    ev.OrderCancelled(
                        ts_ns=now_ns, causes=(placed,), order_id=step.maker_order, lots=step.lots, reason="self_trade"
                    )
                )
                continue
            notional = step.lots * step.price * market_spec.unit_value
            fee_taker = int(mul_div_ceil(notional, taker_fee, PPM))
            fee_maker = int(mul_div_ceil(notional, market_spec.maker_fee_ppm, PPM))
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
            value += notional
        if trades:
            self.latest.trade[market] = trades[-1]
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
        # Equity at the mark (the index before the first) must cover the initial margin of
        # the position the order would leave: ceil(|position + order| x price x unit value x IMR).
        s = self.bus.state
        price = int(s.mark_ticks[market]) or int(s.index_ticks[market])
        unit_value = s.markets[market].unit_value
        held = s.position.item(account, market)
        equity = int(s.margin_cash(slice(account, account + 1))[0]) + held * price * unit_value
        after = abs(held + lots) * price * unit_value
        lower, upper = self.oi_caps_minor
        open_notional = 0
        if upper > lower:  # the market's open interest (long lots) at the price
            column = s.position[:, market]
            open_notional = int(column[column > 0].sum()) * price * unit_value
        rate = int(
            initial_margin_ppm(
                self.initial_margin_ppm, np.array([held + lots]), open_notional, self.size_premium_ppm, lower, upper
            )[0]
        )
        if abs(held + lots) > abs(held) and equity < int(mul_div_ceil(after, rate, PPM)):
            return "insufficient_margin"
        return ""

    def _market_limit(self, market: int, side: int) -> int | None:
        # Price protection: a market order fills only within the band around the mark (the
        # index before the first mark), as venues' percent-price filters do.
        s = self.bus.state
        reference = int(s.mark_ticks[market]) or int(s.index_ticks[market])
        if not reference:
            return None
        if side == BUY:
            return int(mul_div_floor(reference, PPM + self.band_ppm, PPM))
        return max(1, int(mul_div_ceil(reference, PPM - self.band_ppm, PPM)))

    def cancel(self, now_ns: int, order_id: int, reason: str = "user", causes: tuple[int, ...] = ()) -> int:
        """Cancel a resting order for all its remaining lots; return the event's seq."""
        for book in self.bus.state.books:
            order = book.orders.get(order_id)
            if order is not None:
                return self.bus.emit(
                    ev.OrderCancelled(ts_ns=now_ns, causes=causes, order_id=order_id, lots=order.lots, reason=reason)
                )
        raise ValueError(f"expected a resting order, was {order_id}")
