"""Dynamic margin: the multiplier's rule, its limits, whole bracket tables, and the monitor seeing new rates."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from clearing import events as ev
from clearing.core.dynamic_margin import (
    DynamicParams,
    annualised,
    ewma_update,
    next_multiplier_ppm,
    rate_step,
    scaled_rates,
)
from clearing.core.margin import Brackets
from clearing.core.risk import account_risk
from clearing.core.state import ClearingState, apply
from clearing.sim.margin_monitor import TriggerCache
from tests.builders import accounts_opened, deposited, mark_price_updated, market_listed, trade

PARAMS = DynamicParams(60 * 10**9, 3600 * 10**9, 0.6, 0, 0.0, 1.0, 3.0, 0.25, 0.05)
NS_PER_YEAR = 365 * 86_400 * 10**9


def test_the_multiplier_follows_volatility_within_the_step_limits():
    assert next_multiplier_ppm(1_000_000, 0.6, 0, PARAMS) == 1_000_000  # at the reference: the listed rates
    assert next_multiplier_ppm(1_000_000, 0.3, 0, PARAMS) == 1_000_000  # calmer: never below the floor
    assert next_multiplier_ppm(1_000_000, 0.9, 0, PARAMS) == 1_250_000  # target 1.5, at most +25 % a step
    assert next_multiplier_ppm(1_250_000, 0.9, 0, PARAMS) == 1_500_000
    assert next_multiplier_ppm(1_000_000, 6.0, 0, PARAMS) == 1_250_000
    assert next_multiplier_ppm(2_900_000, 6.0, 0, PARAMS) == 3_000_000  # the cap
    assert next_multiplier_ppm(2_000_000, 0.6, 0, PARAMS) == 1_900_000  # falls at most 5 % a step


def test_open_interest_above_its_reference_adds_margin():
    params = PARAMS._replace(oi_reference_minor=1_000, oi_sensitivity=0.5, max_rise=10.0)
    assert next_multiplier_ppm(1_000_000, 0.6, 1_000, params) == 1_000_000
    assert next_multiplier_ppm(1_000_000, 0.6, 3_000, params) == 2_000_000  # 1 + 0.5 x (3 - 1)


def test_the_ewma_of_a_steady_volatility_converges_to_it():
    dt = 60 * 10**9
    step = 0.8 * math.sqrt(dt / NS_PER_YEAR)  # a return of 80 % annualised volatility per minute
    variance = 0.6**2 / NS_PER_YEAR
    for k in range(2000):
        variance = ewma_update(variance, step if k % 2 else -step, dt, 3600 * 10**9)
    assert annualised(variance) == pytest.approx(0.8, rel=1e-6)
    assert ewma_update(variance, 0.5, 0, 3600 * 10**9) == variance  # no time, no update


def test_scaled_rates_keep_the_brackets_whole_and_ordered():
    # Binance's BTCUSDT floors (USDT, micro-units) and rates; x 1.3 rounded up to whole maintenance amounts.
    floors = (0, 50_000 * 10**6, 600_000 * 10**6, 3_000_000 * 10**6)
    rates = (4_000, 5_000, 6_500, 10_000)
    scaled = scaled_rates(floors, rates, 1_300_000)
    assert scaled == (5_200, 6_500, 8_450, 13_000)
    Brackets.of(floors, scaled)  # whole cums
    assert rate_step(floors) == 1 and rate_step((0,)) == 1
    assert rate_step((0, 7)) == 1_000_000  # a floor of 7 minor units admits no rate step below 100 %: refused by the scenario
    assert scaled_rates((0,), (5_000,), 3_000_000) == (15_000,)


@given(st.integers(1_000_000, 5_000_000), st.lists(st.integers(1, 200_000), min_size=1, max_size=5))
def test_scaled_rates_never_fall_below_the_exact_product(multiplier, steps):
    floors = (0, *np.cumsum([10**9 * k for k in range(1, len(steps))]).tolist())
    rates = tuple(np.cumsum(steps).tolist())
    scaled = scaled_rates(floors, rates, multiplier)
    assert all(s >= min(r * multiplier / 1e6, 999_999) - 1e-9 for s, r in zip(scaled, rates, strict=True))
    assert list(scaled) == sorted(scaled)
    Brackets.of(floors, scaled)


def test_the_trigger_cache_sees_rates_raised_with_the_mark_unchanged():
    # A long of 10 lots at 100 with 100 deposited: at 95 its equity is 50; 5 % maintenance is 48, 10 % is 95.
    state = ClearingState()
    for e in (market_listed(0, maintenance_margin_ppm=50_000), accounts_opened(0, 2), deposited(0, 100), deposited(1, 10_000),
              trade(0, 1, 10, 100), mark_price_updated(95)):  # fmt: skip
        apply(state, e)
    cache = TriggerCache(0)
    assert cache.breached(state).tolist() == []
    apply(state, ev.MarginRatesSet(ts_ns=0, market=0, multiplier_ppm=2_000_000, bracket_rates_ppm=(100_000,), vol_ppm=0,
                                   open_interest=0))  # fmt: skip
    equity, requirement = account_risk(state, np.array([0]))
    assert equity[0] < requirement[0]
    assert cache.breached(state, []).tolist() == [0]  # nothing touched, but the rates moved: the cache starts over
