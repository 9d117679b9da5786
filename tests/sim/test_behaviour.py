"""Traders who live through the day: pre-history, continuous leverage, stop-losses, re-entry (`population/retail`)."""

from __future__ import annotations

import numpy as np
import pytest

from clearing.apps.replay import fold
from clearing.apps.run import run_scenario
from clearing.core.invariants import violations
from clearing.errors import ConfigError
from clearing.log.reader import EventLogReader
from clearing.scenario import load_scenario
from tests.conftest import ROOT

SCENARIO = ROOT / "scenarios" / "synthetic-crash.toml"
SHORT = ["duration_s=5400", "population.accounts=1500", "checkpoint_interval_s=1800", "population.entry_window_s=600"]
LIVES = [*SHORT, "population.leverage_distribution=lognormal", "population.history_s=43200", "population.history_volatility=0.8",
         "population.stop_loss.enabled=true", "population.reentry.enabled=true", "population.reentry.delay_mean_s=120",
         "population.entry=backstop"]  # fmt: skip


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    path = tmp_path_factory.mktemp("lives") / "lives.sqlite"
    return path, run_scenario(load_scenario(SCENARIO, LIVES), 3, path)


def rows(path):
    with EventLogReader(path) as reader:
        return dict(reader.events())


def test_the_run_replays_to_its_state_and_counts_its_stops_and_reentries(run):
    path, live = run
    result = fold(path)
    assert result.summary == live and violations(result.state) == []
    by_seq = rows(path)
    kinds = [type(e).__name__ for e in by_seq.values()]
    assert live.traders == {"stops": kinds.count("StopTriggered"), "reentries": kinds.count("TraderReentered")}
    assert live.traders["stops"] > 20 and live.traders["reentries"] > 20


def test_a_stop_fires_at_a_mark_beyond_it_and_its_order_closes_the_position(run):
    path, _live = run
    by_seq = rows(path)
    seqs = sorted(by_seq)
    stops = [(seq, e) for seq, e in by_seq.items() if type(e).__name__ == "StopTriggered"]
    for seq, e in stops:
        (mark_seq,) = e.causes
        mark = by_seq[mark_seq]  # the mark: its own event, or the oracle delivery it is (`mark.method` "oracle")
        assert type(mark).__name__ in ("MarkPriceUpdated", "OraclePriceDelivered") and mark.market == e.market
        order = by_seq[seqs[seqs.index(seq) + 1]]
        assert type(order).__name__ == "OrderPlaced" and order.causes == (seq,)
        assert order.reduce_only and order.order_type == "market" and order.account == e.account
        # a long's stop (a sell) fires at a mark at or below it, a short's (a buy) at or above
        assert (mark.price_ticks <= e.stop_ticks) if order.side < 0 else (mark.price_ticks >= e.stop_ticks)


def test_a_reentry_cites_the_close_and_its_deposit_cites_it(run):
    path, _live = run
    by_seq = rows(path)
    seqs = sorted(by_seq)
    cited = {"LiquidationCompleted", "TradeExecuted"}
    deposited = 0
    for seq, e in by_seq.items():
        if type(e).__name__ != "TraderReentered":
            continue
        (close,) = e.causes
        assert type(by_seq[close]).__name__ in cited and by_seq[close].ts_ns <= e.ts_ns
        after = by_seq[seqs[seqs.index(seq) + 1]]
        if type(after).__name__ == "Deposited":  # what the last position's margin left was short of the new one
            assert after.causes == (seq,) and after.account == e.account
            after = by_seq[seqs[seqs.index(seq) + 2]]
            deposited += 1
        else:  # the cash left sufficed: no deposit, the order cites the re-entry itself
            assert after.causes == (seq,)
        # a re-entry is new flow: a market order into the book, even with entry = "backstop"
        assert type(after).__name__ == "OrderPlaced" and after.order_type == "market" and after.account == e.account
    assert deposited > 0


