"""Each execution mode's policy, called directly on a state: its IOC limit, its take-over, when ADL follows."""

import pytest

from clearing.core.liquidation.modes import (
    EXECUTIONS,
    BankruptcyMode,
    BookMode,
    FillableMode,
    FundMode,
    VaultMode,
    below_vault_threshold,
    fillable_limit,
)
from clearing.core.liquidation.params import Execution, LiquidationParams
from tests.unit.liquidation_states import one_market

MAKER = 9
PARAMS = LiquidationParams(1_000, 10**9, 50_000)  # 0.1 % slippage, 5 % at most


def held(lots, price, cash, mark, mmr_ppm=50_000):
    """Trader 0 holds `lots` (signed) opened at `price` with `cash` deposited; the mark is at `mark`."""
    ledger = one_market(mmr_ppm=mmr_ppm).deposit(0, cash)
    ledger.trade(0, MAKER, lots, price) if lots > 0 else ledger.trade(MAKER, 0, -lots, price)
    return ledger.mark(mark)


def test_each_execution_is_looked_up_once_to_its_policy():
    assert {e: type(p) for e, p in EXECUTIONS.items()} == {
        Execution.BOOK: BookMode, Execution.BANKRUPTCY: BankruptcyMode, Execution.FILLABLE: FillableMode,
        Execution.VAULT: VaultMode, Execution.FUND: FundMode,
    }  # fmt: skip
    assert [e for e, p in EXECUTIONS.items() if p.fund_takes_over] == [Execution.FUND]
    assert EXECUTIONS["vault"] is EXECUTIONS[Execution.VAULT]  # the scenario's spelling is the member's value


def test_book_limits_at_the_mark_moved_by_max_slippage_against_the_account():
    s = held(10, 1000, 600, 990).state
    assert BookMode().limit_ticks(s, 0, 0, 10, PARAMS) == 940  # floor(990 x 0.95) = 940.5 -> 940
    s = held(-10, 1000, 600, 1010).state
    assert BookMode().limit_ticks(s, 0, 0, -10, PARAMS) == 1061  # ceil(1010 x 1.05) = 1060.5 -> 1061


def test_bankruptcy_limits_at_bitmex_bankruptcy_price():
    # docs/references.md [bitmex-liquidation]: long 1 @ 100.00 with 1.00 of margin (cents,
    # unit value 1) is bankrupt at 99.00; short 1 @ 100.00 with 1.00 at 101.00.
    assert BankruptcyMode().limit_ticks(held(1, 10_000, 100, 9_950).state, 0, 0, 1, PARAMS) == 9_900
    assert BankruptcyMode().limit_ticks(held(-1, 10_000, 100, 10_050).state, 0, 0, -1, PARAMS) == 10_100
    assert FundMode().limit_ticks(held(1, 10_000, 100, 9_950).state, 0, 0, 1, PARAMS) == 9_900  # fund: the same IOC


@pytest.mark.parametrize(("entry", "cash", "limit"), [(50_000, 1_500, 50_000), (50_000, 1_000, 49_250), (51_500, 1_000, 47_750)])
def test_fillable_limits_at_dydx_fillable_price_from_the_state(entry, cash, limit):
    # docs/references.md [dydx-v4-fillable]: a 1 BTC long at oracle 50,000 with a 1,500
    # requirement (3 %) sells at no less than 50,000, 49,250 or 47,750 as its equity is
    # 1,500, 1,000 or -500 (BA = 1, SMMR = 1.5).
    s = held(1, entry, cash, 50_000, mmr_ppm=30_000).state
    assert fillable_limit(s, 0, 0) == limit == FillableMode().limit_ticks(s, 0, 0, 1, PARAMS)


def test_fillable_values_the_position_at_the_oracle_not_the_mark():
    # Mark 50,500, oracle 50,000: equity and requirement are taken with the market at the
    # oracle, so the limit is the one at the oracle (equity 1,000 there: 49,250).
    ledger = held(1, 50_000, 1_000, 50_500, mmr_ppm=30_000).oracle(50_000)
    assert fillable_limit(ledger.state, 0, 0) == 49_250


def test_vault_threshold_is_two_thirds_of_maintenance_rounded_against_the_account():
    # docs/references.md [hyperliquid-liq]: below 2/3 of maintenance the vault takes over.
    # 666,667 ppm is a hair above 2/3, so exactly 2/3 (1,000 of 1,500) counts as below.
    assert below_vault_threshold(999, 1_500, 666_667)
    assert below_vault_threshold(1_000, 1_500, 666_667)
    assert not below_vault_threshold(1_001, 1_500, 666_667)
    assert below_vault_threshold(-1, 0, 666_667) and not below_vault_threshold(0, 0, 666_667)


def test_the_vault_takes_over_only_below_its_threshold():
    # Long 10 at 1000, maintenance 5 %: at 990 the requirement is 495.
    deep = held(10, 1000, 400, 990).state  # equity 300 < 2/3 x 495 = 330
    shallow = held(10, 1000, 450, 990).state  # equity 350
    assert VaultMode().vault_takes_over(deep, 0, PARAMS) and not VaultMode().vault_takes_over(shallow, 0, PARAMS)
    assert not VaultMode().vault_takes_over(deep, 0, PARAMS._replace(vault_threshold_ppm=600_000))  # 300 >= 297
    assert not any(EXECUTIONS[e].vault_takes_over(deep, 0, PARAMS) for e in Execution if e != Execution.VAULT)
    assert VaultMode().limit_ticks(shallow, 0, 0, 10, PARAMS) == BookMode().limit_ticks(shallow, 0, 0, 10, PARAMS)


def test_adl_follows_the_fund_take_over_always_and_other_modes_only_when_the_fund_falls_short():
    # Long 10 at 1000 with 500: at 940 the equity is -100; the backstop would take it at 939
    # (0.1 % slippage), leaving 110 for the fund.
    empty = held(10, 1000, 500, 940).state
    covered = held(10, 1000, 500, 940).fund(110).state
    for execution in (Execution.BOOK, Execution.BANKRUPTCY, Execution.FILLABLE, Execution.VAULT):
        assert EXECUTIONS[execution].adl_applies(empty, 0, 0, 10, PARAMS, 0)
        assert not EXECUTIONS[execution].adl_applies(covered, 0, 0, 10, PARAMS, 0)
    assert FundMode().adl_applies(covered, 0, 0, 10, PARAMS, 0)
