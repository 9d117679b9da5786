"""States for the liquidation policies' unit tests, folded through `apply` (no bus, no SimPy) from `tests.builders`."""

from __future__ import annotations

from clearing import events as ev
from clearing.core.state import ClearingState, MarginMode, Role, apply
from tests.builders import (
    accounts_opened,
    deposited,
    insurance_fund_deposited,
    mark_price_updated,
    market_listed,
    trade,
)


class Ledger:
    """A `ClearingState` and a fluent way to fold events into it, at time 0 unless given."""

    def __init__(self) -> None:
        self.state = ClearingState()

    def apply(self, event: ev.Event) -> Ledger:
        apply(self.state, event)
        return self

    def emit(self, kind, ts_ns=0, **fields):
        return self.apply(kind(ts_ns=ts_ns, **fields))

    def market(self, market=0, mmr_ppm=50_000, fee_ppm=0):
        return self.apply(market_listed(market, maintenance_margin_ppm=mmr_ppm, liquidation_fee_ppm=fee_ppm))

    def accounts(self, first, count, role=Role.TRADER):
        return self.apply(accounts_opened(first, count, role, MarginMode.CROSS))

    def deposit(self, account, amount):
        return self.apply(deposited(account, amount))

    def fund(self, amount, max_per_event=0):
        self.apply(insurance_fund_deposited(amount))
        if max_per_event:
            self.emit(ev.InsuranceFundConfigured, max_per_event=max_per_event, max_per_period=0, period_ns=0)
        return self

    def trade(self, buyer, seller, lots, price):
        return self.apply(trade(buyer, seller, lots, price))

    def mark(self, price, market=0):
        return self.apply(mark_price_updated(price, market))

    def oracle(self, price, market=0):
        return self.emit(ev.OraclePriceDelivered, market=market, price_ticks=price, confidence_ticks=0, ts_source_ns=0,
                         ts_published_ns=0)  # fmt: skip

    def breach(self, account, market=0):
        return self.emit(ev.MarginBreached, account=account, market=market, mark_ticks=int(self.state.mark_ticks[market]),
                         equity=0, requirement=0)  # fmt: skip


def one_market(mmr_ppm=50_000, fee_ppm=0, traders=8, counterparty_cash=10**9):
    """One market (unit value 1), `traders` traders, then the backstop (`traders`), a maker (`traders` + 1)
    and the insurance fund's account (`traders` + 2); the backstop and the maker with deep cash."""
    ledger = Ledger().market(mmr_ppm=mmr_ppm, fee_ppm=fee_ppm).accounts(0, traders)
    ledger.accounts(traders, 1, Role.LIQUIDITY_PROVIDER).accounts(traders + 1, 1, Role.MARKET_MAKER)
    ledger.accounts(traders + 2, 1, Role.INSURANCE_FUND)
    return ledger.deposit(traders, counterparty_cash).deposit(traders + 1, counterparty_cash)
