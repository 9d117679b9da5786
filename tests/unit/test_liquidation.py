from clearing.core.liquidation.params import Partial
from clearing.core.liquidation.pricing import (
    PARTIALS,
    Settlement,
    fill_price_ticks,
    fillable_price,
    partial_lots,
    settle,
    slippage_ppm,
)


def _close_long(cash: int, lots: int, mark: int, slip_ppm: int) -> tuple[int, int, int]:
    """Close a long of `lots` (unit value 1) at the slipped mark: (price, notional, balance left)."""
    price = fill_price_ticks(lots, mark, slip_ppm)
    return price, lots * price, cash + lots * price


def test_bitmex_tv_m2_fill_above_bankruptcy_pays_the_fund():
    # BitMEX liquidation example (docs/references.md [bitmex-liquidation]): long 1 @ 100.00 with 1.00 margin,
    # bankruptcy 99.00; filled at 99.25 -> 0.25 to the insurance fund. Units: cents, 1 lot.
    # cash = 1.00 - 100.00 = -99.00. A 0.2512 % slip on a 99.50 mark fills at 99.25 (floor of 99.250056).
    # BitMEX keeps the whole remainder, so the fee rate is set high enough to take it all.
    price, notional, balance = _close_long(-9900, 1, 9950, 2512)
    assert (price, balance) == (9925, 25)
    assert settle(balance, notional, 500_000, 10_000) == Settlement(fee=25, insurance_paid=0, bad_debt=0)


def test_bitmex_tv_m2_fill_below_bankruptcy_draws_the_fund():
    # Trader B, same setup, filled at 98.75 -> the fund pays 0.25 and is left at 0.
    price, notional, balance = _close_long(-9900, 1, 9950, 7537)
    assert (price, balance) == (9875, -25)
    assert settle(balance, notional, 500_000, 25) == Settlement(fee=0, insurance_paid=25, bad_debt=0)


def test_shortfall_beyond_the_fund_is_bad_debt():
    _, notional, balance = _close_long(-9900, 1, 9950, 7537)
    assert settle(balance, notional, 500_000, 10) == Settlement(fee=0, insurance_paid=10, bad_debt=15)


def test_fund_cap_limits_what_the_fund_pays():
    assert settle(-25, 9875, 0, 1_000, fund_cap=5) == Settlement(fee=0, insurance_paid=5, bad_debt=20)


def test_fee_is_rate_of_notional_rounded_up_and_capped_by_balance():
    # Long 10 lots at mark 100, cash -900 -> balance 100 after a fill at 100 (no slip).
    _, notional, balance = _close_long(-900, 10, 100, 0)
    assert (notional, balance) == (1000, 100)
    assert settle(balance, notional, 12_345, 0).fee == 13  # ceil(1000 * 1.2345 %) = ceil(12.345)
    assert settle(7, notional, 12_345, 0).fee == 7  # never more than the balance left


def test_fill_price_rounds_against_the_account():
    assert fill_price_ticks(5, 1001, 1000) == 999  # long sold: floor(1001 * 0.999) = 999
    assert fill_price_ticks(-5, 1001, 1000) == 1003  # short bought: ceil(1001 * 1.001) = 1003
    assert fill_price_ticks(5, 1, 999_999) == 1  # never below one tick


def test_slippage_grows_with_size_and_is_capped():
    assert slippage_ppm(0, 1000, 5_000, 250_000) == 1000
    assert slippage_ppm(5_000, 1000, 5_000, 250_000) == 11_000  # one depth moves 1 %
    assert slippage_ppm(10**9, 1000, 5_000, 250_000) == 250_000


def test_dydx_fillable_price_moves_from_oracle_to_the_full_spread():
    # dYdX v4 GetFillablePrice (docs/references.md [dydx-v4-fillable]), BA = 1, SMMR = 1.5: a 1 BTC long at oracle
    # 50,000 with maintenance 1,500 (ticks of 1 USDT, unit value 1).
    assert fillable_price(1, 50_000, 1, 1_500, 1_500, 1_500) == 50_000  # exactly at maintenance: the oracle
    assert fillable_price(1, 50_000, 1, 1_000, 1_500, 1_500) == 49_250  # ABR 1/3: spread 750
    assert fillable_price(1, 50_000, 1, -500, 1_500, 1_500) == 47_750  # bankrupt: the full 1.5 x 1,500
    assert fillable_price(-1, 50_000, 1, 1_000, 1_500, 1_500) == 50_750  # a short buys above the oracle


def test_fillable_price_rounds_as_dydx():
    # A long sells: rounded up; a short buys back: rounded down.
    assert fillable_price(3, 100, 1, 0, 10, 10) == 95  # (300 - 15) / 3 = 95 exactly
    assert fillable_price(3, 100, 1, 5, 10, 10) == 98  # (300 - 7.5) / 3 = 97.5 -> 98
    assert fillable_price(-3, 100, 1, 5, 10, 10) == 102  # (-300 - 7.5) / -3 = 102.5 -> 102


def five_percent(size):
    return -(-size * 100 * 50_000 // 1_000_000)  # maintenance of `size` lots at mark 100, 5 %


def test_partial_policies():
    # A long of 100 lots at mark 100 (unit value 1) with 300 of equity; maintenance 5 % = 5 a lot.
    # docs/references.md [hyperliquid-liq] (20 % at a time, then a cooldown), [binance-liq]
    # ("Smart Liquidation" reduces the position until margin is met), [dydx-v4-liq] (the cap).
    equity = 300
    assert set(PARTIALS) == set(Partial)
    assert partial_lots(Partial.NONE, 100, equity, 100, five_percent) == 100
    assert partial_lots(Partial.RESTORE, 100, equity, 100, five_percent) == 40  # 60 lots need 300: close 40
    assert partial_lots(Partial.RESTORE, 100, 0, 100, five_percent) == 100  # no equity left: all of it
    assert partial_lots(Partial.FRACTION, 100, equity, 100, five_percent, 200_000) == 20  # Hyperliquid's 20 %
    assert partial_lots(Partial.FRACTION, 3, equity, 100, five_percent, 200_000) == 1  # at least one lot
    assert partial_lots(Partial.FRACTION, 100, equity, 100, five_percent, 200_000, in_cooldown=True) == 100
    assert partial_lots(Partial.FRACTION, 100, equity, 100, five_percent, 200_000, min_notional=10_000) == 100
    assert partial_lots(Partial.RESTORE, 100, equity, 100, five_percent, max_notional=2_500) == 25  # the block cap
    assert partial_lots(Partial.NONE, 100, equity, 100, five_percent, max_notional=50) == 1  # at least one lot
