"""Hand-built liquidation cases around partial closes, ADL and the fund's caps (regressions)."""

from clearing import events as ev
from clearing.core.book import BUY
from clearing.core.invariants import violations
from clearing.core.liquidation.params import AdlRanking, AfterFund, Execution, LiquidationParams, Partial
from clearing.core.state import ClearingState, apply
from clearing.core.state.schema import Role
from clearing.log.writer import MemorySink
from clearing.sim.bus import EventBus
from clearing.sim.exchange import Exchange
from clearing.sim.liquidator import liquidate

BACKSTOP, MAKER = 4, 5


class Book:
    """Four traders, the backstop and a maker on one market (unit value 1, maintenance 5 %)."""

    def __init__(self):
        self.sink = MemorySink()
        self.bus = EventBus(ClearingState(), self.sink)
        self.exchange = Exchange(self.bus, "expire_maker")
        self.emit(ev.MarketListed, market=0, symbol="X", tick_size="1", lot_size="1", quote_decimals=0, unit_value=1,
                  maintenance_margin_ppm=50_000, liquidation_fee_ppm=0, taker_fee_ppm=0, maker_fee_ppm=0,
                  bracket_floors=(0,), bracket_rates_ppm=(50_000,))  # fmt: skip
        self.emit(ev.AccountsOpened, first_account=0, count=4, role=Role.TRADER.label)
        self.emit(ev.AccountsOpened, first_account=BACKSTOP, count=1, role=Role.LIQUIDITY_PROVIDER.label)
        self.emit(ev.AccountsOpened, first_account=MAKER, count=1, role=Role.MARKET_MAKER.label)
        self.emit(ev.Deposited, account=BACKSTOP, amount=10**12)
        self.mark(1000)

    def emit(self, kind, **fields):
        return self.bus.emit(kind(ts_ns=0, **fields))

    def mark(self, price):
        self.emit(ev.MarkPriceUpdated, market=0, price_ticks=price, index_ticks=price, method="oracle")

    def trade(self, buyer, seller, lots, price):
        self.emit(ev.TradeExecuted, market=0, buyer=buyer, seller=seller, lots=lots, price_ticks=price, buyer_fee=0,
                  seller_fee=0, liquidation=False, maker_order=0, taker_order=0, taker_side=BUY)  # fmt: skip

    def liquidate(self, account, params):
        breach = self.emit(ev.MarginBreached, account=account, market=0, mark_ticks=int(self.bus.state.mark_ticks[0]),
                           equity=0, requirement=0)  # fmt: skip
        liquidate(self.exchange, 0, account, 0, breach, BACKSTOP, params)

    def kinds(self, kind):
        return [ev.decode(p, k, v) for _s, _t, k, v, _c, p, _h in self.sink.rows if k == kind]

    def replays(self):
        state = ClearingState()
        for _s, _t, kind, version, _c, payload, _h in self.sink.rows:
            apply(state, ev.decode(payload, kind, version))
        return state.digest() == self.bus.state.digest() and violations(state) == []


def long_ten(book, cash):
    book.emit(ev.Deposited, account=0, amount=cash)
    for account in (1, 2):
        book.emit(ev.Deposited, account=account, amount=10**6)
    book.trade(0, 1, 5, 1000)
    book.trade(0, 2, 5, 1000)


def test_a_solvent_partial_liquidation_is_not_deleveraged_and_keeps_the_rest():
    # Long 10 at 1000 with 600: at 985 equity 450 < 493. Restore closes 1 lot; the account is
    # solvent, so no ADL even with an empty fund, and 9 lots stay open.
    book = Book()
    long_ten(book, 600)
    book.mark(985)
    book.liquidate(0, LiquidationParams(1000, 10**9, 50_000, Execution.BOOK, AfterFund.ADL, AdlRanking.PNL_LEVERAGE, Partial.RESTORE))
    assert not book.kinds("position_deleveraged")
    assert book.bus.state.position[0, 0] == 9
    assert book.kinds("liquidation_completed")[0].lots == 1 and book.replays()


def test_a_bankrupt_partial_liquidation_deleverages_only_its_part():
    # Bankrupt at 940 (equity -100): a 20 % partial closes 2 lots by ADL, 8 stay open, no bad debt.
    book = Book()
    long_ten(book, 500)
    book.mark(940)
    book.liquidate(0, LiquidationParams(1000, 10**9, 50_000, Execution.BOOK, AfterFund.ADL, AdlRanking.PNL_LEVERAGE, Partial.FRACTION, 200_000))
    deleveraged = book.kinds("position_deleveraged")
    assert sum(d.lots for d in deleveraged) == 2 and book.bus.state.position[0, 0] == 8
    assert book.bus.state.bad_debt == 0 and book.replays()


def test_adl_starts_where_the_fund_caps_stop_it_paying():
    # A large fund capped at 10 per liquidation: the shortfall beyond the cap is deleveraged,
    # not written off.
    book = Book()
    long_ten(book, 500)
    book.emit(ev.InsuranceFundDeposited, amount=10**6)
    book.emit(ev.InsuranceFundConfigured, max_per_event=10, max_per_period=0, period_ns=0)
    book.mark(900)
    book.liquidate(0, LiquidationParams(1000, 10**9, 50_000, Execution.BOOK, AfterFund.ADL))
    assert book.kinds("position_deleveraged") and book.bus.state.bad_debt == 0 and book.replays()
