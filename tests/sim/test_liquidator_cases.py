"""Hand-built liquidation cases around partial closes, ADL and the fund's caps (regressions)."""

from clearing import events as ev
from clearing.core.invariants import violations
from clearing.core.liquidation.params import AdlRanking, AfterFund, Execution, LiquidationParams, Partial
from clearing.core.state.schema import Role
from clearing.sim.exchange import Exchange
from clearing.sim.liquidator import liquidate
from tests.builders import bus_with, deposited, insurance_fund_deposited, mark_price_updated, state_from_rows, trade

BACKSTOP, MAKER = 4, 5


class Book:
    """Four traders, the backstop and a maker on one market (unit value 1, maintenance 5 %)."""

    def __init__(self):
        # Accounts 0-3 are the traders, then BACKSTOP and MAKER.
        self.bus = bus_with(4, (1, Role.LIQUIDITY_PROVIDER), (1, Role.MARKET_MAKER), maintenance_margin_ppm=50_000,
                            then=[deposited(BACKSTOP, 10**12), mark_price_updated(1000)])  # fmt: skip
        self.sink = self.bus.sink
        self.exchange = Exchange(self.bus, "expire_maker")

    def emit(self, event):
        return self.bus.emit(event)

    def mark(self, price):
        self.emit(mark_price_updated(price))

    def trade(self, buyer, seller, lots, price):
        self.emit(trade(buyer, seller, lots, price))

    def liquidate(self, account, params):
        breach = self.emit(ev.MarginBreached(ts_ns=0, account=account, market=0, mark_ticks=int(self.bus.state.mark_ticks[0]),
                                             equity=0, requirement=0))  # fmt: skip
        liquidate(self.exchange, 0, account, 0, breach, BACKSTOP, params)

    def kinds(self, kind):
        return [ev.decode(p, k, v) for _s, _t, k, v, _c, p, _h in self.sink.rows if k == kind]

    def replays(self):
        state = state_from_rows(self.sink.rows)
        return state.digest() == self.bus.state.digest() and violations(state) == []


def long_ten(book, cash):
    book.emit(deposited(0, cash))
    for account in (1, 2):
        book.emit(deposited(account, 10**6))
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
    book.emit(insurance_fund_deposited(10**6))
    book.emit(ev.InsuranceFundConfigured(ts_ns=0, max_per_event=10, max_per_period=0, period_ns=0))
    book.mark(900)
    book.liquidate(0, LiquidationParams(1000, 10**9, 50_000, Execution.BOOK, AfterFund.ADL))
    assert book.kinds("position_deleveraged") and book.bus.state.bad_debt == 0 and book.replays()
