"""The market in motion: impact, funding, mark methods, oracle sources, depth calibration, exchange rules."""

import json
import os
from decimal import Decimal
from pathlib import Path

import pytest

from clearing import events as ev
from clearing.apps.run import run_in_memory
from clearing.scenario import load_scenario
from clearing.sim.exchange import Exchange
from tests.builders import bus_with, payload_dict
from tests.conftest import SCENARIOS, small_scenario

S = 10**9


def rows_of(sink, *kinds):
    return [(seq, ts, payload_dict(payload)) for seq, ts, kind, _v, _c, payload, _h in sink.rows if not kinds or kind in kinds]


@pytest.fixture(scope="module")
def crash():
    return run_in_memory(small_scenario(funding__interval_s=600, funding__sample_s=30), 7)


def test_liquidation_flow_pushes_trades_below_the_index(crash):
    _summary, sink = crash
    index = 0
    below = 0
    for _seq, _ts, kind, _v, _c, payload, _h in sink.rows:
        data = payload_dict(payload)
        if kind == "index_price_updated":
            index = data["price_ticks"]
        elif kind == "trade_executed" and data["liquidation"]:
            assert data["maker_order"], "the book, not the backstop, takes these liquidations"
            below += data["price_ticks"] < index * 0.998
    assert below > 10


def test_funding_settles_every_interval_exactly_zero_sum(crash):
    _summary, sink = crash
    rates = rows_of(sink, "funding_rate_set")
    assert [ts for _s, ts, _p in rates] == [600 * S, 1200 * S, 1800 * S]
    assert all(p["samples"] == 20 for _s, _ts, p in rates)
    paid = rows_of(sink, "funding_paid")
    for _s, ts, _p in rates:
        amounts = [a for _seq, t, p in paid if t == ts for a in p["amounts"]]
        assert amounts and sum(amounts) == 0


def test_premium_samples_carry_their_inputs(crash):
    _summary, sink = crash
    samples = rows_of(sink, "premium_sampled")
    assert samples and all(p["impact_bid_ticks"] <= p["impact_ask_ticks"] for _s, _t, p in samples if p["impact_bid_ticks"])


@pytest.mark.parametrize("method", ["binance_median", "ema_basis"])
def test_mark_methods_blend_the_oracle_with_the_book(method):
    _summary, sink = run_in_memory(small_scenario(duration_s=600, mark__method=method, mark__interval_ms=1000), 3)
    marks = rows_of(sink, "mark_price_updated")
    assert marks and all(p["method"] == method for _s, _t, p in marks)
    assert any(p["price_ticks"] != p["index_ticks"] for _s, _t, p in marks)
    assert not rows_of(sink, "mark_price_updated") or rows_of(sink, "oracle_price_delivered")


def test_an_oracle_on_the_perp_itself_follows_the_book():
    _summary, sink = run_in_memory(small_scenario(duration_s=300, oracle__source="mid"), 3)
    published = rows_of(sink, "oracle_price_published")
    first_quote = rows_of(sink, "quotes_replaced")[0][0]
    assert published and all(seq > first_quote for seq, _t, _p in published)


def test_makers_anchored_to_last_trade_keep_the_impact():
    by_index, _ = run_in_memory(small_scenario(duration_s=1500, market_makers__anchor="index"), 5)
    by_last, _ = run_in_memory(small_scenario(duration_s=1500, market_makers__anchor="last"), 5)
    assert by_index.head_hash != by_last.head_hash


def write_depth(path):
    lines = ["timestamp,percentage,depth,notional,weighted_avg_price"]
    lines += [
        f"{stamp},{pct},1.0,{abs(pct) * 10_000_000 * scale},60000"
        for stamp, scale in (("2024-03-01 00:00:00", 1.0), ("2024-03-01 00:05:00", 0.1))
        for pct in (-5, -4, -3, -2, -1, 1, 2, 3, 4, 5)
    ]
    path.write_text("\n".join(lines) + "\n")


