"""Exact conservation through the core, driven by a hypothesis state machine.

Deposits, trades, price moves, liquidations (with fees, insurance payouts and bad debt)
go through the same bus, `apply` and `settle` the simulator uses; after every step the
conservation laws must hold with ==, and the in-memory chain must replay to the same state.
"""

import numpy as np
from hypothesis import event
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from clearing import events as ev
from clearing.invariants import violations
from clearing.log.writer import MemorySink
from clearing.margin import below_maintenance, equity, maintenance_margin, notional
from clearing.sim.bus import EventBus
from clearing.sim.liquidator import LiquidationParams, settle
from clearing.state import ClearingState, apply

TRADERS = 5
PROVIDER = TRADERS
accounts = st.integers(0, TRADERS)
amounts = st.integers(1, 10**9)


class ClearingMachine(RuleBasedStateMachine):
    @initialize(mmr=st.integers(1_000, 200_000), fee=st.integers(0, 50_000), unit_value=st.sampled_from([1, 7, 100]))
    def open_market(self, mmr, fee, unit_value):
        self.sink = MemorySink()
        self.bus = EventBus(ClearingState(), self.sink)
        self.now = 0
        self.params = LiquidationParams(fee, 1_000, 10**9, 250_000)
        self.emit(
            ev.MarketListed,
            market=0,
            symbol="X",
            tick_size="1",
            lot_size="1",
            quote_decimals=0,
            unit_value=unit_value,
            maintenance_margin_ppm=mmr,
            liquidation_fee_ppm=fee,
            taker_fee_ppm=0,
        )
        self.emit(ev.AccountsOpened, first_account=0, count=TRADERS, role=ev.ROLE_TRADER)
        self.emit(ev.AccountsOpened, first_account=PROVIDER, count=1, role=ev.ROLE_LIQUIDITY_PROVIDER)
        self.emit(ev.MarkPriceUpdated, market=0, price_ticks=1000)

    def emit(self, kind, **fields):
        return self.bus.emit(kind(ts_ns=self.now, **fields))

    @property
    def state(self):
        return self.bus.state

    @rule(account=accounts, amount=amounts)
    def deposit(self, account, amount):
        self.emit(ev.Deposited, account=account, amount=amount)

    @rule(amount=amounts)
    def seed_insurance_fund(self, amount):
        self.emit(ev.InsuranceFundDeposited, amount=amount)

    @rule(
        buyer=accounts,
        seller=accounts,
        lots=st.integers(1, 10_000),
        price=st.integers(1, 5_000),
        buyer_fee=st.integers(0, 1_000),
        seller_fee=st.integers(0, 1_000),
    )
    def trade(self, buyer, seller, lots, price, buyer_fee, seller_fee):
        if buyer == seller:
            return
        self.emit(
            ev.TradeExecuted,
            market=0,
            buyer=buyer,
            seller=seller,
            lots=lots,
            price_ticks=price,
            buyer_fee=buyer_fee,
            seller_fee=seller_fee,
            liquidation=False,
        )

    @rule(price=st.integers(1, 5_000), dt=st.integers(0, 10**9))
    def move_price(self, price, dt):
        self.now += dt
        self.emit(ev.MarkPriceUpdated, market=0, price_ticks=price)

    @precondition(lambda self: bool(self.state.n_accounts))
    @rule()
    def liquidate_breached(self):
        s = self.state
        mark, uv, mmr = int(s.mark_ticks[0]), int(s.unit_value[0]), int(s.maintenance_margin_ppm[0])
        position = s.position[:, 0]
        below = below_maintenance(s.cash, position, mark, uv, mmr) & (s.role == 0)
        equities = equity(s.cash, position, mark, uv)
        requirements = maintenance_margin(notional(position, mark, uv), mmr)
        for account in np.flatnonzero(below).tolist():
            breach = self.emit(
                ev.MarginBreached,
                account=account,
                market=0,
                mark_ticks=mark,
                equity=int(equities[account]),
                requirement=int(requirements[account]),
            )
            settle(self.bus, self.now, account, 0, breach, PROVIDER, self.params)
            event("liquidated with bad debt" if s.bad_debt else "liquidated")
            assert s.position[account, 0] == 0, "a liquidated account is flat"
            assert s.cash[account] >= 0, "a liquidated account owes nothing"

    @invariant()
    def money_and_lots_are_conserved(self):
        if hasattr(self, "bus"):
            assert violations(self.state) == []

    @invariant()
    def replay_of_the_rows_rebuilds_the_state(self):
        if not hasattr(self, "bus") or len(self.sink.rows) % 7:
            return
        replayed = ClearingState()
        for _seq, _ts, kind, version, _c, payload, _h in self.sink.rows:
            apply(replayed, ev.decode(payload, kind, version))
        assert replayed.digest() == self.state.digest()


TestConservation = ClearingMachine.TestCase
