"""Cascade generations and roots from hand-made cause links (`clearing.apps.cascades.analyse`)."""

import json
import re
from types import SimpleNamespace

from clearing.apps.cascades import GENERATION_COLOURS, analyse, to_dot


def row(seq, kind, causes=(), **fields):
    """(seq, kind, event): an event with the fields the analysis reads, at `seq` seconds."""
    if kind == "trade_executed":
        fields.setdefault("taker_side", 0)  # as an upcast version-1 trade
    if kind == "market_listed":
        fields.setdefault("unit_value", 1)
    if kind in ("trade_executed", "position_deleveraged"):
        fields.setdefault("market", 0)
        fields.setdefault("lots", 0)
        fields.setdefault("price_ticks", 0)
    return (seq, kind, SimpleNamespace(ts_ns=seq * 10**9, causes=tuple(causes), **fields))


def test_a_breach_whose_mark_a_liquidation_fill_moved_is_the_next_generation():
    rows = [
        row(1, "mark_price_updated", (), market=0, price_ticks=100, index_ticks=100),  # exogenous: the index moved
        row(2, "margin_breached", (1,), account=7, market=0),  # generation 0, root 2
        row(3, "order_placed", (2,), liquidation=True),
        row(4, "trade_executed", (3,), liquidation=True),  # its fill drives generation 1
        row(5, "liquidation_completed", (4,), account=7, market=0, notional=100),
        row(6, "quotes_replaced", (1,)),  # the makers follow the index: not driven
        row(
            7, "mark_price_updated", (6, 4), market=0, price_ticks=99, index_ticks=100
        ),  # names the liquidation fill as the last trade
        row(8, "margin_breached", (7,), account=8, market=0),  # generation 1, root 2
        row(9, "trade_executed", (8,), liquidation=True),  # a backstop take-over names the breach
        row(10, "liquidation_completed", (9,), account=8, market=0, notional=300),
        row(11, "mark_price_updated", (6,), market=0, price_ticks=98, index_ticks=98),  # not driven
        row(12, "margin_breached", (11,), account=9, market=0),
        row(13, "liquidation_cancelled", (12,), account=9, market=0),  # recovered: not a liquidation
    ]
    result = analyse(rows)
    assert [(x.account, x.generation, x.root, x.notional) for x in result.liquidations] == [(7, 0, 2, 100), (8, 1, 2, 300)]
    totals = result.totals()
    assert totals["cascade_depth"] == 1 and totals["notional_by_generation"] == [100, 300]
    assert totals["amplification"] == 4.0 and totals["largest_cascade_liquidations"] == 2
    assert totals["largest_cascade_duration_s"] == 5.0


def test_no_liquidations_no_cascades():
    totals = analyse([row(1, "mark_price_updated", market=0, price_ticks=5, index_ticks=5)]).totals()
    assert totals["liquidations"] == 0 and totals["cascade_depth"] == 0 and totals["amplification"] == 0.0


def mark(seq, causes, price, index, market=0):
    return row(seq, "mark_price_updated", causes, market=market, price_ticks=price, index_ticks=index)


def index(seq, price, market=0):
    return row(seq, "index_price_updated", (), market=market, price_ticks=price)


def liquidation(first, cause, account, notional, side=-1, backstop=False, market=0):
    """A breach caused by `cause`, its fill (through an order, or a backstop take-over) and its completion."""
    breach = row(first, "margin_breached", (cause,), account=account, market=market)
    if backstop:
        fills = [row(first + 1, "trade_executed", (first,), liquidation=True, taker_side=side)]
    else:
        fills = [row(first + 1, "order_placed", (first,), liquidation=True),
                 row(first + 2, "trade_executed", (first + 1,), liquidation=True, taker_side=side)]  # fmt: skip
    done = row(first + len(fills) + 1, "liquidation_completed", (first + len(fills),), account=account, market=market,
               notional=notional)  # fmt: skip
    return [breach, *fills, done]


def test_a_mark_that_follows_its_oracle_price_owes_nothing_to_liquidations():
    # Mark = oracle price on the index: the breaches' fills never move it; every fall is exogenous.
    rows = [
        index(1, 1000), row(2, "oracle_price_delivered", (1,)), mark(3, (2,), 1000, 1000),
        index(4, 950), row(5, "oracle_price_delivered", (4,)), mark(6, (5,), 950, 950),
        *liquidation(7, 6, account=1, notional=100),  # 7..10, fill 9
        index(11, 900), row(12, "oracle_price_delivered", (11,)), mark(13, (12,), 900, 900),
    ]  # fmt: skip
    result = analyse(rows)
    moves = result.price_moves()[0]
    assert moves["mark_fall_ticks"] == 100 and moves["liquidation_fall_ticks"] == 0
    assert moves["liquidation_fall_share"] == 0.0 and moves["liquidation_driven_fall_steps"] == 0
    assert moves["peak_to_trough_ticks"] == 100 and moves["peak_to_trough_pct"] == 10.0
    assert result.totals()["liquidation_fall_share"] == 0.0 and result.totals()["cascades_with_depth"] == 0


