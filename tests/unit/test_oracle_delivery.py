"""Delivery, called directly: each publication policy, each latency model and its draws, the load window, supersession."""

import math

import numpy as np
import pytest

from clearing.core.oracle import (
    BreachWindow,
    LatencyModel,
    Policy,
    delivery_delay_ns,
    has_newer_publication,
    is_superseded,
    publication_policy,
    reads_breaches,
    sample_latency_ns,
)
from tests.unit.oracle_builders import S, oracle_params

MS = 10**6


def test_each_policy_has_its_round_interval_delivery_and_pulls():
    params = oracle_params(observe_interval_ns=S, cadence_ns=3 * S, inclusion_delay_ns=12 * S)
    push, cadence, pull = (publication_policy(p) for p in (Policy.PUSH, Policy.CADENCE, Policy.PULL))
    assert (push.round_interval_ns(params), push.inclusion_delay_ns(params)) == (S, 12 * S)
    assert (cadence.round_interval_ns(params), cadence.inclusion_delay_ns(params)) == (3 * S, 0)
    assert pull.round_interval_ns(params) == 3 * S
    assert [(p.delivers, p.pulls) for p in (push, cadence, pull)] == [(True, False), (True, False), (False, True)]
    assert publication_policy("cadence") is cadence  # a policy's name finds it too
    with pytest.raises(ValueError, match="policy"):
        publication_policy("gossip")  # type: ignore[arg-type]


def test_push_delivers_after_the_inclusion_delay_plus_the_latency_and_cadence_after_the_latency():
    params = oracle_params(inclusion_delay_ns=12 * S, latency_ns=500 * MS)
    rng = np.random.default_rng(0)
    assert delivery_delay_ns(publication_policy(Policy.PUSH), params, rng, 0) == 12_500 * MS
    assert delivery_delay_ns(publication_policy(Policy.CADENCE), params, rng, 0) == 500 * MS


def test_fixed_and_load_latencies_draw_nothing():
    rng, twin = np.random.default_rng(4), np.random.default_rng(4)
    assert sample_latency_ns(rng, LatencyModel.FIXED, 500) == 500
    assert sample_latency_ns(rng, LatencyModel.LOAD, 500, per_event_ns=10, recent_events=7) == 570
    assert rng.random() == twin.random()  # the stream did not move


def test_uniform_and_lognormal_latencies_draw_once_each_in_order():
    rng, twin = np.random.default_rng(7), np.random.default_rng(7)
    uniform = sample_latency_ns(rng, LatencyModel.UNIFORM, 100 * MS, 3000 * MS)
    lognormal = sample_latency_ns(rng, LatencyModel.LOGNORMAL, 800 * MS, sigma=0.7)
    assert uniform == int(100 * MS + twin.random() * (2900 * MS)) and 100 * MS <= uniform < 3000 * MS
    assert lognormal == round(800 * MS * math.exp(0.7 * float(twin.standard_normal())))
    assert rng.random() == twin.random()


def test_one_draw_per_delivered_publication():
    params = oracle_params(policy=Policy.CADENCE, latency_model=LatencyModel.UNIFORM, latency_ns=0, latency_max_ns=S)
    rng, twin = np.random.default_rng(3), np.random.default_rng(3)
    delays = [delivery_delay_ns(publication_policy(Policy.CADENCE), params, rng, 0) for _ in range(3)]
    assert delays == [int(twin.random() * S) for _ in range(3)]


def test_a_latency_model_is_found_by_its_name_or_refused():
    assert sample_latency_ns(np.random.default_rng(0), "fixed", 5) == 5  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="latency model"):
        sample_latency_ns(np.random.default_rng(0), "gamma", 5)  # type: ignore[arg-type]


def test_the_load_window_counts_the_breaches_of_the_trailing_window():
    assert reads_breaches(LatencyModel.LOAD) and not reads_breaches(LatencyModel.FIXED)
    window = BreachWindow()
    assert window.recent(10) == 0  # no sample yet
    window.record(0, 0, 30 * S)
    window.record(10 * S, 4, 30 * S)
    window.record(30 * S, 9, 30 * S)
    assert window.recent(9) == 9  # the sample at 0 is exactly 30 s old: still in the window
    window.record(30 * S + 1, 12, 30 * S)
    assert window.recent(12) == 8  # the sample at 0 is out: breaches since 10 s
    window.record(100 * S, 20, 30 * S)
    assert window.recent(20) == 0  # only the sample just taken


def test_load_latency_is_the_base_plus_a_delay_per_recent_breach():
    params = oracle_params(policy=Policy.CADENCE, latency_model=LatencyModel.LOAD, latency_ns=200 * MS,
                           latency_per_breach_ns=100 * MS)  # fmt: skip
    assert delivery_delay_ns(publication_policy(Policy.CADENCE), params, np.random.default_rng(0), 3) == 500 * MS


def test_an_older_publication_is_superseded_by_the_visible_one():
    assert not is_superseded(0, 0, 5 * S)  # nothing visible yet
    assert is_superseded(1000, 6 * S, 5 * S)
    assert not is_superseded(1000, 5 * S, 5 * S) and not is_superseded(1000, 4 * S, 5 * S)


def test_a_pull_brings_only_a_publication_newer_than_the_visible_price():
    assert not has_newer_publication(0, 0, 0, 0)  # nothing published
    assert has_newer_publication(1000, 5 * S, 0, 0)  # nothing visible
    assert has_newer_publication(1000, 5 * S, 990, 4 * S)
    assert not has_newer_publication(1000, 5 * S, 1000, 5 * S)  # already visible
