"""ADL rankings and exact sharing of deleveraged sizes and socialised losses."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from clearing.core.liquidation.params import AdlRanking
from clearing.core.liquidation.waterfall import RANKINGS, adl_allocation, adl_ranking, socialised_amounts


def a(*values):
    return np.array(values, dtype=np.int64)


def test_each_ranking_is_looked_up_once_and_only_pro_rata_shares_by_size():
    assert set(RANKINGS) == set(AdlRanking)
    assert [r for r, policy in RANKINGS.items() if policy.pro_rata] == [AdlRanking.PRO_RATA]


def test_pro_rata_ranks_in_account_order():
    accounts = a(7, 3, 5)
    order = adl_ranking(AdlRanking.PRO_RATA, accounts, a(-1, -9, -4), a(0, 0, 0), a(0, 0, 0), 90, 1)
    assert accounts[order].tolist() == [3, 5, 7]


def test_bitmex_ranking_puts_profitable_high_leverage_first():
    # docs/references.md [bitmex-adl]: PnL% x effective leverage in profit, PnL% / leverage in loss.
    # Three shorts against a liquidated long, mark 90 (unit value 1). Entry cost is signed (-q x entry).
    # A: short 10 from 100, equity 200: PnL% = 100 / 1000 = 0.1, leverage 900 / 200 = 4.5 -> 0.45
    # B: short 10 from 100, equity 2000: PnL% = 0.1, leverage 0.45                        -> 0.045
    # C: short 10 from 80, equity 500: PnL% = -100 / 800 = -0.125, leverage 1.8           -> -0.069
    accounts = a(7, 3, 5)
    positions = a(-10, -10, -10)
    entry = a(-1000, -1000, -800)
    backing = a(200 + 900, 2000 + 900, 500 + 900)  # equity = backing + position x mark
    order = adl_ranking(AdlRanking.PNL_LEVERAGE, accounts, positions, entry, backing, 90, 1)
    assert accounts[order].tolist() == [7, 3, 5]


def test_an_account_with_no_equity_left_ranks_first_and_ties_go_to_the_lower_account():
    accounts = a(9, 4, 2)
    order = adl_ranking(AdlRanking.PNL_LEVERAGE, accounts, a(-10, -10, -10), a(-1000, -1000, -1000), a(900, 1900, 1900), 90, 1)
    assert accounts[order].tolist() == [9, 2, 4]


def test_random_ranking_is_a_seeded_rotation_of_account_order():
    # docs/references.md [dydx-v4-deleveraging]: iterate from a pseudo-random start.
    accounts = a(5, 1, 3, 8)
    first = adl_ranking(AdlRanking.RANDOM, accounts, a(-1, -1, -1, -1), a(0, 0, 0, 0), a(0, 0, 0, 0), 1, 1, seed=42)
    again = adl_ranking(AdlRanking.RANDOM, accounts, a(-1, -1, -1, -1), a(0, 0, 0, 0), a(0, 0, 0, 0), 1, 1, seed=42)
    assert first.tolist() == again.tolist()
    rotated = accounts[first].tolist()
    start = rotated.index(1)
    assert rotated[start:] + rotated[:start] == [1, 3, 5, 8]


def test_allocation_in_order_and_pro_rata():
    assert adl_allocation(25, [10, 10, 10], pro_rata=False) == [10, 10, 5]
    assert adl_allocation(25, [10, 10, 10], pro_rata=True) == [9, 8, 8]
    assert adl_allocation(99, [3, 4], pro_rata=False) == [3, 4]  # not more than there is


@given(st.integers(0, 10**6), st.lists(st.integers(1, 10**5), min_size=1, max_size=30), st.booleans())
def test_allocations_never_exceed_a_position_and_sum_exactly(lots, sizes, pro_rata):
    out = adl_allocation(lots, sizes, pro_rata)
    assert sum(out) == min(lots, sum(sizes)) and all(0 <= o <= s for o, s in zip(out, sizes, strict=True))


@given(st.integers(0, 10**12), st.lists(st.integers(0, 10**9), min_size=1, max_size=30))
def test_socialised_charges_sum_to_exactly_the_loss(loss, notionals):
    # docs/references.md [drift-v2-socialised-loss]: every open position, pro rata to size.
    out = socialised_amounts(loss, notionals)
    assert all(x >= 0 for x in out)
    assert sum(out) == (loss if sum(notionals) else 0)


@settings(max_examples=200, deadline=None)
@given(
    size=st.integers(1, 300),
    limit=st.integers(1, 40),
    method=st.sampled_from(list(AdlRanking)),
    seed=st.integers(0, 10**6),
)
def test_a_limited_ranking_is_the_prefix_of_the_full_one(size, limit, method, seed):
    rng = np.random.default_rng(seed)
    accounts = np.sort(rng.choice(10**6, size, replace=False))
    position = rng.integers(1, 50, size) * rng.choice([1, 1], size)
    entry = position * rng.integers(90, 110, size)
    backing = rng.integers(-2_000, 2_000, size) // rng.choice([1, 100], size)  # ties and broke accounts too
    full = adl_ranking(method, accounts, position, entry, backing, 100, 1, seed=seed)
    assert (
        adl_ranking(method, accounts, position, entry, backing, 100, 1, seed=seed, limit=limit).tolist() == full[:limit].tolist()
    )
