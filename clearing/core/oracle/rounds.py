"""An aggregation round: which readings are live, the outlier cut, the minimum, the aggregate.

A round takes the latest reading of each source, keeps the live ones (no older than
`source_max_age_ns`), cuts the outliers, needs `min_sources` left, aggregates them, and
asks the publication policy whether to publish. It fails (`RoundFailure`, reason
`too_few_sources` or `outliers`), is skipped (None: nothing observed yet, or the policy
does not publish), or publishes (`Publication`). Pure: the shell emits the outcome.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, NamedTuple

from clearing.core.oracle.aggregation import AGGREGATORS, inliers
from clearing.core.oracle.params import OracleParams
from clearing.core.oracle.publication import PUBLICATION_POLICIES
from clearing.core.oracle.sources import HeldReading

TOO_FEW_SOURCES: Final = "too_few_sources"
OUTLIERS: Final = "outliers"


class RoundFailure(NamedTuple):
    """A round that produced no price: why, and how many sources were live."""

    reason: str  # TOO_FEW_SOURCES: fewer live than the minimum; OUTLIERS: the cut left too few
    live_sources: int


class Publication(NamedTuple):
    """A round's publication: the aggregate, its oldest reading's time, why, and the sources used."""

    price_ticks: int
    confidence_ticks: int
    source_ns: int  # the oldest reading used: a conservative age
    reason: str  # the policy's: "initial", "deviation", "heartbeat", "cadence" or "pull"
    sources: tuple[int, ...]  # the sources whose readings were used, ascending


def round_outcome(
    held: Sequence[HeldReading | None],
    weights: Sequence[int],
    now_ns: int,
    params: OracleParams,
    published_ticks: int,
    published_ns: int,
) -> Publication | RoundFailure | None:
    """Return the outcome of a round at `now_ns` over each source's held reading.

    `held[i]` is source i's latest reading (None before its first), `weights[i]` its
    weight; `published_ticks` and `published_ns` are the last publication's price and time
    (0 before the first), which a push policy compares with. A reading is live when
    now - its source time <= `source_max_age_ns`. Skipped (None) when nothing was ever
    observed, when the aggregate is not positive, or when the policy does not publish.
    """
    live = [(i, o) for i, o in enumerate(held) if o is not None and now_ns - o.source_ns <= params.source_max_age_ns]
    if not live and not any(o is not None for o in held):
        return None  # nothing has ever been observed: the oracle has not started
    keep = inliers([o.price for _, o in live], params.outlier_cut_ppm)
    used = [(i, o) for (i, o), k in zip(live, keep, strict=True) if k]
    if len(used) < params.min_sources:
        return RoundFailure(TOO_FEW_SOURCES if len(live) < params.min_sources else OUTLIERS, len(live))
    price, confidence = AGGREGATORS[params.aggregation].aggregate(
        [o.price for _, o in used], [o.confidence for _, o in used], [weights[i] for i, _ in used]
    )
    if price <= 0:
        return None
    reason = PUBLICATION_POLICIES[params.policy].reason(
        published_ticks, published_ns, price, now_ns, params.deviation_ppm, params.heartbeat_ns
    )
    if reason is None:
        return None
    return Publication(price, confidence, min([o.source_ns for _, o in used]), reason, tuple([i for i, _ in used]))
