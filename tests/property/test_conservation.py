"""Exact conservation through the core, driven by a hypothesis state machine.

Deposits, orders of every type against a live book, market-maker ladders, cancels, price
moves, liquidations (into the book, then the backstop; with fees, insurance payouts and
bad debt) and funding settlements go through the same bus, `apply`, `Exchange` and
`liquidate` the simulator uses. After every step the conservation laws hold with ==, the
book is well formed, and replaying the rows rebuilds the same state.
"""

import numpy as np
from hypothesis import event
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from clearing import events as ev
from clearing.core.agents.market_maker import MakerParams, clip_to_book, ladder
from clearing.core.book import BUY, SELL, best_of_others
from clearing.core.funding import payments
from clearing.core.invariants import violations
from clearing.core.liquidation.params import AdlRanking, AfterFund, Execution, LiquidationParams
from clearing.core.margin import maintenance_amounts, notional
from clearing.core.state.schema import Role
from clearing.sim.exchange import Exchange
from clearing.sim.liquidator import liquidate
from tests.builders import bus_with, deposited, insurance_fund_deposited, mark_price_updated, quotes, state_from_rows
from tests.unit.margin_reference import below_maintenance, equity

TRADERS = 5
PROVIDER = TRADERS
MAKER = TRADERS + 1
accounts = st.integers(0, TRADERS + 1)
amounts = st.integers(1, 10**9)
MAKER_PARAMS = MakerParams(4, 5.0, 20.0, 200_000, 0.5, 1.0, 2.0, 10**10, 1000, 10.0)


