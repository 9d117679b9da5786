"""Per-market counts (`clearing.apps.tally`) and the summary's markets, by symbol, from a live run and its replay."""

import pytest

from clearing import events as ev
from clearing.apps.fold import fold_log
from clearing.apps.replay import fold
from clearing.apps.run import run_in_memory, run_scenario, run_unlogged
from clearing.apps.summary import render_text
from clearing.apps.tally import MarketCounts, MarketTally, tally_log
from tests.builders import market_listed, trade
from tests.conftest import small_scenario

BTC, ETH = "BTCUSDT-PERP", "ETHUSDT-PERP"


def listings():
    return [market_listed(0, symbol=BTC, unit_value=100), market_listed(1, symbol=ETH, unit_value=10)]


def fill(market, lots, price):
    return trade(1, 2, lots, price, market=market, liquidation=True)


def completed(causes, market, notional):
    return ev.LiquidationCompleted(ts_ns=0, causes=causes, account=2, market=market, lots=-1, notional=notional, fee=0,
                                   insurance_paid=0, bad_debt=0)  # fmt: skip


def tally_of(events):
    tally = MarketTally()
    for seq, event in enumerate(events, 1):
        tally.event(seq, ev.KIND_OF[type(event)], event)
    return tally


def test_a_liquidation_of_two_legs_counts_on_both_markets_with_each_leg_s_notional():
    # seqs 1, 2 listings; 3 a fill on BTC; 4 an ordinary trade; 5 a fill on ETH; 6 the liquidation of both legs.
    tally = tally_of([*listings(), fill(0, 2, 500), trade(3, 4, 9, 999), fill(1, 3, 70),
                      completed((3, 5), 0, 2 * 500 * 100 + 3 * 70 * 10)])  # fmt: skip
    assert tally.counts(0) == MarketCounts(liquidations=1, liquidated_notional=100_000)
    assert tally.counts(1) == MarketCounts(liquidations=1, liquidated_notional=2_100)
    assert tally.fills == {}  # every cited fill was taken


def test_deleveraging_socialised_loss_and_funding_count_on_their_market():
    deleveraged = ev.PositionDeleveraged(ts_ns=0, market=1, account=2, buyer=1, seller=2, lots=4, price_ticks=50)
    socialised = ev.LossSocialised(ts_ns=0, market=1, account=2, accounts=(5, 6), amounts=(7, 8))
    funding = ev.FundingPaid(ts_ns=0, market=0, accounts=(1, 2, 3), amounts=(30, -50, 20), final=True)
    tally = tally_of([*listings(), deleveraged, completed((3,), 1, 4 * 50 * 10), socialised, funding])
    assert tally.counts(1) == MarketCounts(liquidations=1, liquidated_notional=2_000, adl_events=1, adl_notional=2_000,
                                           socialised_loss=15, socialisations=1)  # fmt: skip
    assert tally.counts(0) == MarketCounts(funding_paid=50)  # what the receiving accounts received


def test_a_liquidation_citing_no_fill_goes_whole_to_the_market_it_names():
    # A log written before liquidations cited their fills; or fills the tally never saw.
    tally = tally_of([*listings(), completed((), 1, 1234)])
    assert tally.counts(1) == MarketCounts(liquidations=1, liquidated_notional=1234) and tally.counts(0) == MarketCounts()


def test_rows_as_the_bus_appends_them_count_as_the_decoded_events():
    events = [*listings(), fill(0, 2, 500), trade(3, 4, 9, 999), fill(1, 3, 70), completed((3, 5), 0, 102_100)]
    from_rows = MarketTally()
    for seq, event in enumerate(events, 1):
        kind = ev.KIND_OF[type(event)]
        from_rows.row(seq, kind, ev.VERSIONS[kind], ev.encode(event))
    assert from_rows == tally_of(events)


def two_markets(mode, legs, leverage, change):
    # Both indexes fall over five minutes; every trader holds a leg on each market (`legs`).
    shock = [{"start_s": 600, "duration_s": 300, "change": change}]
    eth = {"symbol": ETH, "tick_size": "0.01", "lot_size": "0.01", "price": {"initial": "3000", "volatility": 0.1,
                                                                               "shocks": shock}}  # fmt: skip
    return small_scenario(
        duration_s=1200, price__volatility=0.1, price__shocks=shock, markets=[eth], population__accounts=200,
        population__entry_window_s=60, population__leverage=[leverage], population__leverage_weights=[1.0],
        population__legs=legs, population__margin_mode=mode, population__notional_sigma=0.0, noise_takers__count=0,
        funding__interval_s=300, portfolio__inter_commodity_credit="0.8",
    )  # fmt: skip


@pytest.fixture(scope="module")
def concentrated(tmp_path_factory):
    # Portfolio margin on a long-both or short-both book: a liquidation closes both legs.
    path = tmp_path_factory.mktemp("tally") / "concentrated.sqlite"
    return run_scenario(two_markets("portfolio", [1.0, 1.0], 5, -0.12), 5, path), path


def test_the_summary_has_every_market_by_symbol_and_the_replay_the_same(concentrated):
    summary, path = concentrated
    assert list(summary.markets) == [BTC, ETH]
    btc, eth = summary.markets[BTC], summary.markets[ETH]
    assert (btc.market, eth.market) == (0, 1)
    # Each market its own prices, in its own ticks (ETH quotes to the cent), and its own open interest.
    assert len(eth.mark.split(".")[1]) == 2 and len(btc.mark.split(".")[1]) == 1 and btc.mark != eth.mark
    assert btc.open_interest_notional != eth.open_interest_notional
    assert btc.funding_paid != eth.funding_paid and btc.funding_rate_ppb < 0 and eth.funding_rate_ppb < 0
    # A liquidation of both legs counts on both markets; the notionals add up to the run's exactly.
    assert btc.liquidations > 0 and eth.liquidations > 0 and btc.liquidations + eth.liquidations > summary.liquidations
    assert btc.liquidated_notional != eth.liquidated_notional
    total = sum(int(m.liquidated_notional.replace(".", "")) for m in summary.markets.values())
    assert total == int(summary.liquidated_notional.replace(".", ""))
    assert fold(path).summary == summary
    text = render_text(summary)
    assert f"market                            {BTC}" in text and ETH in text.splitlines()[-16]


def test_every_sink_gives_the_same_markets(concentrated):
    # The log's are counted from the file, a MemorySink's from its rows, an unlogged run's as the rows go by.
    summary, _path = concentrated
    in_memory, _sink = run_in_memory(two_markets("portfolio", [1.0, 1.0], 5, -0.12), 5)
    unlogged = run_unlogged(two_markets("portfolio", [1.0, 1.0], 5, -0.12), 5)
    assert in_memory.markets == unlogged.markets == summary.markets


def test_a_log_is_counted_from_its_file_as_its_fold_counts_it(concentrated):
    _summary, path = concentrated
    assert tally_log(path).markets == fold_log(path).tally.markets
