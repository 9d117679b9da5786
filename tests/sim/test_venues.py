"""Venue presets load, set what their documentation says, and run with exact conservation."""

from decimal import Decimal

import pytest

from clearing.apps.run import run_in_memory
from clearing.scenario import load_scenario, preset_names
from tests.builders import payload_dict

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
    q = hyperliquid.liquidation  # 20 % at a time above 100,000 USDC, then a 30 s cooldown ([hyperliquid-liq])
    assert (q.partial, q.partial_fraction, q.partial_min_notional, q.cooldown_s) == ("fraction", Decimal("0.2"), 100_000, 30)


@pytest.mark.parametrize("venue", ["venue/binance-usdm", "venue/hyperliquid", "venue/dydx-v4", "venue/drift"])
def test_each_funding_payment_is_the_venues_formula_recomputed_from_the_log(venue, tmp_path):
    # Every funding_rate_set is recomputed from the premium samples logged since the last one, with the venue's own
    # average, interest, cap and period, and priced on the venue's price (the mark, or the oracle price).
    from clearing import events as ev
    from clearing.core import funding as f
    from clearing.scenario.params import compile_params

    path = tmp_path / "s.toml"
    path.write_text(f'include = ["{venue}"]\n' + MINIMAL.replace("duration_s = 900", "duration_s = 11000")
                    + "[funding]\ninterval_s = 600\n" * (venue == "venue/binance-usdm"))  # fmt: skip
    scenario = load_scenario(path)
    params = compile_params(scenario)
    market = params.markets[0]
    p = params.funding.for_market(market.terms.initial_margin_ppm or market.bracket_rates_ppm[0], market.bracket_rates_ppm[0])
    _summary, sink = run_in_memory(scenario, 2)
    samples: list[int] = []
    oracle = mark = 0
    settlements = 0
    for _seq, _ts, kind, version, _causes, payload, _hash in sink.rows:
        event = ev.decode(payload, kind, version)
        if isinstance(event, ev.OraclePriceDelivered):
            oracle = event.price_ticks
        elif isinstance(event, ev.MarkPriceUpdated):
            mark = event.price_ticks
        elif isinstance(event, ev.PremiumSampled):
            samples.append(event.premium_ppb)
        elif isinstance(event, ev.FundingRateSet):
            if p.average == "weighted":
                average = f.average_premium_ppb(sum((i + 1) * x for i, x in enumerate(samples)), len(samples) * (len(samples) + 1) // 2)
            else:
                average = f.mean_premium_ppb(sum(samples), len(samples), p.interval_ns // p.sample_ns * (p.average == "padded_mean"))
            period = f.period_rate_ppb(average, p.interest_ppb, p.clamp_ppb, p.cap_ppb, p.interest)
            assert (event.average_premium_ppb, event.rate_ppb) == (average, f.payment_rate_ppb(period, p.interval_ns, p.rate_period_ns))
            assert event.mark_ticks == (oracle if p.pays_on == "oracle" else mark)
            samples, settlements = [], settlements + 1
    assert settlements >= 2 and p.rate_period_ns == {"venue/binance-usdm": 600, "venue/drift": 86_400}.get(venue, 28_800) * 10**9


def test_drift_liquidates_by_its_transfer_size_not_whole(tmp_path):
    # Partial "shortage" ([drift-v2-liq]): each liquidation closes just the lots that cover the shortage against
    # maintenance plus the 2 % buffer (tests/unit/test_venue_rules.py checks the size against Drift's formula), so the
    # same crash takes accounts down in several steps and closes fewer lots than whole liquidations would.
    from collections import Counter

    def completed(extra):
        path = tmp_path / "s.toml"
        path.write_text('include = ["venue/drift"]\n' + MINIMAL + extra)
        _summary, sink = run_in_memory(load_scenario(path), 2)
        return [payload_dict(payload) for _s, _t, kind, _v, _c, payload, _h in sink.rows if kind == "liquidation_completed"]

    drift, whole = completed(""), completed('[liquidation]\npartial = "none"\n')
    assert max(Counter(d["account"] for d in drift).values()) > 1 == max(Counter(d["account"] for d in whole).values())
    assert sum(abs(d["lots"]) for d in drift) < sum(abs(d["lots"]) for d in whole)


def test_drift_liquidations_are_gated_by_its_validity_rules_not_by_age(tmp_path):
    # Drift ([drift-v2-oracle-guards], [drift-v2-liq]): a liquidation is refused only on a non-positive or too volatile
    # oracle price, or one more than 50 % from its 5-minute TWAP; each check is logged with its reason.
    from clearing import events as ev

    path = tmp_path / "s.toml"
    path.write_text('include = ["venue/drift"]\n' + MINIMAL)

    def checks(overrides=()):
        summary, sink = run_in_memory(load_scenario(path, list(overrides)), 2)
        found = [ev.decode(p, k, v) for _s, _t, k, v, _c, p, _h in sink.rows if k == "oracle_guard_checked"]
        return summary, [e for e in found if e.action == "liquidation"]

    summary, gated = checks()
    assert gated and all(e.allowed for e in gated) and summary.liquidations > 0
    assert {e.reason for e in gated} <= {"valid", "stale_for_amm", "stale_for_margin"}
    # A TWAP band the 25 % fall leaves: liquidations wait while the price is far from its TWAP.
    _summary, refused = checks(["oracle.guards.max_twap_divergence=0.01"])
    assert any(not e.allowed and e.reason == "twap_divergence" for e in refused)
    assert max(e.divergence_ppm for e in refused) > 10_000
