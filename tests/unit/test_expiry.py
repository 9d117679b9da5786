"""Expiry of dated futures and options: settlement prices, per-position settlement, conservation."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clearing.core.expiry import option_settlement_ticks, sample_times_ns, settlement_average, settlements
from clearing.core.invariants import violations
from clearing.core.state import ClearingState, apply
from tests.builders import contract_specified, deposited, market_listed, market_settled, opened, position_settled, trade

S = 10**9


def test_binance_samples_the_index_every_second_for_the_last_30_minutes() -> None:
    times = sample_times_ns(8 * 3_600 * S, 1_800 * S, S)  # 07:30:00 .. 07:59:59 of a day starting at 00:00
    assert len(times) == 1_800
    assert times[0] == 7 * 3_600 * S + 1_800 * S + S // 2 and times[-1] == 8 * 3_600 * S - S // 2


def test_the_settlement_price_is_the_mean_of_the_samples_rounded_half_up() -> None:
    assert settlement_average([100, 101]) == 101  # 100.5 rounds up
    assert settlement_average([100, 100, 101]) == 100  # 100.33
    assert settlement_average([100, 101, 101]) == 101  # 100.67
    assert settlement_average(list(range(1, 1_801))) == 901  # 900.5


def test_no_settlement_from_no_samples_or_an_unknown_index() -> None:
    with pytest.raises(ValueError, match="positive index samples"):
        settlement_average([])
    with pytest.raises(ValueError, match="positive index samples"):
        settlement_average([100, 0])


def test_deribit_option_examples_settle_at_intrinsic_value() -> None:
    # Deribit: call struck at 10,000 with delivery price 12,500 is worth 2,500 USD; put at 10,000 delivered at 5,000 is worth 5,000.
    tick = Decimal("0.5")
    assert option_settlement_ticks(25_000, tick, Decimal(10_000), Decimal(1), "call") == 2_500
    assert option_settlement_ticks(10_000, tick, Decimal(10_000), Decimal(1), "put") == 5_000
    assert option_settlement_ticks(25_000, tick, Decimal(10_000), Decimal(1), "put") == 0  # out of the money
    assert option_settlement_ticks(20_001, tick, Decimal(10_000), Decimal(1), "call") == 0  # 0.5 below one tick: down


def test_an_option_type_must_be_call_or_put() -> None:
    with pytest.raises(ValueError, match="call or put"):
        option_settlement_ticks(100, Decimal(1), Decimal(1), Decimal(1), "straddle")


def test_settlements_credit_longs_and_debit_shorts_summing_to_zero() -> None:
    accounts, lots, amounts = settlements(np.array([0, 3, -2, 0, -1], np.int64), 105, 10)
    assert accounts.tolist() == [1, 2, 4] and lots.tolist() == [3, -2, -1]
    assert amounts.tolist() == [3_150, -2_100, -1_050] and int(amounts.sum()) == 0


def _sol_option_state() -> ClearingState:
    """SOL perp (market 0, tick 0.01) and a SOL call struck at 250 (market 1): Deribit's linear USDC example.

    The option: premium tick 0.01 USDC, one lot = one contract of multiplier 10 SOL, so a lot
    moving one tick moves 10 x 0.01 USDC = 100,000 micro-USDC.
    """
    state = ClearingState()
    events = [
        market_listed(0, symbol="SOLUSDC", tick_size="0.01", quote_decimals=6, unit_value=10_000),
        market_listed(1, symbol="SOL-250-C", tick_size="0.01", quote_decimals=6, unit_value=100_000),
        *opened(2)[1:],  # accounts 0 (buyer) and 1 (writer)
        contract_specified(1, "option", strike="250"),
        deposited(0, 1_000 * 10**6),
        deposited(1, 1_000 * 10**6),
        trade(0, 1, 1, 1_000, market=1),  # premium 10 USDC for one contract: 100 USDC
    ]
    for event in events:
        apply(state, event)
    return state


def test_deribit_linear_usdc_call_pays_its_intrinsic_value_at_expiry() -> None:
    # Deribit: SOL call K = 250, premium 10 USDC, multiplier 10 costs 100 USDC; delivered at 275 it pays 25 x 10 = 250 USDC.
    state = _sol_option_state()
    assert state.cash.tolist() == [900 * 10**6, 1_100 * 10**6]  # the premium is paid in full at the trade
    price = option_settlement_ticks(27_500, Decimal("0.01"), Decimal(250), Decimal("0.01"), "call")
    assert price == 2_500
    apply(state, market_settled(price, underlying_ticks=27_500))
    for account, lots in ((0, 1), (1, -1)):
        apply(state, position_settled(account, lots, price, unit_value=100_000))
    assert state.cash.tolist() == [1_150 * 10**6, 850 * 10**6]  # profit 150 USDC, the writer's loss 150
    assert state.position[:, 1].tolist() == [0, 0] and state.settlement_clearing == 0
    assert violations(state) == []


def test_settlement_is_in_the_digest_only_when_a_run_has_dated_contracts() -> None:
    plain, dated = ClearingState(), ClearingState()
    for event in opened(2, markets=2):
        apply(plain, event)
        apply(dated, event)
    before = plain.digest()
    assert dated.digest() == before
    apply(dated, contract_specified())
    assert dated.digest() != before


@settings(max_examples=60, deadline=None)
@given(
    trades=st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4), st.integers(1, 50), st.integers(1, 10_000)), max_size=25),
    instrument=st.sampled_from(["future", "option"]),
    settle=st.integers(1, 20_000),
    unit_value=st.integers(1, 1_000),
)
def test_expiry_conserves_money_exactly(
    trades: list[tuple[int, int, int, int]], instrument: str, settle: int, unit_value: int
) -> None:
    state = ClearingState()
    events = [
        market_listed(0), market_listed(1, unit_value=unit_value), *opened(5)[1:], contract_specified(1, instrument),
        *(deposited(a, 10**9) for a in range(5)),
        *(trade(b, s, lots, price, market=1) for b, s, lots, price in trades if b != s),
    ]  # fmt: skip
    for event in events:
        apply(state, event)
    total_before = int(state.cash.sum())
    apply(state, market_settled(settle))
    accounts, lots, amounts = settlements(state.position[:, 1], settle, unit_value)
    for account, n, amount in zip(accounts.tolist(), lots.tolist(), amounts.tolist(), strict=True):
        apply(state, position_settled(account, n, settle, amount=amount))
        assert violations(state) == []
    assert int(state.cash.sum()) == total_before
    assert state.settlement_clearing == 0 and not state.position[:, 1].any() and not state.entry_cost[:, 1].any()
