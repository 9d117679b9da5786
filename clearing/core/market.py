"""A market's order-entry terms (what the exchange checks before an order reaches the book), and trades off the book."""

from __future__ import annotations

from typing import NamedTuple

from clearing import events as ev


class MarketTerms(NamedTuple):
    """A market's order-entry terms: self-trade prevention, the market-order price band (ppm),
    initial margin base rate and size premium (ppm), open-interest caps (minor units), and
    BitMEX's risk limits (base limit and step, lots; a step of 0: none)."""

    self_trade_prevention: str = "expire_maker"
    band_ppm: int = 50_000
    initial_margin_ppm: int = 0
    size_premium_ppm: int = 0
    oi_caps_minor: tuple[int, int] = (0, 0)
    risk_limit_lots: tuple[int, int] = (0, 0)


def off_book_trade(
    ts_ns: int,
    causes: tuple[int, ...],
    market: int,
    account: int,
    counterparty: int,
    lots: int,
    price_ticks: int,
    fee: int = 0,
    liquidation: bool = False,
) -> ev.TradeExecuted:
    """Return the `trade_executed` of `lots` (signed: > 0 the account buys, < 0 it sells) against `counterparty`.

    A trade with no order and no book (`maker_order` = `taker_order` = 0) at `price_ticks`:
    a take-over by the insurance fund's account or the backstop (`liquidation`, no fee), or a
    position opened against the backstop (the account paying `fee`, its taker fee). The
    account is the taker (`taker_side` its side); the counterparty pays no fee.
    """
    buys = lots > 0
    buyer, seller = (account, counterparty) if buys else (counterparty, account)
    return ev.TradeExecuted(
        ts_ns=ts_ns, causes=causes, market=market, buyer=buyer, seller=seller, lots=abs(lots), price_ticks=price_ticks,
        buyer_fee=fee if buys else 0, seller_fee=0 if buys else fee, liquidation=liquidation, maker_order=0,
        taker_order=0, taker_side=1 if buys else -1,
    )  # fmt: skip