def test_positions_standing_at_the_start_were_opened_at_prehistory_prices(run):
    path, _live = run
    by_seq = rows(path)
    at_start = [e for e in by_seq.values() if type(e).__name__ == "TradeExecuted" and e.ts_ns == 0]
    prices = {e.price_ticks for e in at_start}
    assert len(at_start) > 500 and len(prices) > 100  # a spread of entry prices, not one level
    first = min(prices), max(prices)
    assert first[0] < 600_000 < first[1]  # around the first price, 60,000.0 in 0.1 ticks


def test_everything_off_is_the_run_it_was_and_the_static_preset_undoes_retail(tmp_path):
    (tmp_path / "retail.toml").write_text('include = ["population/retail", "population/static"]\n'
                                          + (SCENARIO).read_text())  # fmt: skip
    base = load_scenario(SCENARIO, SHORT)
    assert load_scenario(tmp_path / "retail.toml", SHORT) == base  # and so the same hash, run id and log
    only = tmp_path / "only.toml"
    only.write_text('include = ["population/retail"]\n' + SCENARIO.read_text())
    retail = load_scenario(only, SHORT)
    assert retail.population.stop_loss.enabled and retail.margin_calls.enabled and retail.population.history_s == 86_400


@pytest.mark.parametrize(("scenario", "extra", "message"), [
    ("option-portfolios.toml", ["population.reentry.enabled=true"], "population.reentry needs traders holding one position"),
    ("synthetic-crash.toml", ["population.leverage_distribution=lognormal", "population.leverage_max=250"],
     "leverage_max 250x leaves no room"),
    ("synthetic-crash.toml", ["population.leverage_distribution=lognormal", "population.leverage_median=0.5"], "below 1"),
    ("synthetic-crash.toml", ["population.stop_loss.distance=1.5"], "population.stop_loss.distance"),
])  # fmt: skip
def test_behaviours_refuse_what_they_cannot_model(scenario, extra, message):
    with pytest.raises(ConfigError, match=message):
        load_scenario(ROOT / "scenarios" / scenario, extra)


def test_the_leverage_drawn_is_continuous(run):
    path, _live = run
    by_seq = rows(path)
    deposits = [e.amount for e in by_seq.values() if type(e).__name__ == "Deposited" and e.ts_ns == 0]
    assert len(set(deposits)) > 0.9 * len(deposits)
    assert np.median(deposits) > 0


def test_a_stop_fires_at_most_once_per_entry(run):
    # Each entry arms at most one stop; only a liquidation released with the position still open lets it fire again.
    path, _live = run
    by_seq = rows(path)
    count: dict[str, dict[int, int]] = {"StopTriggered": {}, "TraderReentered": {}, "LiquidationCancelled": {}}
    for e in by_seq.values():
        kind = type(e).__name__
        if kind in count:
            count[kind][e.account] = count[kind].get(e.account, 0) + 1
    stops, again, released = count["StopTriggered"], count["TraderReentered"], count["LiquidationCancelled"]
    assert stops and all(n <= 1 + again.get(a, 0) + released.get(a, 0) for a, n in stops.items())



def test_positions_standing_at_the_start_hold_on_for_their_drawn_time_from_it():
    # With a history and holding times, the pre-history's entries are the positions standing at the start: each holds
    # on for its drawn (memoryless) holding time from time 0, even when the draw would have closed it before then (it
    # was once held to the end instead, so open interest never turned over); a later entry exits at entry + holding.
    from clearing.core.agents.population import HELD
    from clearing.scenario.params import compile_params
    from clearing.sim.world import _population

    scenario = load_scenario(SCENARIO, [*SHORT, "population.history_s=43200", "population.holding_mean_s=7200"])
    params = compile_params(scenario)
    drawn = _population(params, 3, 100 * 600_000, 600_000)
    before = drawn.entry_ns <= 0  # (a position re-drawn by the survival conditioning may enter at the start itself)
    assert before.sum() > 1000 and (~before).sum() > 10 and not (drawn.exit_ns == HELD).any()
    assert (drawn.exit_ns[before] > 0).all() and (drawn.exit_ns[~before] > drawn.entry_ns[~before]).all()
    assert np.median(drawn.exit_ns[before]) < 7200 * 10**9  # exponential from 0: median ln 2 x the mean
