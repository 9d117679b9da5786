"""Exact conservation on an inverse (coin-margined) perpetual, driven by a hypothesis state machine.

Market 0 is an inverse perpetual settling in asset 0 ("BTC", 8 decimals, no haircut): its
trades, fees and funding move coin, its liquidations repay coin debts in quote, then the
quote waterfall (fund, ADL, socialisation, bad debt) runs. Deposits in quote and in coin,
orders of every type, maker ladders, cancels, moves of the mark and of the coin's price
together, funding settlements and liquidations go through the same bus, `apply`, `Exchange`
and `liquidate` the simulator uses. After every step the quote money law and the coin law
(holdings + pool + clearing == deposits) hold with ==, and replaying the rows rebuilds the state.
"""

import numpy as np
from hypothesis import event
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from clearing import events as ev
from clearing.core.agents.market_maker import MakerParams, clip_to_book, ladder
from clearing.core.book import BUY, SELL, best_of_others
from clearing.core.invariants import violations
from clearing.core.inverse import funding_payments
from clearing.core.liquidation.params import AdlRanking, AfterFund, Execution, LiquidationParams
from clearing.core.risk import account_risk
from clearing.core.state.schema import Role
from clearing.sim.exchange import Exchange
from clearing.sim.liquidator import liquidate
from tests.builders import (
    bus_with,
    deposited,
    insurance_fund_deposited,
    inverse_contract,
    mark_price_updated,
    quotes,
    state_from_rows,
)

TRADERS = 5
PROVIDER = TRADERS
MAKER = TRADERS + 1
accounts = st.integers(0, TRADERS + 1)
MAKER_PARAMS = MakerParams(4, 5.0, 20.0, 2_000, 0.5, 1.0, 2.0, 10**10, 1000, 10.0)