def test_the_fall_beyond_the_oracle_price_on_driven_steps_is_attributed_to_liquidations():
    rows = [
        index(1, 1000), row(2, "oracle_price_delivered", (1,)), mark(3, (2,), 1000, 1000),
        index(4, 990), row(5, "oracle_price_delivered", (4,)), mark(6, (5,), 990, 990),  # -10, exogenous
        *liquidation(7, 6, account=7, notional=100),  # generation 0; its sell fill is 9
        mark(11, (5, 9), 970, 990),  # -20 driven, the oracle price still: 20 attributed
        *liquidation(12, 11, account=8, notional=300, backstop=True),  # generation 1; fill 13
        index(15, 980), row(16, "oracle_price_delivered", (15,)),
        mark(17, (13, 16), 950, 980),  # -20 driven, the oracle price -10: 10 attributed
        mark(18, (13, 16), 960, 980),  # +10 driven by sells: a rise is never attributed to them
        mark(19, (16,), 940, 980),  # -20, not driven
    ]  # fmt: skip
    result = analyse(rows)
    assert [(x.seq, x.generation, x.parents) for x in result.liquidations] == [(10, 0, ()), (14, 1, (10,))]
    moves = result.price_moves()[0]
    assert (moves["mark_fall_ticks"], moves["liquidation_fall_ticks"], moves["liquidation_driven_fall_steps"]) == (70, 30, 2)
    assert moves["liquidation_fall_share"] == round(30 / 70, 6)
    assert (moves["mark_rise_ticks"], moves["liquidation_rise_ticks"], moves["liquidation_rise_share"]) == (10, 0, 0.0)
    assert (moves["peak_ticks"], moves["trough_ticks"], moves["peak_to_trough_ticks"]) == (1000, 940, 60)
    assert moves["peak_to_trough_liquidation_ticks"] == 30 and moves["peak_to_trough_liquidation_share"] == 0.5
    assert moves["steps_against_index_tape"] == 0


def test_a_short_squeeze_is_attributed_to_buy_side_liquidations():
    rows = [
        index(1, 1000), row(2, "oracle_price_delivered", (1,)), mark(3, (2,), 1000, 1000),
        *liquidation(4, 3, account=5, notional=50, side=1),  # a short bought back: fill 6
        mark(8, (2, 6), 1004, 1000),  # +4 driven by a buy: attributed
        index(9, 1006), row(10, "oracle_price_delivered", (9,)), mark(11, (10,), 1010, 1006),  # +6 exogenous
    ]  # fmt: skip
    moves = analyse(rows).price_moves()[0]
    assert (moves["mark_rise_ticks"], moves["liquidation_rise_ticks"], moves["liquidation_rise_share"]) == (10, 4, 0.4)
    assert moves["mark_fall_ticks"] == 0 and moves["liquidation_fall_share"] == 0.0


def test_an_oracle_price_moved_by_liquidations_is_measured_against_the_index_tape():
    # The oracle watches the book's mid: its price is driven, so the reference is the external index.
    rows = [
        index(1, 1000), row(2, "oracle_price_delivered", (1,)), mark(3, (2,), 1000, 1000),
        *liquidation(4, 3, account=5, notional=50),  # fill 6
        row(8, "oracle_observed", (6,)), row(9, "oracle_price_delivered", (8,)),
        mark(10, (9,), 980, 980),  # the index did not move: all 20 ticks are the fills'
        index(11, 990), row(12, "oracle_observed", (6,)), row(13, "oracle_price_delivered", (12,)),
        mark(14, (13,), 960, 960),  # -20, the index -10: 10
    ]  # fmt: skip
    moves = analyse(rows).price_moves()[0]
    assert moves["liquidation_fall_ticks"] == 30 and moves["mark_fall_ticks"] == 40
    assert moves["steps_against_index_tape"] == 2 and moves["liquidation_fall_share"] == 0.75


def _cascade_log():
    # Two cascades: root A (notional 100 + 300 + 200, two generations) and a lone liquidation B (1000).
    return [
        index(1, 1000), row(2, "oracle_price_delivered", (1,)), mark(3, (2,), 990, 1000),
        *liquidation(4, 3, account=1, notional=100),  # A: 4..7, fill 6, completed 7
        *liquidation(8, 3, account=2, notional=1000, side=1),  # B: 8..11, fill 10 (a buy)
        mark(12, (2, 6), 980, 1000),  # driven by A's fill only
        *liquidation(13, 12, account=3, notional=300, backstop=True),  # A gen 1: 13..15, fill 14
        mark(16, (2, 14), 970, 1000),
        *liquidation(17, 16, account=4, notional=200, backstop=True),  # A gen 2: 17..19
    ]  # fmt: skip


