"""Settling a closed account, called directly on a state: seizures, the fee, the fund, bad debt, socialisation.

Sources: docs/references.md [bitmex-liquidation] (the worked example: long 1 @ 100.00 with
1.00 of margin, bankrupt at 99.00), [binance-clearance-fee] (the fee on the liquidated
notional), [dydx-v4-liq] (the fund's cap per liquidation), [drift-v2-socialised-loss].
"""

from clearing import events as ev
from clearing.core.liquidation.params import AfterFund
from clearing.core.liquidation.pricing import Settlement
from clearing.core.liquidation.settlement import (
    Charge,
    Closed,
    Seizure,
    collateral_seizures,
    liquidation_fee_due,
    settlement,
    socialisation,
)
from clearing.core.liquidation.waterfall import AFTER_FUND
from tests.unit.liquidation_states import Ledger, one_market

BACKSTOP, MAKER = 8, 9


def closed_at(price, fund=0, max_per_event=0):
    """BitMEX's example in cents: long 1 at 100.00 with 1.00, sold to the maker at `price`."""
    ledger = one_market(fee_ppm=500_000).deposit(0, 100).trade(0, MAKER, 1, 10_000).trade(MAKER, 0, 1, price)
    return ledger.fund(fund, max_per_event) if fund else ledger


def test_a_fill_above_bankruptcy_pays_the_rest_to_the_fund_as_the_fee():
    # Filled at 99.25: 0.25 left; BitMEX keeps the whole remainder (a 50 % fee rate, capped by it).
    assert settlement(closed_at(9_925).state, 0, [Closed(0, 9_925)], 0) == Settlement(fee=25, insurance_paid=0, bad_debt=0)


def test_a_fill_below_bankruptcy_draws_the_fund_then_is_bad_debt():
    # Filled at 98.75: the fund pays 0.25; with 0.10 in it, 0.15 is bad debt; capped at 0.05 a liquidation, 0.20.
    assert settlement(closed_at(9_875, fund=25).state, 0, [Closed(0, 9_875)], 0) == Settlement(0, 25, 0)
    assert settlement(closed_at(9_875, fund=10).state, 0, [Closed(0, 9_875)], 0) == Settlement(0, 10, 15)
    assert settlement(closed_at(9_875, fund=1_000, max_per_event=5).state, 0, [Closed(0, 9_875)], 0) == Settlement(0, 5, 20)


def test_the_fee_is_each_markets_rate_on_its_notional_rounded_up_per_market():
    ledger = Ledger().market(0, fee_ppm=10_000).market(1, fee_ppm=50_000)
    assert liquidation_fee_due(ledger.state, [Closed(0, 9_000), Closed(1, 1_000)]) == 90 + 50
    assert liquidation_fee_due(ledger.state, [Closed(0, 9_050), Closed(1, 1_001)]) == 91 + 51  # 90.5 and 50.05, up
    assert liquidation_fee_due(ledger.state, []) == 0


def test_collateral_is_seized_at_the_oracle_price_less_the_haircut_rounded_down():
    ledger = one_market()
    ledger.emit(ev.CollateralListed, asset=0, symbol="A", decimals=2, haircut_ppm=20_000)
    ledger.emit(ev.CollateralListed, asset=1, symbol="B", decimals=0, haircut_ppm=100_000)
    ledger.emit(ev.CollateralPriceDelivered, asset=0, price_ticks=100, ts_source_ns=0, ts_published_ns=0)
    ledger.emit(ev.CollateralPriceDelivered, asset=1, price_ticks=7, ts_source_ns=0, ts_published_ns=0)
    ledger.emit(ev.CollateralDeposited, account=0, asset=0, amount=250).emit(ev.CollateralDeposited, account=0, asset=1, amount=3)
    ledger.emit(ev.CollateralDeposited, account=1, asset=1, amount=3)
    # 2.50 of A at 100 less 2 %: 245; 3 of B at 7 less 10 %: floor(18.9) = 18.
    assert collateral_seizures(ledger.state, 0) == [Seizure(0, 250, 245), Seizure(1, 3, 18)]
    assert collateral_seizures(ledger.state, 1) == [Seizure(1, 3, 18)]
    assert collateral_seizures(ledger.state, 2) == []


def holders():
    """After account 0 was closed on market 0 at mark 940: 1 short 4, 2 short 6, the backstop long 10."""
    ledger = one_market().deposit(1, 10**4).deposit(2, 10**4)
    ledger.trade(BACKSTOP, 1, 4, 1000).trade(BACKSTOP, 2, 6, 1000)
    return ledger.mark(940)


def test_a_loss_is_charged_to_every_other_open_position_by_size_the_backstops_included():
    charges = socialisation(holders().state, 0, [Closed(0, 9_400)], 100)
    assert charges == [Charge(0, (1, 2, BACKSTOP), (20, 30, 50))]  # 3,760 : 5,640 : 9,400 of 18,800
    assert sum(charges[0].amounts) == 100
    assert socialisation(holders().state, 0, [Closed(0, 9_400)], 7)[0].amounts == (1, 2, 4)  # 1.4, 2.1, 3.5: odd units
    assert socialisation(holders().state, 1, [Closed(0, 3_760)], 10)[0].accounts == (2, BACKSTOP)  # never the account


def test_several_markets_share_the_loss_by_closed_notional_and_an_empty_market_keeps_its_share():
    ledger = holders().market(1)
    charges = socialisation(ledger.state, 0, [Closed(0, 3_000), Closed(1, 1_000)], 101)
    # 101 over 3,000 : 1,000 is 75.75 and 25.25: 76 and 25; market 1 has no open position, so no charge.
    assert charges == [Charge(0, (1, 2, BACKSTOP), (15, 23, 38))]
    assert socialisation(ledger.state, 0, [Closed(0, -5), Closed(1, 1_000)], 50) == []  # all of it on market 1


def test_after_the_fund_is_looked_up_once():
    assert {k: (p.deleverages, p.socialises) for k, p in AFTER_FUND.items()} == {
        AfterFund.BAD_DEBT: (False, False), AfterFund.ADL: (True, False), AfterFund.SOCIALISE: (False, True),
    }  # fmt: skip
