"""ADL of one position, called directly on a state: who may be deleveraged, in what order, how many lots.

Sources: docs/references.md [binance-adl] and [bitmex-adl] (closed at the bankruptcy price
of the liquidated order; BitMEX's PnL% x effective leverage ranking), [dydx-v4-deleveraging]
(a pseudo-random start over the candidates).
"""

import numpy as np
import pytest

from clearing import events as ev
from clearing.core.liquidation.adl import Candidates, Deleveraging, adl_candidates, deleveraged_events, deleveraging
from clearing.core.liquidation.params import AdlRanking
from clearing.core.liquidation.waterfall import adl_ranking
from tests.unit.liquidation_states import one_market

BACKSTOP, MAKER, FUND = 8, 9, 10


@pytest.fixture
def book():
    """Trader 0: long 10 at 1000 with 500, bankrupt at 950; the mark at 940. On the short side:
    1 (short 4, cash 1,000) and 2 (short 6, cash 10,000), both healthy; 3 (short 5 from 900 with
    100: negative at 950); 4 (short 3, being liquidated); the backstop and the fund (short 5
    each); 5 is long 2. The maker took the other side of every trade."""
    ledger = one_market().deposit(0, 500).trade(0, MAKER, 10, 1000)
    for account, lots, price, cash in ((1, 4, 1000, 1_000), (2, 6, 1000, 10_000), (3, 5, 900, 100), (4, 3, 1000, 1_000)):
        ledger.deposit(account, cash).trade(MAKER, account, lots, price)
    ledger.trade(MAKER, BACKSTOP, 5, 1000).fund(10**6).trade(MAKER, FUND, 5, 1000)
    ledger.deposit(5, 1_000).trade(5, MAKER, 2, 1000)
    return ledger.mark(940).breach(4)


def test_candidates_are_the_healthy_opposite_side_without_the_house_or_the_queued(book):
    found = adl_candidates(book.state, 0, 0, 10, BACKSTOP, 950)
    assert isinstance(found, Candidates)
    assert found.accounts.tolist() == [1, 2]  # not 3 (negative at 950), 4 (queued), the backstop or the fund
    assert found.position_lots.tolist() == [-4, -6]
    assert found.backing.tolist() == [5_000, 16_000]  # margin cash: deposit plus the sale


def test_a_short_is_deleveraged_against_the_longs_the_maker_included(book):
    # Account 0's long at 950 has equity 0 (kept), 5 has 900; the maker is not the backstop.
    assert adl_candidates(book.state, 1, 0, -4, BACKSTOP, 950).accounts.tolist() == [0, 5, MAKER]
    assert adl_candidates(book.state, 1, 0, -4, MAKER, 950).accounts.tolist() == [0, 5]


def test_pnl_leverage_deleverages_the_highest_score_first_at_the_bankruptcy_price(book):
    # At 940 both shorts gained 6 %: 1's leverage is 3,760 / 1,240, 2's 5,640 / 10,360, so 1 first.
    assert deleveraging(book.state, 0, 0, 10, BACKSTOP, AdlRanking.PNL_LEVERAGE, 7) == Deleveraging(950, [1, 2], [4, 6])
    assert deleveraging(book.state, 0, 0, 7, BACKSTOP, AdlRanking.PNL_LEVERAGE, 7) == Deleveraging(950, [1, 2], [4, 3])
    assert deleveraging(book.state, 0, 0, 3, BACKSTOP, AdlRanking.PNL_LEVERAGE, 7) == Deleveraging(950, [1], [3])
    assert deleveraging(book.state, 0, 0, 99, BACKSTOP, AdlRanking.PNL_LEVERAGE, 7).lots == [4, 6]  # all they hold