def test_cascades_are_grouped_by_root_and_the_largest_is_by_notional():
    result = analyse(_cascade_log())
    groups = result.cascades()
    assert [(c.root, len(c.liquidations), c.notional, c.depth) for c in groups] == [(8, 1, 1000, 0), (4, 3, 600, 2)]
    totals = result.totals()
    assert totals["cascades"] == 2 and totals["cascades_with_depth"] == 1 and totals["amplification"] == round(1600 / 1100, 6)
    top = result.largest_cascade()
    assert top["root_liquidation"] == 11 and top["root_account"] == 2 and top["duration_s"] == 0.0
    deep = groups[1].as_dict()
    assert deep["root_liquidation"] == 7 and deep["root_account"] == 1 and deep["liquidations"] == 3
    assert (deep["start_s"], deep["end_s"], deep["duration_s"], deep["depth"]) == (7.0, 19.0, 12.0, 2)
    rows = result.as_rows()
    assert [r["parents"] for r in rows] == [[], [], [7], [15]]
    json.dumps({"totals": totals, "largest": top, "rows": rows})  # JSON-ready


def parse_dot(text):
    """Return (nodes {id: attributes}, edges [(a, b)], clusters {name: [node ids]}, comments) of our DOT subset."""
    nodes, edges, clusters, comments = {}, [], {}, []
    cluster = None
    lines = text.splitlines()
    assert lines[-1] == "}" and "digraph cascades {" in lines
    for line in lines:
        s = line.strip()
        if s.startswith("//"):
            comments.append(s)
        elif m := re.fullmatch(r"subgraph (cluster_\d+) \{", s):
            cluster = m.group(1)
            clusters[cluster] = []
        elif s == "}":
            cluster = None
        elif m := re.fullmatch(r"(L\d+) -> (L\d+);", s):
            edges.append((m.group(1), m.group(2)))
        elif m := re.fullmatch(r'(L\d+) \[label="([^"]*)", fillcolor="(#[0-9a-f]{6})"\];', s):
            nodes[m.group(1)] = {"label": m.group(2), "fillcolor": m.group(3)}
            if cluster:
                clusters[cluster].append(m.group(1))
        else:
            assert s in ("digraph cascades {", "rankdir=LR;") or s.startswith(("node [", "label=")), s
    assert text.count("{") == text.count("}")
    return nodes, edges, clusters, comments


def test_dot_draws_liquidations_coloured_by_generation_with_edges_from_their_parents():
    nodes, edges, clusters, comments = parse_dot(to_dot(analyse(_cascade_log())))
    assert set(nodes) == {"L7", "L11", "L15", "L19"}
    assert edges == [("L7", "L15"), ("L15", "L19")]
    assert clusters == {"cluster_4": ["L7", "L15", "L19"]}  # the lone liquidation is not a cluster
    assert nodes["L15"]["label"] == "15\\naccount 3\\ngen 1\\nnotional 300"
    assert [nodes[n]["fillcolor"] for n in ("L7", "L15", "L19")] == list(GENERATION_COLOURS[:3])
    assert not any("left out" in c for c in comments)


def test_dot_keeps_the_deep_cascades_first_and_says_what_it_left_out():
    nodes, _edges, _clusters, comments = parse_dot(to_dot(analyse(_cascade_log()), limit=3))
    assert set(nodes) == {"L7", "L15", "L19"}  # depth >= 1 before a larger lone liquidation
    assert any("left out: 1 liquidations: 1 whole cascades (notional 1000" in c for c in comments)
    nodes, edges, _clusters, comments = parse_dot(to_dot(analyse(_cascade_log()), limit=2))
    assert set(nodes) == {"L7", "L15"} and edges == [("L7", "L15")]  # cut by generation
    assert any("and 1 of the largest cascade" in c for c in comments)


def test_dot_of_nothing_is_an_empty_graph():
    nodes, edges, _clusters, _comments = parse_dot(to_dot(analyse([mark(1, (), 5, 5)])))
    assert nodes == {} and edges == []


def test_a_liquidation_driven_by_two_cascades_has_both_parents_and_one_root():
    rows = [
        index(1, 1000), row(2, "oracle_price_delivered", (1,)), mark(3, (2,), 990, 1000),
        *liquidation(4, 3, account=1, notional=100),  # fill 6, completed 7
        *liquidation(8, 3, account=2, notional=100),  # fill 10, completed 11
        row(12, "quotes_replaced", (10,)),  # a maker anchored to the last trade
        mark(13, (2, 6, 12), 980, 1000),
        *liquidation(14, 13, account=3, notional=50, backstop=True),  # completed 16
    ]  # fmt: skip
    result = analyse(rows)
    child = result.liquidations[-1]
    assert (child.generation, child.root, child.parents) == (1, 4, (7, 11))  # the root of the earliest cause
    _nodes, edges, _clusters, _comments = parse_dot(to_dot(result))
    assert sorted(edges) == [("L11", "L16"), ("L7", "L16")]


