"""Cascade generations and roots from hand-made cause links (`clearing.cascades.analyse`)."""

import json

from clearing.cascades import analyse


def row(seq, kind, causes=(), **payload):
    return (seq, seq * 10**9, kind, json.dumps(list(causes)), json.dumps(payload))


def test_a_breach_whose_mark_a_liquidation_fill_moved_is_the_next_generation():
    rows = [
        row(1, "mark_price_updated", (), market=0),  # exogenous: the index moved
        row(2, "margin_breached", (1,), account=7, market=0),  # generation 0, root 2
        row(3, "order_placed", (2,), liquidation=True),
        row(4, "trade_executed", (3,), liquidation=True),  # its fill drives generation 1
        row(5, "liquidation_completed", (4,), account=7, market=0, notional=100),
        row(6, "quotes_replaced", (1,)),  # the makers follow the index: not driven
        row(7, "mark_price_updated", (6, 4), market=0),  # names the liquidation fill as the last trade
        row(8, "margin_breached", (7,), account=8, market=0),  # generation 1, root 2
        row(9, "trade_executed", (8,), liquidation=True),  # a backstop take-over names the breach
        row(10, "liquidation_completed", (9,), account=8, market=0, notional=300),
        row(11, "mark_price_updated", (6,), market=0),  # not driven
        row(12, "margin_breached", (11,), account=9, market=0),
        row(13, "liquidation_cancelled", (12,), account=9, market=0),  # recovered: not a liquidation
    ]
    result = analyse(rows, 20)
    assert [(x.account, x.generation, x.root, x.notional) for x in result.liquidations] == [(7, 0, 2, 100), (8, 1, 2, 300)]
    totals = result.totals()
    assert totals["cascade_depth"] == 1 and totals["notional_by_generation"] == [100, 300]
    assert totals["amplification"] == 4.0 and totals["largest_cascade_liquidations"] == 2
    assert totals["largest_cascade_duration_s"] == 5.0


def test_no_liquidations_no_cascades():
    totals = analyse([row(1, "mark_price_updated")], 5).totals()
    assert totals["liquidations"] == 0 and totals["cascade_depth"] == 0 and totals["amplification"] == 0.0