def test_depth_profile_sets_and_thins_the_makers_ladders(tmp_path):
    write_depth(tmp_path / "depth.csv")
    scenario = small_scenario(
        duration_s=600, market_makers__depth_profile="depth.csv", market_makers__count=2, market_makers__half_spread_bps=50.0,
        market_makers__level_spacing_bps=50.0, market_makers__levels=2, price__volatility=0.0, price__shocks=[],
    )  # fmt: skip
    _summary, sink = run_in_memory(scenario, 1, data_dir=tmp_path)
    quotes = rows_of(sink, "quotes_replaced")
    early = next(p for _s, ts, p in quotes if ts < 300 * S)
    late = next(p for _s, ts, p in quotes if ts > 300 * S)
    # Levels at 50 and 100 bps share the first 1 % bucket: 10M / 2 levels / 2 makers = 2.5M each.
    prices = ev.QuotesReplaced.prices(tuple(early["bid_price_steps"]), -1)
    notional = [q * price * 100 // 10**6 for price, q in zip(prices, early["bid_lots"], strict=True)]
    assert all(2_400_000 < n <= 2_500_000 for n in notional)
    assert sum(late["bid_lots"]) < sum(early["bid_lots"]) / 5


def test_missing_data_file_names_every_place_searched(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CLEARING_DATA_DIR", raising=False)
    from clearing.errors import DataError

    scenario = small_scenario(market_makers__depth_profile="nowhere.csv")
    with pytest.raises(DataError, match=r"nowhere.csv.*not found.*data"):
        run_in_memory(scenario, 1)


def exchange_with_book():
    bus = bus_with(3, taker_fee_ppm=1000)
    exchange = Exchange(bus, "expire_maker")
    exchange.submit(0, 1, 0, -1, 5, "limit", 101)
    exchange.submit(0, 1, 0, 1, 5, "limit", 99)
    return exchange, bus


def test_order_types_do_what_their_names_say():
    exchange, bus = exchange_with_book()
    assert exchange.submit(0, 0, 0, 1, 2, "post_only", 101).rejected == "would_take"
    assert exchange.submit(0, 0, 0, 1, 2, "post_only", 100).remaining == 2  # rests at 100
    ioc = exchange.submit(0, 0, 0, 1, 9, "ioc", 101)
    assert (ioc.filled, ioc.remaining) == (5, 4)
    assert bus.state.books[0].best_ask() == 0 and bus.state.books[0].best_bid() == 100
    assert exchange.submit(0, 2, 0, 1, 1, "market").remaining == 1  # no liquidity left
    assert exchange.submit(0, 2, 0, 1, 1, "market", reduce_only=True).rejected == "would_increase"
    closing = exchange.submit(0, 0, 0, -1, 50, "market", reduce_only=True)  # holds +5: trimmed to 5
    assert closing.filled == 5 and bus.state.position[0, 0] == 0
    reasons = [payload_dict(p)["reason"] for _s, _t, k, _v, _c, p, _h in bus.sink.rows if k == "order_cancelled"]
    # The reduce-only sell first expired account 0's own resting bid (self-trade prevention).
    assert reasons == ["ioc_remainder", "no_liquidity", "self_trade"]


def test_taker_pays_the_taker_fee_rounded_up():
    exchange, bus = exchange_with_book()
    exchange.submit(0, 0, 0, 1, 3, "market")
    trade = next(payload_dict(p) for _s, _t, k, _v, _c, p, _h in bus.sink.rows if k == "trade_executed")
    assert (trade["buyer_fee"], trade["seller_fee"]) == (1, 0)  # ceil(303 x 0.1 %) = 1
    assert bus.state.fee_pool == 1


@pytest.mark.skipif(
    not (Path(os.environ.get("CLEARING_DATA_DIR", "/nonexistent")) / "btcusdt_1m_2020-03-12.csv").exists(),
    reason="needs CLEARING_DATA_DIR with btcusdt_1m_2020-03-12.csv",
)
def test_black_thursday_tape_window_runs_inside_the_real_bars():
    scenario = load_scenario(
        SCENARIOS / "btcusdt-2020-03-12-1000.toml",
        ["duration_s=600", "population.accounts=500", "population.entry_window_s=60"],
    )
    summary, sink = run_in_memory(scenario, 2)
    index = [p["price_ticks"] for _s, _t, p in rows_of(sink, "index_price_updated")]
    # 10:00-10:10 UTC in the file: first open 7,358.51; lowest low 7,329.03; highest high 7,368.50.
    assert index[0] == 735_851 and min(index) >= 732_903 and max(index) <= 736_850
    assert summary.events > 1000


def test_an_oracle_on_the_last_trade_cites_that_trade():
    _summary, sink = run_in_memory(small_scenario(duration_s=300, oracle__source="last"), 3)
    kinds = {seq: (kind, json.loads(c)) for seq, _ts, kind, _v, c, _p, _h in sink.rows}
    published = [json.loads(c) for _s, _t, kind, _v, c, _p, _h in sink.rows if kind == "oracle_price_published"]
    # publication <- the source's observation <- the trade it saw
    assert published and all(kinds[causes[0]][0] == "oracle_observed" for causes in published)
    assert all(kinds[kinds[causes[0]][1][0]][0] == "trade_executed" for causes in published)


def test_steeper_brackets_liquidate_large_positions_sooner():
    # 10x traders, an 8 % fall: 2 % of notional is left, above a flat 0.5 % but below the
    # 3.4 % a 200,000 USDT position needs under the steep brackets (5 % - 3,150 / 200,000).
    mild = {
        "duration_s": 1500, "price__volatility": 0.0, "population__leverage": [10], "population__leverage_weights": [1.0],
        "price__shocks": [{"start_s": 600, "duration_s": 300, "change": -0.08}], "population__holding_mean_s": 0,
    }  # fmt: skip
    flat, _ = run_in_memory(small_scenario(**mild), 5)
    steep = small_scenario(**mild, market__maintenance_brackets=[["0", "0.005"], ["10000", "0.02"], ["100000", "0.05"]])
    tiered, sink = run_in_memory(steep, 5)
    assert flat.margin_breaches == 0 < tiered.margin_breaches
    listed = rows_of(sink, "market_listed")[0][2]
    assert listed["bracket_rates_ppm"] == [5000, 20000, 50000]


def book_only_shortfalls(execution):
    _summary, sink = run_in_memory(small_scenario(duration_s=1500, liquidation__execution=execution), 7)
    trades = {seq: payload_dict(p) for seq, _t, k, _v, _c, p, _h in sink.rows if k == "trade_executed"}
    shortfalls = []
    for _seq, _t, kind, _v, causes, payload, _h in sink.rows:
        if kind == "liquidation_completed" and all(trades[c]["maker_order"] for c in json.loads(causes)):
            done = payload_dict(payload)
            shortfalls.append(done["insurance_paid"] + done["bad_debt"])
    return shortfalls


def test_bankruptcy_bounded_liquidations_never_need_the_fund_for_book_fills():
    # Filled wholly in the book at or better than bankruptcy, a liquidation leaves no shortfall;
    # bounded only by mark - max slippage, book fills can land past bankruptcy and draw the fund.
    bounded = book_only_shortfalls("bankruptcy")
    assert bounded and not any(bounded)
    assert any(book_only_shortfalls("book"))


def waterfall_run(after_fund, ranking="pnl_leverage"):
    scenario = small_scenario(
        duration_s=1500, insurance_fund__initial="100", liquidation__execution="bankruptcy",
        liquidation__after_fund=after_fund, liquidation__adl_ranking=ranking,
    )  # fmt: skip
    return run_in_memory(scenario, 7)


@pytest.mark.parametrize("ranking", ["pnl_leverage", "random", "pro_rata"])
def test_adl_closes_what_the_fund_cannot_cover_at_the_bankruptcy_price(ranking):
    with_debt, _ = waterfall_run("bad_debt")
    summary, sink = waterfall_run("adl", ranking)
    assert with_debt.bad_debt != "0.000000" and summary.bad_debt == "0.000000"
    deleveraged = rows_of(sink, "position_deleveraged")
    assert deleveraged
    for _seq, _ts, p in deleveraged:
        assert p["account"] in (p["buyer"], p["seller"])


def test_socialised_loss_charges_the_open_positions_instead_of_bad_debt():
    summary, sink = waterfall_run("socialise")
    charges = rows_of(sink, "loss_socialised")
    assert summary.bad_debt == "0.000000" and charges
    assert all(sum(p["amounts"]) > 0 and p["account"] not in p["accounts"] for _s, _t, p in charges)


def test_queue_priority_and_detection_latency():
    from clearing.core.liquidation.params import QueuePriority
    from clearing.core.liquidation.queue import queue_key

    assert queue_key(QueuePriority.FIFO, 10, 100, 5, 7) < queue_key(QueuePriority.FIFO, 0, 100, 5, 8)
    assert queue_key(QueuePriority.WORST_HEALTH, 10, 100, 5, 9) < queue_key(QueuePriority.WORST_HEALTH, 50, 100, 5, 1)
    assert queue_key(QueuePriority.LARGEST, 0, 1, 900, 9) < queue_key(QueuePriority.LARGEST, 0, 1, 100, 1)

    scenario = small_scenario(
        duration_s=1500, liquidation__priority="largest", liquidation__liquidators=1, liquidation__service_time_ms=1000,
        liquidation__detection_latency_ms=300,
    )  # fmt: skip
    summary, sink = run_in_memory(scenario, 7)
    breaches = {seq: (ts, p) for seq, ts, p in rows_of(sink, "margin_breached")}
    taken = []
    for _seq, ts, kind, _v, causes, payload, _h in sink.rows:
        cause = json.loads(causes)
        if kind in ("order_placed", "liquidation_cancelled") and cause and cause[0] in breaches:
            if kind == "order_placed" and not payload_dict(payload)["liquidation"]:
                continue
            breach_ts, breach = breaches[cause[0]]
            assert ts >= breach_ts + 1_300_000_000  # detection 300 ms + service 1 s at least
            taken.append((breach_ts, breach["requirement"]))
    assert summary.max_liquidation_backlog > 10 and summary.max_queue_wait_s > 10
    assert taken


def test_orders_that_breach_initial_margin_are_rejected_with_the_reason():
    # Initial margin 2 % (50x at most): traders at 100x are refused, traders at 10x are not.
    base = {"duration_s": 300, "market__initial_margin_rate": "0.02", "population__leverage_weights": [1.0]}
    _summary, refused = run_in_memory(small_scenario(**base, population__leverage=[100]), 3)
    rejected = rows_of(refused, "order_rejected")
    assert rejected and {p["reason"] for _s, _t, p in rejected} == {"insufficient_margin"}
    traders = {p["account"] for _s, _t, p in rows_of(refused, "deposited") if p["account"] < 600}
    assert {p["account"] for _s, _t, p in rejected} == traders
    _summary, accepted = run_in_memory(small_scenario(**base, population__leverage=[10]), 3)
    assert not rows_of(accepted, "order_rejected")


def test_dydx_fillable_execution_runs_and_conserves():
    summary, sink = run_in_memory(small_scenario(duration_s=1500, liquidation__execution="fillable"), 7)
    placed = [p for _s, _t, p in rows_of(sink, "order_placed") if p["liquidation"]]
    assert placed and summary.liquidations > 0


def test_insurance_fund_caps_per_event_and_per_period():
    capped = small_scenario(
        duration_s=1500, insurance_fund__max_per_event="10", insurance_fund__max_per_period="200", insurance_fund__period_s=600
    )
    summary, sink = run_in_memory(capped, 7)
    paid = [(ts, p["amount"]) for _s, ts, p in rows_of(sink, "insurance_fund_paid")]
    assert paid and all(amount <= 10 * 10**6 for _t, amount in paid)
    for ts, _amount in paid:
        assert sum(a for t, a in paid if ts - 600 * S < t <= ts) <= 200 * 10**6
    uncapped, _ = run_in_memory(small_scenario(duration_s=1500), 7)
    assert Decimal(summary.bad_debt) > Decimal(uncapped.bad_debt)


@pytest.mark.parametrize("policy", ["fraction", "restore"])
def test_partial_liquidations_leave_the_rest_open_then_the_cooldown_closes_it(policy):
    scenario = small_scenario(duration_s=1500, liquidation__partial=policy, liquidation__cooldown_s=60)
    summary, sink = run_in_memory(scenario, 7)
    completed = [p for _s, _t, p in rows_of(sink, "liquidation_completed")]
    partial = [p for p in completed if p["fee"] == 0 and p["insurance_paid"] == 0 and p["bad_debt"] == 0]
    accounts = [p["account"] for p in completed]
    assert partial and len(accounts) > len(set(accounts))  # some accounts were liquidated more than once
    assert summary.liquidations == len(completed)


def test_per_block_caps_on_count_and_notional():
    scenario = small_scenario(
        duration_s=1500, liquidation__liquidators=8, liquidation__max_per_block=3, liquidation__block_ms=1000,
        liquidation__max_notional_per_block="20000",
    )  # fmt: skip
    summary, sink = run_in_memory(scenario, 7)
    starts = [ts // S for _s, ts, p in rows_of(sink, "order_placed") if p["liquidation"]]
    starts += [ts // S for _s, ts, _p in rows_of(sink, "liquidation_cancelled")]
    assert starts and max(starts.count(block) for block in set(starts)) <= 3
    marks = {}
    for _seq, _ts, kind, _v, _c, payload, _h in sink.rows:
        if kind == "mark_price_updated":
            marks["now"] = payload_dict(payload)["price_ticks"]
        elif kind == "order_placed" and payload_dict(payload)["liquidation"]:
            lots = payload_dict(payload)["lots"]
            assert lots <= max(1, 20_000 * 10**6 // (marks["now"] * 100))
    assert summary.liquidations > 0


def test_vault_takeovers_leave_nothing_for_the_fund():
    # Hyperliquid: below 2/3 of maintenance the vault takes the position over at the bankruptcy
    # price, keeping the margin: the account ends at zero and the fund pays nothing for it.
    summary, sink = run_in_memory(small_scenario(duration_s=1500, liquidation__execution="vault"), 7)
    trades = {seq: payload_dict(p) for seq, _t, k, _v, _c, p, _h in sink.rows if k == "trade_executed"}
    takeovers = 0
    for _seq, _t, kind, _v, causes, payload, _h in sink.rows:
        if kind == "liquidation_completed" and all(trades[c]["maker_order"] == 0 for c in json.loads(causes)):
            done = payload_dict(payload)
            takeovers += 1
            assert done["insurance_paid"] == 0 and done["bad_debt"] == 0
    assert takeovers and summary.liquidations > takeovers  # the rest went into the book
    # The summary counts the same fills by stage as the log shows them.
    liquidation_fills = [t for t in trades.values() if t["liquidation"]]
    assert summary.liquidation_fills_backstop == sum(t["maker_order"] == 0 for t in liquidation_fills) >= takeovers
    assert summary.liquidation_fills_book == sum(t["maker_order"] != 0 for t in liquidation_fills) > 0


def test_a_size_premium_rejects_the_largest_entries():
    base = {"duration_s": 300, "market__initial_margin_rate": "0.02", "population__leverage": [20],
            "population__leverage_weights": [1.0]}  # fmt: skip
    _summary, plain = run_in_memory(small_scenario(**base), 3)
    _summary, premium = run_in_memory(small_scenario(**base, market__size_premium="0.005"), 3)
    assert not rows_of(plain, "order_rejected")
    rejected = rows_of(premium, "order_rejected")
    assert rejected and {p["reason"] for _s, _t, p in rejected} == {"insufficient_margin"}


def test_risk_limits_and_a_size_premium_raise_maintenance_and_liquidate_more():
    # BitMEX's risk limits by size (0.05 BTC base, 0.05 BTC steps: most positions a few steps up) and Drift's size
    # premium both raise the maintenance of the larger positions, so the same crash liquidates more accounts; the
    # listing carries the rule, and replay of the log reaches the live state (the shared replay tests).
    plain, _sink = run_in_memory(small_scenario(), 3)
    limited, sink = run_in_memory(small_scenario(market__risk_limit_base="0.05", market__risk_limit_step="0.05"), 3)
    premium, _sink = run_in_memory(small_scenario(market__size_premium="0.002"), 3)
    (_s, _t, listing), = rows_of(sink, "market_listed")
    assert listing["risk_limit_lots"] == [50, 50] and listing["size_premium_ppm"] == 0
    assert limited.liquidations > plain.liquidations and premium.liquidations > plain.liquidations


def test_oracle_lag_at_liquidation_matches_the_log():
    # The summary's oracle lag is the documented query (docs/events.md): each liquidation's
    # ts_ns minus the ts_source_ns of the latest oracle price delivered before it.
    summary, sink = run_in_memory(small_scenario(duration_s=1500, oracle__latency_ms=2000), 3)
    latest_source: dict[int, int] = {}
    lags = []
    for _seq, ts_ns, kind, _v, _c, payload, _h in sink.rows:
        data = payload_dict(payload)
        if kind == "oracle_price_delivered":
            latest_source[data["market"]] = data["ts_source_ns"]
        elif kind == "liquidation_completed" and data["market"] in latest_source:
            lags.append(ts_ns - latest_source[data["market"]])
    assert lags and min(lags) >= 2_000_000_000  # never fresher than the delivery latency
    assert summary.oracle_lag_at_liquidation_max_s == max(lags) / 1e9
    assert summary.oracle_lag_at_liquidation_mean_s == sum(lags) / len(lags) / 1e9
