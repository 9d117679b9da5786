"""Guards: whether an action may use an oracle price now, with what was compared.

Each guard returns a `GuardDecision` (allowed, reason, the price's age, the confidence and
divergence it compared, in ppm) that the shell records as an `oracle_guard_checked`; a
guard left at 0 is off and records nothing (`confidence_guard` returns None,
`is_liquidation_guarded` is false).

- confidence (action `mark`): a delivered price whose confidence / price exceeds the cap
  does not become the mark (Pyth's best practice, Drift's `TooUncertain`);
- pull staleness (action `pull`): a pull refuses a publication older than the maximum age
  (Pyth's `getPriceNoOlderThan`);
- liquidation (action `liquidation`): a liquidation waits while the visible price is older
  than the maximum age, or the mark diverges from it by more than the limit (Drift's
  mark/oracle divergence; Drift itself does not gate liquidations on staleness);
- validity (`oracle_validity`, Drift's ladder): non-positive, too volatile, too uncertain,
  stale for margin, stale for the AMM, valid, and which actions refuse which (`valid_for`);
  `validity_guard` gates a liquidation by it and by the price's distance from its TWAP
  (`time_weighted_price`), as Drift's `liquidate_perp` does.
Sources: docs/references.md [pyth-pull], [drift-v2-oracle-guards], [chainlink-feeds].
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Final, NamedTuple

from clearing.units import PPM

OK: Final = "ok"
STALE: Final = "stale"
CONFIDENCE: Final = "confidence"
DIVERGENCE: Final = "divergence"
TWAP_DIVERGENCE: Final = "twap_divergence"


class GuardDecision(NamedTuple):
    """A guard's decision and what it compared."""

    allowed: bool
    reason: str  # OK, or the guard that refused: STALE, CONFIDENCE, DIVERGENCE
    age_ns: int  # now - the price's observation time
    confidence_ppm: int  # floor(confidence x 10^6 / price); 0 when not compared
    divergence_ppm: int  # floor(|mark - oracle| x 10^6 / oracle); 0 when not compared


def confidence_guard(
    price_ticks: int, confidence_ticks: int, source_ns: int, now_ns: int, max_confidence_ppm: int
) -> GuardDecision | None:
    """Return whether a delivered price may become the mark: floor(c x 10^6 / p) <= the cap; None when off."""
    if not max_confidence_ppm:
        return None
    ratio = confidence_ticks * PPM // price_ticks
    if ratio > max_confidence_ppm:
        return GuardDecision(False, CONFIDENCE, now_ns - source_ns, ratio, 0)
    return GuardDecision(True, OK, now_ns - source_ns, ratio, 0)


def pull_guard(source_ns: int, now_ns: int, max_age_ns: int) -> GuardDecision:
    """Return whether a pull may bring a publication observed at `source_ns`: now - source_ns <= max age."""
    age = now_ns - source_ns
    if age > max_age_ns:
        return GuardDecision(False, STALE, age, 0, 0)
    return GuardDecision(True, OK, age, 0, 0)


def is_liquidation_guarded(max_age_ns: int, max_divergence_ppm: int) -> bool:
    """Return whether a liquidation guard is set (either limit above 0): else nothing is checked or recorded."""
    return bool(max_age_ns or max_divergence_ppm)


def liquidation_guard(
    oracle_ticks: int, oracle_source_ns: int, mark_ticks: int, now_ns: int, max_age_ns: int, max_divergence_ppm: int
) -> GuardDecision:
    """Return whether a liquidation may proceed on the visible oracle price (a limit of 0 is off).

    Stale when max_age > 0 and now - oracle_source_ns > max_age; else divergent when
    max_divergence > 0 and floor(|mark - oracle| x 10^6 / oracle) > max_divergence (0 while
    no oracle price is visible). Staleness is checked first. The shell asks only when
    `is_liquidation_guarded`.
    """
    age = now_ns - oracle_source_ns
    divergence = abs(mark_ticks - oracle_ticks) * PPM // oracle_ticks if oracle_ticks else 0
    if max_age_ns and age > max_age_ns:
        return GuardDecision(False, STALE, age, 0, divergence)
    if max_divergence_ppm and divergence > max_divergence_ppm:
        return GuardDecision(False, DIVERGENCE, age, 0, divergence)
    return GuardDecision(True, OK, age, 0, divergence)


class Validity(StrEnum):
    """Drift's oracle validity, the first that holds in this order (`oracle_validity`)."""

    NON_POSITIVE = "non_positive"
    TOO_VOLATILE = "too_volatile"
    TOO_UNCERTAIN = "too_uncertain"
    STALE_FOR_MARGIN = "stale_for_margin"
    STALE_FOR_AMM = "stale_for_amm"
    VALID = "valid"


