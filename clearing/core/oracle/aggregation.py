"""Aggregation: one price and confidence from the readings a round uses, and the outlier cut.

Pure integer functions over prices in ticks (rates in ppm); one `Aggregator` per
`Aggregation`, looked up by `aggregator`. A round (`clearing.core.oracle.rounds`) decides
which readings are used; this module only combines them.

- median: the middle price (the floor of the mean of the two middle ones for an even
  count), as a Chainlink round reports one answer from its nodes';
- weighted median: the smallest price whose cumulative weight reaches half the total, as
  Hyperliquid validators weight venues 3,2,2,1,1,1,1,1;
- Pyth: every publisher votes p - c, p and p + c; the aggregate is the median of the votes
  and its confidence max(R - Q25, Q75 - R) over the votes.
The two medians report the same spread statistic over the prices as their confidence.
Sources: docs/references.md [chainlink-feeds], [hyperliquid-oracle], [pyth-aggregation]
(the median of a Chainlink round's nodes is this model's assumption).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from clearing.core.oracle.params import Aggregation
from clearing.units import PPM

AGGREGATIONS = tuple(a.value for a in Aggregation)


def median(values: Sequence[int]) -> int:
    """Return the median; for an even count, floor of the mean of the two middle values."""
    if not values:
        raise ValueError("expected at least one value, was none")
    ordered = sorted(values)
    n = len(ordered)
    return ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) // 2


def weighted_median(values: Sequence[int], weights: Sequence[int]) -> int:
    """Return the smallest value whose cumulative weight (values ascending) reaches half the total.

    With weights (3, 2, 2, 1, 1, 1, 1, 1) the first venue alone carries 3 of 12.
    """
    if not values or len(values) != len(weights) or any(w <= 0 for w in weights):
        raise ValueError(f"expected values and positive weights of one length, was {len(values)} and {list(weights)}")
    total = sum(weights)
    cumulative = 0
    for value, weight in sorted(zip(values, weights, strict=True)):
        cumulative += weight
        if 2 * cumulative >= total:
            return value
    raise AssertionError("unreachable: the cumulative weight reaches the total")


def quantile(ordered: Sequence[int], q_ppm: int) -> int:
    """Return the nearest-rank quantile q of sorted values: the ceil(q x n)-th, at least the first."""
    rank = max(1, math.ceil(q_ppm * len(ordered) / PPM))
    return ordered[rank - 1]


def spread_confidence(center: int, values: Sequence[int]) -> int:
    """Return max(center - Q25, Q75 - center) over `values` (0 for a single value)."""
    ordered = sorted(values)
    return max(0, center - quantile(ordered, 250_000), quantile(ordered, 750_000) - center)


def pyth_aggregate(prices: Sequence[int], confidences: Sequence[int]) -> tuple[int, int]:
    """Return (price, confidence): the median of the votes p_i - c_i, p_i, p_i + c_i, and its spread."""
    votes = [v for p, c in zip(prices, confidences, strict=True) for v in (p - c, p, p + c)]
    price = median(votes)
    return price, spread_confidence(price, votes)


def inliers(values: Sequence[int], cut_ppm: int) -> list[bool]:
    """Return which values lie within cut_ppm of the median (all when cut_ppm is 0).

    A value v is an outlier when |v - m| x 10^6 > cut_ppm x m, m = median(values): the
    Binance index drops a source more than 5 % from the median. Every outlier is dropped
    (Binance drops one and switches to the plain median when more deviate).
    Source: docs/references.md [binance-index-outliers].
    """
    if cut_ppm <= 0 or not values:
        return [True] * len(values)
    m = median(values)
    return [abs(v - m) * PPM <= cut_ppm * m for v in values]


class Aggregator:
    """One aggregation: (prices, confidences, weights) of the used readings -> (price, confidence), ticks.

    Stateless; one instance per `Aggregation` in `AGGREGATORS` (a base class, so that the
    compiled build dispatches natively).
    """

    def aggregate(self, prices: Sequence[int], confidences: Sequence[int], weights: Sequence[int]) -> tuple[int, int]:
        """Return (price, confidence)."""
        raise NotImplementedError


class MedianAggregator(Aggregator):
    """The median of the prices, and their spread about it; confidences and weights unused."""

    def aggregate(self, prices: Sequence[int], confidences: Sequence[int], weights: Sequence[int]) -> tuple[int, int]:
        """Return (median, spread_confidence)."""
        price = median(prices)
        return price, spread_confidence(price, prices)


class WeightedMedianAggregator(Aggregator):
    """The weighted median of the prices, and their spread about it; confidences unused."""

    def aggregate(self, prices: Sequence[int], confidences: Sequence[int], weights: Sequence[int]) -> tuple[int, int]:
        """Return (weighted_median, spread_confidence)."""
        price = weighted_median(prices, weights)
        return price, spread_confidence(price, prices)


class PythAggregator(Aggregator):
    """Pyth's three votes per publisher; weights unused."""

    def aggregate(self, prices: Sequence[int], confidences: Sequence[int], weights: Sequence[int]) -> tuple[int, int]:
        """Return `pyth_aggregate`."""
        return pyth_aggregate(prices, confidences)


AGGREGATORS: Mapping[Aggregation, Aggregator] = {
    Aggregation.MEDIAN: MedianAggregator(),
    Aggregation.WEIGHTED_MEDIAN: WeightedMedianAggregator(),
    Aggregation.PYTH: PythAggregator(),
}


def aggregator(method: Aggregation) -> Aggregator:
    """Return the aggregator of `method` (a member, or its name)."""
    try:
        return AGGREGATORS[method]
    except KeyError as e:
        raise ValueError(f"expected an aggregation in {AGGREGATIONS}, was {method!r}") from e


def aggregate(method: Aggregation, prices: Sequence[int], confidences: Sequence[int], weights: Sequence[int]) -> tuple[int, int]:
    """Return (price, confidence) of the readings by `method`."""
    return aggregator(method).aggregate(prices, confidences, weights)
