"""The insurance fund's policies (execution "fund") and the backstop's price, called directly on a state.

The fund's room is also worked through in tests/sim/test_fund_takeover.py. Sources:
docs/references.md [binance-insurance-fund] (the take-over within 100 % of the fund, the
slow offload), [binance-liq], decision 0007.
"""

from clearing.core.liquidation.backstop import backstop_price, fund_falls_short, takeover_price
from clearing.core.liquidation.fund import OffloadOrder, Takeover, fund_room_lots, fund_takeover, offload_orders, sweep_amount
from clearing.core.liquidation.params import LiquidationParams
from tests.unit.liquidation_states import one_market

FUND, MAKER, BACKSTOP = 10, 9, 8
PARAMS = LiquidationParams(1_000, 10**9, 250_000)


def long_ten(cash, mark, fund=0, max_per_event=0):
    """Trader 0: long 10 at 1000 (unit value 1, maintenance 5 %) with `cash`, at `mark`."""
    ledger = one_market().deposit(0, cash).trade(0, MAKER, 10, 1000).mark(mark)
    return ledger.fund(fund, max_per_event) if fund else ledger


def test_the_fund_takes_over_at_the_bankruptcy_price_within_its_room():
    # Long 10 at 1000 with 500 (bankrupt at 950); the fund of 2,000 at mark 940 has room for
    # n lots with n x 940 <= 2,000 - n x 10 (each lot taken at 950 loses 10 at the mark): 2.
    s = long_ten(500, 940, fund=2_000).state
    assert fund_room_lots(s, FUND, 0, 10, 950) == 2
    assert fund_takeover(s, FUND, 0, 0, 10, 1_000_000) == Takeover(2, 950)
    assert fund_takeover(s, FUND, 0, 0, 1, 1_000_000) == Takeover(1, 950)  # never more than is left
    assert fund_takeover(s, FUND, 0, 0, 10, 3_000_000) == Takeover(6, 950)  # 6 x 940 <= 3 x (2,000 - 60)


def test_an_empty_fund_has_no_room_except_to_offset():
    s = long_ten(500, 940).state
    assert fund_room_lots(s, FUND, 0, 10, 950) == 0


def test_the_backstop_takes_over_at_the_mark_moved_by_slippage_and_impact():
    s = long_ten(500, 940).state
    assert backstop_price(s, 0, 10, PARAMS) == 939  # floor(940 x 0.999)
    assert backstop_price(s, 0, -10, PARAMS) == 941  # a short is bought back: ceil(940 x 1.001)
    # Impact: 9,400 of notional over a depth of 4,700 moves the fill 2 % more.
    assert backstop_price(s, 0, 10, PARAMS._replace(impact_depth_minor=4_700)) == 920  # floor(940 x 0.979)
    assert takeover_price(s, 0, 0, 10, PARAMS, vault=True) == 950  # the vault: at the bankruptcy price
    assert takeover_price(s, 0, 0, 10, PARAMS, vault=False) == 939


def test_the_fund_falls_short_when_the_backstops_loss_exceeds_what_it_may_pay():
    # Long 10 at 1000 with 500, mark 940: the backstop takes it at 939, leaving -110.
    assert fund_falls_short(long_ten(500, 940).state, 0, 0, 10, PARAMS, 0)
    assert not fund_falls_short(long_ten(500, 940, fund=110).state, 0, 0, 10, PARAMS, 0)
    assert fund_falls_short(long_ten(500, 940, fund=109).state, 0, 0, 10, PARAMS, 0)
    assert fund_falls_short(long_ten(500, 940, fund=10**6, max_per_event=100).state, 0, 0, 10, PARAMS, 0)  # its cap
    assert not fund_falls_short(long_ten(500, 960).state, 0, 0, 10, PARAMS, 0)  # solvent: nothing to pay


def test_the_fund_falls_short_on_the_part_closed_the_rest_at_the_mark():
    # Closing 2 of the 10 lots at 939, 8 kept at 940: -9,500 + 1,878 + 7,520 = -102.
    assert not fund_falls_short(long_ten(500, 940, fund=102).state, 0, 0, 2, PARAMS, 0)
    assert fund_falls_short(long_ten(500, 940, fund=101).state, 0, 0, 2, PARAMS, 0)


def test_the_fund_offloads_at_most_its_notional_per_round_at_the_mark_less_slippage():
    # The fund holds a long 400 (taken over at 100); mark 100, 20,000 a round: 200 lots, limit 75.
    ledger = one_market().fund(100_000).trade(FUND, 0, 400, 100).mark(100)
    assert offload_orders(ledger.state, FUND, 20_000, 250_000) == [OffloadOrder(0, -1, 200, 75)]
    assert offload_orders(ledger.state, FUND, 10**9, 250_000) == [OffloadOrder(0, -1, 400, 75)]  # all of it
    assert offload_orders(ledger.state, FUND, 1, 250_000) == [OffloadOrder(0, -1, 1, 75)]  # at least one lot
    assert offload_orders(one_market().mark(100).state, FUND, 20_000, 250_000) == []  # nothing held


def test_the_sweep_moves_the_realised_result_and_a_loss_no_larger_than_the_fund():
    ledger = one_market().fund(100_000).trade(FUND, 0, 400, 110).mark(100)
    assert sweep_amount(ledger.state, FUND) == 0  # nothing realised yet
    ledger.trade(MAKER, FUND, 100, 90)  # sold 100 at 90: a 2,000 loss realised
    assert sweep_amount(ledger.state, FUND) == -2_000
    small = one_market().fund(500).trade(FUND, 0, 400, 110).trade(MAKER, FUND, 100, 90)
    assert sweep_amount(small.state, FUND) == -500  # the rest stays on the account