class InverseMachine(RuleBasedStateMachine):
    @initialize(
        mmr=st.integers(5_000, 200_000),
        fee=st.integers(0, 50_000),
        contract=st.sampled_from([1, 10, 100]),
        execution=st.sampled_from([Execution.BOOK, Execution.BANKRUPTCY, Execution.VAULT]),
        after_fund=st.sampled_from(list(AfterFund)),
        ranking=st.sampled_from(list(AdlRanking)),
    )
    def open_market(self, mmr, fee, contract, execution, after_fund, ranking):
        # A contract of `contract` quote units (quote decimals 0, tick 1): k = contract x 10^8 satoshi-ticks.
        self.bus = bus_with(TRADERS, (1, Role.LIQUIDITY_PROVIDER), (1, Role.MARKET_MAKER), unit_value=contract,
                            lot_size=str(contract), maintenance_margin_ppm=mmr, liquidation_fee_ppm=fee,
                            taker_fee_ppm=500, maker_fee_ppm=200, bracket_floors=(0, 1_000_000),
                            bracket_rates_ppm=(mmr, 2 * mmr))  # fmt: skip
        self.sink = self.bus.sink
        self.exchange = Exchange(self.bus, "expire_maker")
        self.now = 0
        self.params = LiquidationParams(1_000, 10**9, 250_000, execution, after_fund, ranking, vault_threshold_ppm=500_000)
        self.emit(ev.CollateralListed, asset=0, symbol="BTC", decimals=8, haircut_ppm=0)
        self.bus.emit(inverse_contract(market=0, asset=0))
        self.reprice(1000)

    def emit(self, build, *args, **fields):
        return self.bus.emit(build(*args, ts_ns=self.now, **fields))

    def reprice(self, price):
        # The mark and the coin's oracle price move together (quote decimals 0: S = price per coin).
        self.emit(mark_price_updated, price)
        self.emit(ev.CollateralPriceDelivered, asset=0, price_ticks=price, ts_source_ns=self.now, ts_published_ns=self.now)

    @property
    def state(self):
        return self.bus.state

    @rule(account=accounts, amount=st.integers(1, 10**6))
    def deposit(self, account, amount):
        self.emit(deposited, account, amount)

    @rule(account=accounts, amount=st.integers(1, 10**9))
    def deposit_coin(self, account, amount):
        self.emit(ev.CollateralDeposited, account=account, asset=0, amount=amount)

    @rule(amount=st.integers(1, 10**6))
    def seed_insurance_fund(self, amount):
        self.emit(insurance_fund_deposited, amount)

    @rule(
        account=st.integers(0, TRADERS - 1),
        side=st.sampled_from([BUY, SELL]),
        lots=st.integers(1, 50),
        price=st.integers(900, 1100),
        order_type=st.sampled_from(["limit", "market", "ioc", "post_only"]),
    )
    def place_order(self, account, side, lots, price, order_type):
        outcome = self.exchange.submit(self.now, account, 0, side, lots, order_type, 0 if order_type == "market" else price)
        event(f"{order_type}: {'filled' if outcome.filled else 'unfilled'}")

    @rule(reference=st.integers(950, 1050), inventory=st.integers(-2000, 2000))
    def requote(self, reference, inventory):
        s = self.state
        bids, asks = ladder(reference, 1e-9, inventory, MAKER_PARAMS, int(s.unit_value[0]), inverse=True)
        book = s.books[0]
        bids, asks = clip_to_book(bids, asks, best_of_others(book, BUY, MAKER), best_of_others(book, SELL, MAKER))
        self.emit(quotes, s, MAKER, bids, asks, reference_ticks=reference)

    @precondition(lambda self: bool(self.state.books[0].orders))
    @rule(pick=st.integers(0, 10**6))
    def cancel_resting(self, pick):
        ids = sorted(self.state.books[0].orders)
        self.exchange.cancel(self.now, ids[pick % len(ids)])

    @rule(price=st.integers(300, 3_000), dt=st.integers(0, 10**9))
    def move_price(self, price, dt):
        self.now += dt
        self.reprice(price)

    @rule(rate=st.integers(-3_000_000, 3_000_000))
    def settle_funding(self, rate):
        s = self.state
        held, paid = funding_payments(s.position[:, 0], int(s.mark_ticks[0]), s.inverse[0].k, rate)
        assert int(paid.sum()) == 0
        for start in range(0, held.size, 2):
            self.emit(ev.FundingPaid, market=0, accounts=tuple(held[start : start + 2].tolist()),
                      amounts=tuple(paid[start : start + 2].tolist()), final=start + 2 >= held.size)  # fmt: skip

    @rule()
    def liquidate_breached(self):
        s = self.state
        traders = np.flatnonzero((s.role == 0) & (s.position[:, 0] != 0))
        if traders.size == 0:
            return
        equities, requirements = account_risk(s, traders)
        for account, eq, req in zip(traders.tolist(), equities.tolist(), requirements.tolist(), strict=True):
            if eq >= req:
                continue
            breach = self.emit(ev.MarginBreached, account=account, market=0, mark_ticks=int(s.mark_ticks[0]),
                               equity=eq, requirement=req)  # fmt: skip
            seized = sum(1 for r in self.sink.rows if r[2] == "collateral_seized")
            liquidate(self.exchange, self.now, account, 0, breach, PROVIDER, self.params)
            repaid = sum(1 for r in self.sink.rows if r[2] == "collateral_seized") > seized
            event(f"liquidated (coin moved {repaid}, adl {s.adl_events > 0}, bad debt {s.bad_debt > 0})")
            assert s.position[account, 0] == 0, "a liquidated account is flat"
            assert s.collateral[account, 0] >= 0, "a liquidated account owes no coin"
            assert s.cash[account] >= 0, "a liquidated account owes nothing"

    @invariant()
    def money_and_coin_are_conserved(self):
        if hasattr(self, "bus"):
            assert violations(self.state) == []

    @invariant()
    def replay_of_the_rows_rebuilds_the_state(self):
        if not hasattr(self, "bus") or len(self.sink.rows) % 5:
            return
        assert state_from_rows(self.sink.rows).digest() == self.state.digest()


TestInverseConservation = InverseMachine.TestCase
