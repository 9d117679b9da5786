"""Aggregation and the push rule, called directly."""

import pytest

from clearing.core.oracle import (
    AGGREGATORS,
    Aggregation,
    aggregate,
    aggregator,
    inliers,
    median,
    publication_reason,
    pyth_aggregate,
    spread_confidence,
    weighted_median,
)

HOUR = 3600 * 10**9


def test_first_observation_publishes():
    assert publication_reason(0, 0, 1000, 0, 5000, HOUR) == "initial"


def test_deviation_must_exceed_threshold_strictly():
    # Chainlink: publish when the move is MORE than the threshold. Source: docs/references.md [chainlink-feeds].
    # 0.5 % of 100,000 ticks is 500 ticks: exactly 500 does not publish, 501 does.
    assert publication_reason(100_000, 0, 100_500, 10, 5000, HOUR) is None
    assert publication_reason(100_000, 0, 100_501, 10, 5000, HOUR) == "deviation"
    assert publication_reason(100_000, 0, 99_499, 10, 5000, HOUR) == "deviation"
    assert publication_reason(100_000, 0, 99_500, 10, 5000, HOUR) is None


def test_heartbeat_fires_when_elapsed_even_without_a_move():
    assert publication_reason(100_000, 0, 100_000, HOUR - 1, 5000, HOUR) is None
    assert publication_reason(100_000, 0, 100_000, HOUR, 5000, HOUR) == "heartbeat"


def test_deviation_wins_when_both_hold():
    assert publication_reason(100_000, 0, 200_000, HOUR, 5000, HOUR) == "deviation"


def test_median_of_odd_and_even_counts():
    assert median([5, 1, 3]) == 3
    assert median([4, 1, 3, 10]) == 3  # floor((3 + 4) / 2)
    with pytest.raises(ValueError, match="at least one"):
        median([])


def test_hyperliquid_weighted_median_of_eight_venues():
    # Weights 3,2,2,1,1,1,1,1 (docs/references.md [hyperliquid-oracle]): total 12, half 6.
    prices = [100, 101, 99, 150, 150, 150, 150, 150]  # Binance, OKX, Bybit, then five venues far off
    assert weighted_median(prices, [3, 2, 2, 1, 1, 1, 1, 1]) == 101  # 99:2, 100:5, 101:7 >= 6
    # Equal weights: the five far-off venues win the median.
    assert weighted_median(prices, [1] * 8) == 150


def test_pyth_votes_and_confidence():
    # Three publishers: (100 +- 2), (104 +- 1), (110 +- 10). Votes: 98,100,102,103,104,105,100,110,120.
    price, confidence = pyth_aggregate([100, 104, 110], [2, 1, 10])
    assert price == 103
    # Sorted votes 98,100,100,102,103,104,105,110,120: Q25 = 3rd = 100, Q75 = 7th = 105.
    assert confidence == max(103 - 100, 105 - 103)


def test_one_outlier_is_cut_and_the_spread_is_a_confidence():
    assert inliers([100, 101, 99, 1000], 50_000) == [True, True, True, False]
    assert inliers([100, 1000], 0) == [True, True]
    assert spread_confidence(100, [100]) == 0
    assert aggregate("median", [100, 102, 104], [0, 0, 0], [1, 1, 1]) == (102, 2)


def test_each_aggregation_is_looked_up_by_its_member_or_name():
    assert set(AGGREGATORS) == set(Aggregation)
    prices, confidences, weights = [100, 104, 110], [2, 1, 10], [1, 1, 5]
    assert aggregate(Aggregation.MEDIAN, prices, confidences, weights) == (104, 6)
    assert aggregate(Aggregation.WEIGHTED_MEDIAN, prices, confidences, weights) == (110, 10)
    assert aggregate(Aggregation.PYTH, prices, confidences, weights) == pyth_aggregate(prices, confidences)
    assert aggregator("pyth") is AGGREGATORS[Aggregation.PYTH]  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="aggregation"):
        aggregator("mean")  # type: ignore[arg-type]
