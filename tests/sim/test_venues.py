"""Venue presets load, set what their documentation says, and run with exact conservation."""

import pytest

from clearing.apps.run import run_in_memory
from clearing.scenario import load_scenario, preset_names

VENUES = [name for name in preset_names() if name.startswith("venue/")]
MINIMAL = """
duration_s = 900
checkpoint_interval_s = 300
[price]
volatility = 0.0
[[price.shocks]]
start_s = 300
duration_s = 300
change = -0.25
[population]
accounts = 300
entry_window_s = 60
leverage = [2, 5, 10]
leverage_weights = [1, 1, 1]
"""


def test_the_five_venues_are_shipped():
    assert VENUES == ["venue/binance-usdm", "venue/bitmex", "venue/drift", "venue/dydx-v4", "venue/hyperliquid"]


@pytest.mark.parametrize("venue", VENUES)
def test_each_venue_preset_runs_and_conserves(venue, tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(f'include = ["{venue}"]\n' + MINIMAL)
    summary, _sink = run_in_memory(load_scenario(path), 2)  # conservation is checked at the end of every run
    assert summary.liquidations > 0


def test_venue_presets_set_their_documented_mechanisms(tmp_path):
    def load(venue):
        path = tmp_path / f"{venue.replace('/', '_')}.toml"
        path.write_text(f'include = ["{venue}"]\n' + MINIMAL)
        return load_scenario(path)

    binance = load("venue/binance-usdm")
    assert len(binance.market.maintenance_brackets) == 10 and binance.liquidation.execution == "fund"
    assert binance.mark.method == "binance_median" and binance.liquidation.after_fund == "adl"
    assert load("venue/bitmex").mark.method == "ema_basis"
    dydx = load("venue/dydx-v4")
    assert (dydx.liquidation.execution, dydx.liquidation.adl_ranking, dydx.funding.interval_s) == ("fillable", "random", 3600)
    assert load("venue/drift").liquidation.after_fund == "socialise" and load("venue/drift").oracle.policy == "pull"
    hyperliquid = load("venue/hyperliquid")
    assert hyperliquid.oracle.cadence_ms == 3000 and hyperliquid.market.bracket_units()[1] == [12_500]
