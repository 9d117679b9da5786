"""Execution "fund": the insurance fund takes over what the book left at the bankruptcy price (Binance).

docs/references.md [binance-liq], [binance-insurance-fund]: the position is closed at the
bankruptcy price and taken over by the fund, which offloads it to the market slowly; the
fund's net notional is checked against 100 % of its size, and what is beyond goes to ADL.
"""


import numpy as np
import pytest

from clearing import events as ev
from clearing.apps.run import run_in_memory
from clearing.core.invariants import violations
from clearing.core.liquidation.fund import fund_room_lots
from clearing.core.risk import fund_equity
from clearing.core.state import ClearingState, Role, apply
from tests.builders import deposited, insurance_fund_deposited, mark_price_updated, payload_dict, state_with, trade
from tests.conftest import small_scenario

FUND_ROLE = Role.INSURANCE_FUND


@pytest.fixture(scope="module")
def run():
    scenario = small_scenario(
        liquidation__execution="fund", liquidation__after_fund="adl", insurance_fund__initial="250000",
        liquidation__fund_offload_notional="20000",
    )  # fmt: skip
    return run_in_memory(scenario, 3)


def test_the_fund_takes_over_at_the_bankruptcy_price_within_its_limit(run):
    summary, sink = run
    assert summary.liquidation_fills_fund > 0
    state = ClearingState()
    checked = 0
    for _seq, _ts, kind, version, _c, payload, _h in sink.rows:
        event = ev.decode(payload, kind, version)
        takeover = isinstance(event, ev.TradeExecuted) and event.liquidation and not event.maker_order
        fund = np.flatnonzero(state.role == FUND_ROLE).tolist() if takeover else []
        if fund and fund[0] in (event.buyer, event.seller):
            apply(state, event)
            held = np.abs(state.position[fund[0]] * state.mark_ticks * state.unit_value).sum()
            assert held <= fund_equity(state)  # 100 % of the fund, with the take-over valued at the mark
            checked += 1
        else:
            apply(state, event)
    assert checked == summary.liquidation_fills_fund
    assert violations(state) == []
    assert state.digest() == summary.state_digest


def test_every_closed_lot_has_exactly_one_stage(run):
    summary, _sink = run
    stages = [summary.liquidated_notional_book, summary.liquidated_notional_backstop, summary.liquidated_notional_fund,
              summary.adl_notional]  # fmt: skip
    assert sum(round(float(x) * 10**6) for x in stages) == round(float(summary.liquidated_notional) * 10**6)
    assert float(summary.adl_notional) > 0  # beyond the fund's limit: ADL


def test_the_fund_unwinds_into_the_book_and_sweeps_its_result(run):
    summary, sink = run
    rows = [(kind, payload_dict(p)) for _s, _t, kind, _v, _c, p, _h in sink.rows]
    swept = [p["amount"] for kind, p in rows if kind == "insurance_fund_swept"]
    assert swept and round(float(summary.insurance_fund_swept) * 10**6) == sum(swept)
    fund = next(p["first_account"] for kind, p in rows if kind == "accounts_opened" and p["role"] == "insurance_fund")
    sells = [p for kind, p in rows if kind == "order_placed" and p["account"] == fund]
    assert sells and all(p["reduce_only"] and p["order_type"] == "ioc" for p in sells)


def test_room_is_the_fund_equity_less_what_it_holds_plus_what_offsets():
    # The pure policy on a state folded by `apply`: no bus, no SimPy.
    state = state_with(1, (1, FUND_ROLE), then=[mark_price_updated(100), deposited(0, 10**6), insurance_fund_deposited(100_000)])
    assert fund_room_lots(state, 1, 0, 5, 100) == 1_000  # 100,000 of equity at 100 a lot
    apply(state, trade(1, 0, 400, 100, liquidation=True, taker_side=-1))
    assert fund_room_lots(state, 1, 0, 5, 100) == 600  # a long of 40,000 uses 40 % of the limit
    assert fund_room_lots(state, 1, 0, -5, 100) == 5 + 605  # a short offsets the long first, freeing 500 of notional
    assert fund_room_lots(state, 1, 0, 5, 100, 500_000) == 100  # a 50 % limit: 50,000 - 40,000
    # Taken over at 110 with the mark at 100, each lot costs the fund 10: 545 lots leave an
    # equity of 94,550 for a notional of 94,500; 546 would not (94,540 for 94,600).
    assert fund_room_lots(state, 1, 0, 5_000, 110) == 545