def test_binance_leverage_pnl_ranks_profit_over_wallet_times_margin_ratio():
    # Binance ([binance-adl]): PnLPercent = max(0, UPnL) / max(1, WalletBalance), MarginRatio = MM / (WB + UPnL)
    # (0 when WB + UPnL <= 0), LeveragePnL = PnLPercent x MarginRatio, highest first. Four shorts, quote unit 100 minor:
    #   A: wallet 1,000, UPnL +500, MM 50  -> 0.5 x 50 / 1,500 = 0.0167
    #   B: wallet 100,   UPnL +10,  MM 40  -> 0.1 x 40 / 110   = 0.036
    #   C: wallet 500,   UPnL -100, MM 30  -> 0 (no profit)
    #   D: wallet 50,    UPnL +200, MM 100 -> 200 / max(100, 50) = 2.0 x 100 / 250 = 0.8
    # A short of 10 lots at unit value 1 and mark 100 is worth -1,000: entry cost = value - UPnL.
    accounts = np.array([10, 11, 12, 13], np.int64)
    position = np.array([-10, -10, -10, -10], np.int64)
    upnl = np.array([500, 10, -100, 200], np.int64)
    entry = -1000 - upnl
    wallet = np.array([1000, 100, 500, 50], np.int64)
    backing = wallet - entry  # the ledger's cash holds the short's sale (decision 0002)
    maintenance = np.array([50, 40, 30, 100], np.int64)
    order = adl_ranking(AdlRanking.LEVERAGE_PNL, accounts, position, entry, backing, 100, 1, maintenance=maintenance,
                        quote_unit=100)  # fmt: skip
    assert accounts[order].tolist() == [13, 11, 10, 12]
    assert accounts[adl_ranking(AdlRanking.LEVERAGE_PNL, accounts, position, entry, backing, 100, 1, limit=2,
                                maintenance=maintenance, quote_unit=100)].tolist() == [13, 11]  # fmt: skip
    # BitMEX's PnL% x effective leverage puts A before B (0.333 x 0.667 = 0.222 against 0.0099 x 9.09 = 0.090).
    bitmex = accounts[adl_ranking(AdlRanking.PNL_LEVERAGE, accounts, position, entry, backing, 100, 1)].tolist()
    assert bitmex == [13, 10, 11, 12]


def test_leverage_pnl_reads_the_positions_maintenance_requirement_from_the_state(book):
    # At 940 the book's shorts 1 (short 4 from 1,000, wallet 1,000) and 2 (short 6, wallet 10,000) gained 240 and 360;
    # maintenance at 5 %: 188 and 282. 1: 240 / 1,000 x 188 / 1,240 = 0.0364; 2: 360 / 10,000 x 282 / 10,360 = 0.00098.
    plan = deleveraging(book.state, 0, 0, 10, BACKSTOP, AdlRanking.LEVERAGE_PNL, 7)
    assert plan == Deleveraging(950, [1, 2], [4, 6])
    assert deleveraging(book.state, 0, 0, 3, BACKSTOP, AdlRanking.LEVERAGE_PNL, 7) == Deleveraging(950, [1], [3])


def test_random_starts_at_a_seeded_candidate_and_goes_on_in_account_order(book):
    starts = set()
    for seed in range(12):
        plan = deleveraging(book.state, 0, 0, 7, BACKSTOP, AdlRanking.RANDOM, seed)
        assert plan == deleveraging(book.state, 0, 0, 7, BACKSTOP, AdlRanking.RANDOM, seed)  # reproducible
        assert plan.counterparties in ([1, 2], [2, 1]) and plan.price_ticks == 950
        order = adl_ranking(AdlRanking.RANDOM, *adl_candidates(book.state, 0, 0, 7, BACKSTOP, 950)[:2],
                            book.state.entry_cost[[1, 2], 0], book.state.cash[[1, 2]], 940, 1, seed=seed)  # fmt: skip
        assert plan.counterparties[0] == [1, 2][order[0]]
        starts.add(plan.counterparties[0])
    assert starts == {1, 2}


def test_pro_rata_shares_by_size_with_the_odd_lots_to_the_largest_remainders(book):
    # 7 lots over 4 and 6: floor 2.8 and 4.2, the odd lot to the larger remainder (account 1).
    assert deleveraging(book.state, 0, 0, 7, BACKSTOP, AdlRanking.PRO_RATA, 7) == Deleveraging(950, [1, 2], [3, 4])
    assert deleveraging(book.state, 0, 0, 10, BACKSTOP, AdlRanking.PRO_RATA, 7) == Deleveraging(950, [1, 2], [4, 6])


def test_no_candidate_no_deleveraging():
    # The maker holds the only short; passed as the backstop, it may not be deleveraged.
    ledger = one_market().deposit(0, 500).trade(0, MAKER, 10, 1000).mark(940)
    assert deleveraging(ledger.state, 0, 0, 10, MAKER, AdlRanking.PNL_LEVERAGE, 1) == Deleveraging(950, [], [])


def test_the_events_name_the_counterparty_as_the_other_side():
    plan = Deleveraging(950, [1, 2], [4, 6])
    events = deleveraged_events(plan, 5, (3,), 0, 0, 10)
    assert events == [
        ev.PositionDeleveraged(ts_ns=5, causes=(3,), market=0, account=0, buyer=1, seller=0, lots=4, price_ticks=950),
        ev.PositionDeleveraged(ts_ns=5, causes=(3,), market=0, account=0, buyer=2, seller=0, lots=6, price_ticks=950),
    ]
    short = deleveraged_events(Deleveraging(1050, [5], [2]), 5, (3,), 0, 1, -2)
    assert (short[0].buyer, short[0].seller) == (1, 5)
