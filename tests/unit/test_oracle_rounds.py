"""A round's outcome, called directly: too few sources, outliers, stale readings, each aggregation, each policy."""

from clearing.core.oracle import Aggregation, Policy, Publication, RoundFailure, round_outcome
from tests.unit.oracle_builders import S, held, oracle_params

NOW = 100 * S


def test_nothing_observed_yet_skips_the_round():
    assert round_outcome([None, None], [1, 1], NOW, oracle_params(), 0, 0) is None


def test_too_few_live_sources_fail_the_round():
    readings = [held(1000, NOW - S), None, held(1000, NOW - 2 * S)]
    params = oracle_params(min_sources=3)
    assert round_outcome(readings, [1, 1, 1], NOW, params, 0, 0) == RoundFailure("too_few_sources", 2)


def test_stale_readings_are_not_live():
    # Readings no older than the maximum age are live: 10 s is, 10 s + 1 ns is not.
    readings = [held(1000, NOW - 10 * S), held(2000, NOW - 10 * S - 1)]
    params = oracle_params(source_max_age_ns=10 * S, min_sources=2)
    assert round_outcome(readings, [1, 1], NOW, params, 0, 0) == RoundFailure("too_few_sources", 1)
    assert round_outcome([None, readings[1]], [1, 1], NOW, oracle_params(source_max_age_ns=10 * S), 0, 0) == RoundFailure(
        "too_few_sources", 0
    )  # everything ever observed is stale: a failed round, not a skipped one


def test_the_outlier_cut_can_fail_a_round_that_had_enough_live_sources():
    # Median of (1000, 1500) is 1250: both are 20 % off, more than the 10 % cut.
    readings = [held(1000, NOW), held(1500, NOW)]
    params = oracle_params(min_sources=2, outlier_cut_ppm=100_000)
    assert round_outcome(readings, [1, 1], NOW, params, 0, 0) == RoundFailure("outliers", 2)


def test_an_outlier_is_cut_and_the_rest_published_with_their_oldest_time():
    readings = [held(1000, NOW - 3 * S), held(1010, NOW - S), held(5000, NOW), held(990, NOW - 2 * S)]
    params = oracle_params(min_sources=3, outlier_cut_ppm=50_000)
    outcome = round_outcome(readings, [1, 1, 1, 1], NOW, params, 0, 0)
    assert outcome == Publication(1000, 10, NOW - 3 * S, "initial", (0, 1, 3))


def test_each_aggregation_combines_the_used_readings():
    # Median 104, spread max(104 - Q25, Q75 - 104) = max(4, 6); the heavy 110 carries 5 of 7; Pyth's
    # nine votes 98, 100, 100, 102, 103, 104, 105, 110, 120: median 103, Q25 100, Q75 105.
    readings = [held(100, NOW, 2), held(104, NOW, 1), held(110, NOW, 10)]
    weights = [1, 1, 5]
    median = round_outcome(readings, weights, NOW, oracle_params(), 0, 0)
    weighted = round_outcome(readings, weights, NOW, oracle_params(aggregation=Aggregation.WEIGHTED_MEDIAN), 0, 0)
    pyth = round_outcome(readings, weights, NOW, oracle_params(aggregation=Aggregation.PYTH), 0, 0)
    assert isinstance(median, Publication) and (median.price_ticks, median.confidence_ticks) == (104, 6)
    assert isinstance(weighted, Publication) and (weighted.price_ticks, weighted.confidence_ticks) == (110, 10)
    assert isinstance(pyth, Publication) and (pyth.price_ticks, pyth.confidence_ticks) == (103, 3)


def test_push_publishes_by_deviation_or_heartbeat_and_skips_otherwise():
    params = oracle_params(deviation_ppm=10_000, heartbeat_ns=60 * S)  # 1 %, one minute
    last_ns = NOW - 10 * S
    assert round_outcome([held(1010, NOW)], [1], NOW, params, 1000, last_ns) is None  # exactly 1 %: not more
    moved = round_outcome([held(1011, NOW)], [1], NOW, params, 1000, last_ns)
    assert isinstance(moved, Publication) and moved.reason == "deviation"
    due = round_outcome([held(1000, NOW)], [1], NOW, params, 1000, NOW - 60 * S)
    assert isinstance(due, Publication) and due.reason == "heartbeat"


def test_cadence_and_pull_publish_every_round():
    readings = [held(1000, NOW)]
    cadence = round_outcome(readings, [1], NOW, oracle_params(policy=Policy.CADENCE), 1000, NOW)
    pull = round_outcome(readings, [1], NOW, oracle_params(policy=Policy.PULL), 1000, NOW)
    assert cadence == Publication(1000, 0, NOW, "cadence", (0,))
    assert pull == Publication(1000, 0, NOW, "pull", (0,))
