"""Exact conservation on an inverse (coin-margined) perpetual, driven by a hypothesis state machine.

`ClearingMachine` (tests/property/test_conservation.py) with market 0 an inverse perpetual
settling in asset 0 ("BTC", 8 decimals, no haircut): its trades, fees and funding move coin,
its liquidations repay coin debts in quote, then the quote waterfall (fund, ADL,
socialisation, bad debt) runs. The inherited rules (deposits in quote and coin, orders of
every type, cancels, the coin's price on its own) and these (coin-sized maker ladders, the
mark and the coin's price moving together, coin funding, liquidations found by
`account_risk`) go through the same bus, `apply`, `Exchange` and `liquidate` the simulator
uses. After every step the quote money law and the coin law (holdings + pool + clearing ==
deposits) hold with ==, the book is well formed, and replaying the rows rebuilds the state.
"""

import numpy as np
from hypothesis import event
from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, rule

from clearing import events as ev
from clearing.core.agents.market_maker import MakerParams, clip_to_book, ladder
from clearing.core.book import BUY, SELL, best_of_others
from clearing.core.inverse import funding_payments
from clearing.core.liquidation.params import AdlRanking, AfterFund, Execution, LiquidationParams
from clearing.core.risk import account_risk
from clearing.core.state.schema import Role
from clearing.sim.exchange import Exchange
from clearing.sim.liquidator import liquidate
from tests.builders import bus_with, inverse_contract, mark_price_updated, quotes
from tests.property.test_conservation import MAKER, PROVIDER, TRADERS, ClearingMachine

COIN_MAKER = MakerParams(4, 5.0, 20.0, 2_000, 0.5, 1.0, 2.0, 10**10, 1000, 10.0)  # 2,000 quote a level


class InverseMachine(ClearingMachine):
    """`ClearingMachine`'s rules on an inverse market: its deposits, orders, cancels and collateral prices, and these."""

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
        self.move_mark(1000, 0)

    @rule(reference=st.integers(950, 1050), inventory=st.integers(-2000, 2000))
    def requote(self, reference, inventory):
        s = self.state
        bids, asks = ladder(reference, 1e-9, inventory, COIN_MAKER, int(s.unit_value[0]), inverse=True)
        book = s.books[0]
        bids, asks = clip_to_book(bids, asks, best_of_others(book, BUY, MAKER), best_of_others(book, SELL, MAKER))
        self.emit(quotes, s, MAKER, bids, asks, reference_ticks=reference)

    @rule(price=st.integers(300, 3_000), dt=st.integers(0, 10**9))
    def move_mark(self, price, dt):
        # The mark and the coin's oracle price move together (quote decimals 0: S = price per coin).
        self.now += dt
        self.emit(mark_price_updated, price)
        self.emit(ev.CollateralPriceDelivered, asset=0, price_ticks=price, ts_source_ns=self.now, ts_published_ns=self.now)

    def funding(self, rate):
        """Return (accounts, amounts) of a coin settlement at `rate` ppb (Binance COIN-M's rule)."""
        s = self.state
        return funding_payments(s.position[:, 0], int(s.mark_ticks[0]), s.inverse[0].k, rate)

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
    def collateral_is_conserved(self):
        # The coin law: the accounts' BTC, the pool (fees, dust) and the funding ledger add up to the deposits.
        if hasattr(self, "bus"):
            s = self.state
            assert int(s.collateral[:, 0].sum()) + s.asset_pool[0] + s.asset_clearing[0] == int(s.asset_deposits[0])


TestInverseConservation = InverseMachine.TestCase
