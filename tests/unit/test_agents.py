"""Agent policies: makers withdraw under stress, noise is seeded, arbitrageurs respect their band."""

import numpy as np

from clearing.core.agents.arbitrageur import ArbitrageParams, arbitrage_order
from clearing.core.agents.market_maker import MakerParams, clip_to_book, ladder, profile_notionals, stress, updated_variance
from clearing.core.agents.noise import NoiseParams, next_order
from clearing.core.agents.population import draw_population

YEAR = 365 * 86_400
PARAMS = MakerParams(5, 2.0, 5.0, 1_000_000_000, 0.5, 1.0, 2.0, 60 * 10**9, 10_000, 10.0)


def calm():
    return 0.5**2 / YEAR


def test_ladder_is_symmetric_around_the_reference_when_calm_and_flat():
    bids, asks = ladder(100_000, calm(), 0, PARAMS, 1)
    assert [p for p, _ in bids] == [99_980, 99_930, 99_880, 99_830, 99_780]
    assert [p for p, _ in asks] == [100_020, 100_070, 100_120, 100_170, 100_220]
    assert all(q == 1_000_000_000 // p for p, q in (*bids, *asks))


def test_stress_widens_the_spread_and_thins_the_depth():
    stressed = calm() * 9  # volatility x3 -> stress 2
    assert stress(stressed, 0.5) == 2.0
    bids, asks = ladder(100_000, stressed, 0, PARAMS, 1)
    calm_bids, calm_asks = ladder(100_000, calm(), 0, PARAMS, 1)
    assert asks[0][0] - bids[0][0] == 3 * (calm_asks[0][0] - calm_bids[0][0])  # half-spread x (1 + 1.0 x 2)
    assert sum(q for _, q in bids) < sum(q for _, q in calm_bids) / 4.9  # size / (1 + 2.0 x 2)


def test_volatility_estimate_rises_after_a_jump():
    v = updated_variance(calm(), 100_000, 97_000, 10**9, 60 * 10**9)
    assert v > calm() * 100 and stress(v, 0.5) > 5


def test_inventory_skews_and_the_limit_stops_one_side():
    flat_bids, _ = ladder(100_000, calm(), 0, PARAMS, 1)
    long_bids, long_asks = ladder(100_000, calm(), 5_000, PARAMS, 1)
    assert long_bids[0][0] < flat_bids[0][0] and long_asks
    bids, asks = ladder(100_000, calm(), 10_000, PARAMS, 1)
    assert bids == () and asks
    bids, asks = ladder(100_000, calm(), -10_000, PARAMS, 1)
    assert asks == () and bids


def test_quotes_never_cross_other_makers():
    bids, asks = ladder(100_000, calm(), 0, PARAMS, 1)
    clipped_bids, clipped_asks = clip_to_book(bids, asks, best_other_bid=100_070, best_other_ask=99_930)
    assert all(p < 99_930 for p, _ in clipped_bids) and all(p > 100_070 for p, _ in clipped_asks)


def test_depth_profile_spreads_bucket_increments_over_levels():
    params = MakerParams(4, 50.0, 50.0, 1, 0.5, 1.0, 2.0, 10**9, 10, 0.0)  # levels at 50, 100, 150, 200 bps
    assert profile_notionals((100.0, 300.0, 600.0, 1000.0, 1500.0), params, 0.5) == (25, 25, 50, 50)


def test_noise_orders_are_seeded_and_poisson():
    params = NoiseParams(2.0, 1_000_000, 1.0, 0.5)
    a = [next_order(np.random.default_rng(5), params) for _ in range(1)]
    b = [next_order(np.random.default_rng(5), params) for _ in range(1)]
    assert a == b
    rng = np.random.default_rng(1)
    waits = [next_order(rng, params)[0] for _ in range(4000)]
    assert 0.45e9 < sum(waits) / len(waits) < 0.55e9  # mean 1 / rate = 0.5 s


def test_arbitrageur_sells_a_rich_perp_and_buys_a_cheap_one_within_its_caps():
    params = ArbitrageParams(10.0, 1_000_000, 3_000_000)  # 10 bps band
    # Index 100,000 ticks, unit value 1: band edges 100,100 and 99,900.
    assert arbitrage_order(100_200, 100_300, 100_000, 0, 1, params) == (-1, 10, 100_100)
    assert arbitrage_order(99_700, 99_800, 100_000, 0, 1, params) == (1, 10, 99_900)
    assert arbitrage_order(99_950, 100_050, 100_000, 0, 1, params) is None
    assert arbitrage_order(100_200, 100_300, 100_000, -25, 1, params) == (-1, 5, 100_100)  # room left: 30 - 25
    assert arbitrage_order(100_200, 100_300, 100_000, -30, 1, params) is None  # out of capital


def test_population_exits_follow_entries():
    p = draw_population(np.random.default_rng(0), 1000, 0.6, 5_000, 1.0, 10**6, (2, 10), (1.0, 1.0), 10**12, 100, 3600 * 10**9)
    assert (p.exit_ns > p.entry_ns).all() and (np.diff(p.entry_ns) >= 0).all()
    held = draw_population(np.random.default_rng(0), 10, 0.6, 5_000, 1.0, 10**6, (2,), (1.0,), 0, 100)
    assert (held.exit_ns == -1).all() and (held.entry_ns == 0).all()


def reference_ladder(reference_ticks, variance, inventory_lots, params, unit_value, level_notionals_minor=None):
    # The ladder as first written, level by level: `ladder` must give exactly the same levels.
    import math

    s = stress(variance, params.calm_volatility)
    half = params.half_spread_bps * (1.0 + params.spread_stress * s)
    shrink = 1.0 + params.depth_stress * s
    limit = max(params.inventory_limit_lots, 1)
    centre = reference_ticks * (1.0 - params.skew_bps / 10_000 * max(-1.0, min(1.0, inventory_lots / limit)))
    bids, asks = [], []
    for k in range(params.levels):
        distance = (half + k * params.level_spacing_bps) / 10_000
        if level_notionals_minor:
            bid_notional, ask_notional = level_notionals_minor[0][k], level_notionals_minor[1][k]
        else:
            bid_notional = ask_notional = params.level_notional_minor
        bid = min(math.floor(centre * (1.0 - distance) * (1.0 + 1e-12)), (bids[-1][0] - 1) if bids else reference_ticks - 1)
        ask = max(math.ceil(centre * (1.0 + distance) * (1.0 - 1e-12)), (asks[-1][0] + 1) if asks else reference_ticks + 1)
        if bid > 0 and inventory_lots < limit:
            bids.append((bid, max(1, int(bid_notional / shrink // (bid * unit_value)))))
        if inventory_lots > -limit:
            asks.append((ask, max(1, int(ask_notional / shrink // (ask * unit_value)))))
    return tuple(bids), tuple(asks)


def test_ladder_equals_the_level_by_level_reference():
    rng = np.random.default_rng(7)
    for _ in range(3000):
        levels = int(rng.choice([0, 1, 3, 20]))
        params = MakerParams(
            levels, float(rng.choice([0.0, 1.0, 50.0])), float(rng.choice([0.0, 0.01, 5.0, 3000.0])),
            int(rng.choice([0, 1, 150_000_000])), 0.6, float(rng.random() * 3), float(rng.choice([3.0, -0.5])),
            10**9, int(rng.choice([1, 100, 5_000_000])), float(rng.choice([0.0, 20.0, 500.0])),
        )  # fmt: skip
        reference = int(rng.choice([1, 3, 100, 736_850, int(rng.integers(1, 10**7))]))
        variance = float(rng.choice([0.0, 1e-9, 1e-5])) * float(rng.random())
        inventory = int(rng.choice([0, 5, -5, 5_000_000, -5_000_000, int(rng.integers(-(10**7), 10**7))]))
        unit_value = int(rng.choice([1, 10]))
        notionals = None
        if levels and rng.random() < 0.3:
            notionals = tuple(tuple(int(x) for x in rng.integers(-5, 10**9, levels)) for _ in range(2))
        try:
            expected = reference_ladder(reference, variance, inventory, params, unit_value, notionals)
        except ZeroDivisionError:
            continue
        got = ladder(reference, variance, inventory, params, unit_value, notionals)
        assert got == expected
        best_bid, best_ask = int(rng.integers(0, 10**7)), int(rng.integers(0, 10**7))
        assert clip_to_book(*got, best_bid, best_ask) == (
            tuple(level for level in got[0] if not best_ask or level[0] < best_ask),
            tuple(level for level in got[1] if not best_bid or level[0] > best_bid),
        )