# What each action refuses (Drift's `is_oracle_valid_for_action`): the margin calculation refuses the first four,
# a liquidation only a non-positive or too volatile price, an immediate AMM fill anything but a valid one.
REFUSES: Final = {
    "margin": frozenset({Validity.NON_POSITIVE, Validity.TOO_VOLATILE, Validity.TOO_UNCERTAIN, Validity.STALE_FOR_MARGIN}),
    "liquidation": frozenset({Validity.NON_POSITIVE, Validity.TOO_VOLATILE}),
    "amm": frozenset(set(Validity) - {Validity.VALID}),
}


def oracle_validity(
    price_ticks: int,
    twap_ticks: int,
    confidence_ticks: int,
    age_ns: int,
    *,
    too_volatile_ratio: int = 5,
    max_confidence_ppm: int = 20_000,
    stale_for_margin_ns: int = 60 * 10**9,
    stale_for_amm_ns: int = 5 * 10**9,
) -> Validity:
    """Return Drift's validity of an oracle price: the first of non-positive (price <= 0), too volatile (the price
    and its TWAP more than `too_volatile_ratio` times apart), too uncertain (confidence / price above the cap), stale
    for margin, stale for the AMM (older than each limit), else valid.

    Drift's defaults: ratio 5, confidence 2 % of price, 120 slots (about 60 s) for margin, 10 slots (about 5 s)
    for the AMM; its "insufficient data points" step has no counterpart here (no on-chain history). Source:
    docs/references.md [drift-v2-oracle-guards].
    """
    if price_ticks <= 0:
        return Validity.NON_POSITIVE
    if twap_ticks > 0 and max(price_ticks, twap_ticks) > too_volatile_ratio * min(price_ticks, twap_ticks):
        return Validity.TOO_VOLATILE
    if confidence_ticks * PPM > max_confidence_ppm * price_ticks:
        return Validity.TOO_UNCERTAIN
    if age_ns > stale_for_margin_ns:
        return Validity.STALE_FOR_MARGIN
    if age_ns > stale_for_amm_ns:
        return Validity.STALE_FOR_AMM
    return Validity.VALID


def valid_for(action: str, validity: Validity) -> bool:
    """Return whether `action` ("margin", "liquidation" or "amm") may use a price of `validity`."""
    return validity not in REFUSES[action]


def time_weighted_price(points: Sequence[tuple[int, int]], now_ns: int, window_ns: int) -> int:
    """Return the time-weighted average of a step price over (now - window, now], floor; 0 with no point.

    `points` are (time, price) in time order, each price holding from its time to the next
    point's (the last to `now`). Before the first point the first price is taken to hold, so a
    history shorter than the window averages what there is (Drift's 5-minute oracle TWAP).
    """
    if not points:
        return 0
    start = now_ns - window_ns
    total = 0
    for i, (ts, price) in enumerate(points):
        begin = max(ts if i else start, start)
        end = points[i + 1][0] if i + 1 < len(points) else now_ns
        if end > begin:
            total += price * (end - begin)
    return total // window_ns if window_ns > 0 else points[-1][1]


def validity_guard(
    price_ticks: int, twap_ticks: int, source_ns: int, now_ns: int, too_volatile_ratio: int, max_twap_divergence_ppm: int
) -> GuardDecision:
    """Return whether a liquidation may use the oracle price by Drift's rules: refused only when the price is not
    positive or too volatile (`oracle_validity`: a liquidation accepts a stale or uncertain price), or when it is
    more than `max_twap_divergence` away from its TWAP (`liquidate_perp`'s 5-minute TWAP check, 50 %).

    The decision's reason is the validity ("valid", "stale_for_margin", ...) or "twap_divergence";
    its divergence is |price - TWAP| / TWAP in ppm. Source: docs/references.md [drift-v2-oracle-guards],
    [drift-v2-liq].
    """
    age = now_ns - source_ns
    validity = oracle_validity(price_ticks, twap_ticks, 0, age, too_volatile_ratio=too_volatile_ratio)
    divergence = abs(price_ticks - twap_ticks) * PPM // twap_ticks if twap_ticks > 0 else 0
    if not valid_for("liquidation", validity):
        return GuardDecision(False, validity.value, age, 0, divergence)
    if max_twap_divergence_ppm and divergence > max_twap_divergence_ppm:
        return GuardDecision(False, TWAP_DIVERGENCE, age, 0, divergence)
    return GuardDecision(True, validity.value, age, 0, divergence)