def test_each_market_is_attributed_and_drawn_under_its_symbol():
    rows = [
        row(1, "market_listed", market=0, symbol="BTCUSDT-PERP"), row(2, "market_listed", market=1, symbol="ETHUSDT-PERP"),
        mark(3, (), 1000, 1000), mark(4, (), 500, 500, market=1),
        *liquidation(5, 4, account=1, notional=100, market=1),  # breach 5, order 6, fill 7 (a sale), completed 8
        mark(9, (), 990, 1000),  # BTC falls 10 ticks below its oracle price, no liquidation flow: exogenous
        mark(10, (7,), 480, 500, market=1),  # ETH falls 20 ticks on the fill, its oracle price unchanged
    ]  # fmt: skip
    result = analyse(rows)
    moves = result.by_symbol()
    assert list(moves) == ["BTCUSDT-PERP", "ETHUSDT-PERP"]
    assert (moves["BTCUSDT-PERP"]["mark_fall_ticks"], moves["BTCUSDT-PERP"]["liquidation_fall_ticks"]) == (10, 0)
    assert (moves["ETHUSDT-PERP"]["mark_fall_ticks"], moves["ETHUSDT-PERP"]["liquidation_fall_share"]) == (20, 1.0)
    assert [(m["market"], m["symbol"]) for m in result.price_moves()] == [(0, "BTCUSDT-PERP"), (1, "ETHUSDT-PERP")]
    totals = result.totals()  # ticks of two markets do not add up: no flat price attribution
    assert totals["mark_fall_ticks"] is None and totals["liquidation_fall_share"] is None and totals["liquidations"] == 1
    assert result.as_rows()[0]["symbol"] == "ETHUSDT-PERP"
    nodes, _edges, _clusters, _comments = parse_dot(to_dot(result))
    assert nodes["L8"]["label"] == "8\\naccount 1\\nETHUSDT-PERP\\ngen 0\\nnotional 100"


def test_one_market_keeps_its_flat_price_attribution():
    rows = [row(1, "market_listed", market=0, symbol="BTCUSDT-PERP"), mark(2, (), 1000, 1000), mark(3, (), 990, 990)]
    totals = analyse(rows).totals()
    assert totals["mark_fall_ticks"] == 10 and totals["liquidation_fall_share"] == 0.0


def test_a_cross_account_breached_by_one_market_closed_on_another_is_contagion():
    # Account 1 (cross) is breached by BTC's mark; its liquidation sells 2 BTC lots at 100 and 10 ETH lots at 5
    # (unit value 1 on both). Account 2 is breached by ETH's mark and closed on ETH only.
    rows = [
        row(1, "market_listed", market=0, symbol="BTC", unit_value=1),
        row(2, "market_listed", market=1, symbol="ETH", unit_value=1),
        mark(3, (), 100, 100), mark(4, (), 5, 5, market=1),
        row(5, "margin_breached", (3,), account=1, market=0),
        row(6, "order_placed", (5,), liquidation=True),
        row(7, "trade_executed", (6,), liquidation=True, taker_side=-1, market=0, lots=2, price_ticks=100),
        row(8, "order_placed", (5,), liquidation=True),
        row(9, "trade_executed", (8,), liquidation=True, taker_side=-1, market=1, lots=10, price_ticks=5),
        row(10, "liquidation_completed", (7, 9), account=1, market=0, notional=250),
        row(11, "margin_breached", (4,), account=2, market=1),
        row(12, "trade_executed", (11,), liquidation=True, taker_side=-1, market=1, lots=4, price_ticks=5),
        row(13, "liquidation_completed", (12,), account=2, market=1, notional=20),
    ]  # fmt: skip
    result = analyse(rows)
    first, second = result.liquidations
    assert (first.trigger_market, first.closed, first.cross_market) == (0, ((0, 200), (1, 50)), True)
    assert (second.trigger_market, second.closed, second.cross_market) == (1, ((1, 20),), False)
    assert result.contagion() == {"BTC": {"BTC": 200, "ETH": 50}, "ETH": {"ETH": 20}}
    assert result.generations_by_market() == {"BTC": [1], "ETH": [2]}
    totals = result.totals()
    assert (totals["cross_market_liquidations"], totals["cross_market_notional"]) == (1, 50)
    assert result.as_rows()[0]["closed"] == [[0, 200], [1, 50]]
