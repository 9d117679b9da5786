"""The monitor checks every row directly while most rows keep changing, then rebuilds its prices.

A funding settlement changes every account's cash: the cache's liquidation prices go stale and
each check compares every row's backing with its requirement (the reference's formula) until
the changes settle, then, after `rebuild_after` direct checks, every price is rebuilt; each
check's rows are the full reference check's throughout, under one rate and under brackets.
"""

from __future__ import annotations

import numpy as np
import pytest

from clearing.core.state.schema import TOUCHED_ALL
from clearing.sim.margin_monitor import TriggerCache
from tests.builders import state_with
from tests.unit.margin_reference import breached_accounts

N = 2_000
BRACKETS = {"one rate": {"maintenance_margin_ppm": 5_000},
            "brackets": {"maintenance_margin_ppm": 4_000, "bracket_floors": (0, 50_000_000, 250_000_000),
                         "bracket_rates_ppm": (4_000, 5_000, 10_000)}}  # fmt: skip


@pytest.mark.parametrize("rates", BRACKETS)
def test_direct_checks_while_rows_change_then_prices_again(rates: str) -> None:
    s = state_with(N, unit_value=100, **BRACKETS[rates])
    rng = np.random.default_rng(7)
    lots = rng.integers(-500, 500, N)
    s.position[:, 0] = lots
    s.cash[:] = np.abs(lots) * 60_000 * 100 // rng.choice([5, 20, 100], N) - lots * 60_000 * 100
    s.mark_ticks[0] = 60_000
    cache = TriggerCache(0, rebuild_after=3)
    path = []

    def check(touched: list[int] | None) -> None:
        assert cache.breached(s, touched).tolist() == breached_accounts(s, 0, s.margin_cash()).tolist()
        path.append(cache.stale)

    check(None)
    for step in range(12):
        s.mark_ticks[0] = 60_000 - 40 * step
        if step in (1, 2):  # funding: every row's cash
            s.cash += rng.integers(-50_000, 50_000, N)
            check([TOUCHED_ALL])
        else:  # a few fills
            rows = rng.choice(N, 5, replace=False)
            s.cash[rows] += 1_000
            check(sorted(rows.tolist()))
    # Stale from the first settlement (checked directly), the second and two settled checks (rebuild_after = 3
    # direct checks since), prices rebuilt at the next.
    assert path == [False, False, True, True, True, True, False, False, False, False, False, False, False]


def test_a_journal_that_repeats_a_few_rows_counts_as_settled() -> None:
    # Every trade notes its buyer and seller: a maker trading with three traders sixty times is 120 entries, 4 rows.
    s = state_with(N, unit_value=100, maintenance_margin_ppm=5_000)
    s.position[:, 0] = np.where(np.arange(N) % 2, 10, -10)
    s.cash[:] = 10**9
    s.mark_ticks[0] = 60_000
    cache = TriggerCache(0, rebuild_after=2)
    cache.breached(s, None)
    s.cash += 1  # funding: every row
    cache.breached(s, [TOUCHED_ALL])
    assert cache.stale
    for _ in range(4):
        s.mark_ticks[0] += 10
        touched = [0, 1, 2, 3] * 60
        assert len(touched) * cache.direct_share > N
        assert cache.breached(s, touched).tolist() == breached_accounts(s, 0, s.margin_cash()).tolist()
    assert not cache.stale