class ClearingMachine(RuleBasedStateMachine):
    @initialize(
        mmr=st.integers(1_000, 200_000),
        fee=st.integers(0, 50_000),
        unit_value=st.sampled_from([1, 7, 100]),
        stp=st.sampled_from(["expire_maker", "expire_taker", "expire_both"]),
        execution=st.sampled_from([Execution.BOOK, Execution.BANKRUPTCY]),
        after_fund=st.sampled_from(list(AfterFund)),
        ranking=st.sampled_from(list(AdlRanking)),
        caps=st.tuples(st.integers(0, 10**6), st.integers(0, 10**7)),
    )
    def open_market(self, mmr, fee, unit_value, stp, execution, after_fund, ranking, caps):
        # Accounts 0 .. TRADERS - 1 are the traders, then PROVIDER and MAKER.
        self.bus = bus_with(TRADERS, (1, Role.LIQUIDITY_PROVIDER), (1, Role.MARKET_MAKER), unit_value=unit_value,
                            maintenance_margin_ppm=mmr, liquidation_fee_ppm=fee, taker_fee_ppm=500, maker_fee_ppm=200,
                            bracket_floors=(0, 2_000_000), bracket_rates_ppm=(mmr, 2 * mmr),
                            then=[mark_price_updated(1000)])  # fmt: skip
        self.sink = self.bus.sink
        self.exchange = Exchange(self.bus, stp)
        self.now = 0
        self.params = LiquidationParams(1_000, 10**9, 250_000, execution, after_fund, ranking)
        self.emit(ev.InsuranceFundConfigured, max_per_event=caps[0], max_per_period=caps[1], period_ns=10**9)
        self.emit(ev.CollateralListed, asset=0, symbol="USDE", decimals=2, haircut_ppm=20_000)
        self.emit(ev.CollateralPriceDelivered, asset=0, price_ticks=100, ts_source_ns=0, ts_published_ns=0)

    def emit(self, build, *args, **fields):
        """Emit the event `build` (an event class or a tests.builders builder) makes, at the current time."""
        return self.bus.emit(build(*args, ts_ns=self.now, **fields))

    @property
    def state(self):
        return self.bus.state

    @rule(account=accounts, amount=amounts)
    def deposit(self, account, amount):
        self.emit(deposited, account, amount)

    @rule(account=accounts, amount=amounts)
    def deposit_collateral(self, account, amount):
        self.emit(ev.CollateralDeposited, account=account, asset=0, amount=amount)

    @rule(price=st.integers(1, 200))
    def reprice_collateral(self, price):
        self.emit(ev.CollateralPriceDelivered, asset=0, price_ticks=price, ts_source_ns=self.now, ts_published_ns=self.now)

    @rule(amount=amounts)
    def seed_insurance_fund(self, amount):
        self.emit(insurance_fund_deposited, amount)

    @rule(
        account=st.integers(0, TRADERS - 1),
        side=st.sampled_from([BUY, SELL]),
        lots=st.integers(1, 500),
        price=st.integers(900, 1100),
        order_type=st.sampled_from(["limit", "market", "ioc", "post_only"]),
        reduce_only=st.booleans(),
    )
    def place_order(self, account, side, lots, price, order_type, reduce_only):
        outcome = self.exchange.submit(
            self.now, account, 0, side, lots, order_type, 0 if order_type == "market" else price, reduce_only=reduce_only
        )
        event(
            f"{order_type}: {'rejected ' + outcome.rejected if outcome.rejected else 'filled' if outcome.filled else 'unfilled'}"
        )

    @rule(reference=st.integers(950, 1050), inventory=st.integers(-2000, 2000))
    def requote(self, reference, inventory):
        s = self.state
        bids, asks = ladder(reference, 1e-9, inventory, MAKER_PARAMS, s.markets[0].unit_value)
        book = s.books[0]
        bids, asks = clip_to_book(bids, asks, best_of_others(book, BUY, MAKER), best_of_others(book, SELL, MAKER))
        self.emit(quotes, s, MAKER, bids, asks, reference_ticks=reference)

    @precondition(lambda self: bool(self.state.books[0].orders))
    @rule(pick=st.integers(0, 10**6))
    def cancel_resting(self, pick):
        ids = sorted(self.state.books[0].orders)
        self.exchange.cancel(self.now, ids[pick % len(ids)])

    @rule(price=st.integers(1, 5_000), dt=st.integers(0, 10**9))
    def move_mark(self, price, dt):
        self.now += dt
        self.emit(mark_price_updated, price)

    def funding(self, rate):
        """Return (accounts, amounts) of a settlement at `rate` ppb (the quote rule; an inverse market's machine pays coin)."""
        s = self.state
        return payments(s.position[:, 0], int(s.mark_ticks[0]), int(s.unit_value[0]), rate)

    @rule(rate=st.integers(-3_000_000, 3_000_000))
    def settle_funding(self, rate):
        held, paid = self.funding(rate)
        assert int(paid.sum()) == 0
        for start in range(0, held.size, 2):
            self.emit(ev.FundingPaid, market=0, accounts=tuple(held[start : start + 2].tolist()),
                      amounts=tuple(paid[start : start + 2].tolist()), final=start + 2 >= held.size)  # fmt: skip

    @rule()
    def liquidate_breached(self):
        s = self.state
        mark, uv, brackets = int(s.mark_ticks[0]), int(s.unit_value[0]), s.brackets[0]
        position = s.position[:, 0]
        backing = s.margin_cash()
        below = below_maintenance(backing, position, mark, uv, brackets) & (s.role == 0)
        equities = equity(backing, position, mark, uv)
        requirements = maintenance_amounts(notional(position, mark, uv), brackets)
        for account in np.flatnonzero(below).tolist():
            breach = self.emit(ev.MarginBreached, account=account, market=0, mark_ticks=mark,
                               equity=int(equities[account]), requirement=int(requirements[account]))  # fmt: skip
            debt_before = s.bad_debt
            after = self.params.after_fund
            settled = liquidate(self.exchange, self.now, account, 0, breach, PROVIDER, self.params)
            if settled < 0:  # released as recovered: an earlier liquidation's ADL closed it (it may hold collateral for cash)
                event("released: recovered")
                continue
            event(f"liquidated ({after}: adl {s.adl_events}, socialised {s.socialised_loss > 0}, bad debt {s.bad_debt > 0})")
            assert s.position[account, 0] == 0, "a liquidated account is flat"
            assert s.cash[account] >= 0, "a liquidated account owes nothing"
            if s.bad_debt > debt_before:
                assert s.collateral[account, 0] == 0, "collateral is used before bad debt"

    @invariant()
    def collateral_is_conserved(self):
        if hasattr(self, "bus"):
            assert int(self.state.collateral[:, 0].sum()) == int(self.state.asset_deposits[0])

    @invariant()
    def money_and_lots_are_conserved(self):
        if hasattr(self, "bus"):
            assert violations(self.state) == []

    @invariant()
    def the_book_is_well_formed(self):
        if not hasattr(self, "bus"):
            return
        book = self.state.books[0]
        bid, ask = book.best_bid(), book.best_ask()
        assert not (bid and ask) or bid < ask
        resting = [o for side in (BUY, SELL) for o in book.walk(side)]
        assert sorted(o.order_id for o in resting) == sorted(book.orders)
        assert all(o.lots > 0 for o in resting) and not self.state.incoming

    @invariant()
    def replay_of_the_rows_rebuilds_the_state(self):
        if not hasattr(self, "bus") or len(self.sink.rows) % 5:
            return
        replayed = state_from_rows(self.sink.rows)
        assert replayed.digest() == self.state.digest()


TestConservation = ClearingMachine.TestCase
