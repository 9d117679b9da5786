"""Publication policies: when a round publishes, why, how often rounds run, how prices land.

One small stateless policy object per `Policy`, looked up by `publication_policy`:

- push (Chainlink): publish when the aggregate moves MORE than the deviation threshold from
  the last published price, or when the heartbeat has elapsed; rounds every observe
  interval; visible after the inclusion delay plus the delivery latency;
- cadence (validator oracles): publish every round, every cadence; visible after the
  delivery latency;
- pull (Pyth): publish every round off-chain; the exchange pulls the freshest publication
  when it acts (`clearing.core.oracle.guards.pull_guard` refuses a stale one).
The collateral oracles use the same push and cadence rules.
Sources: docs/references.md [chainlink-feeds], [hyperliquid-oracle], [dydx-v4-oracle],
[pyth-pull].
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from clearing.core.oracle.params import OracleParams, Policy
from clearing.units import PPM

INITIAL: Final = "initial"
DEVIATION: Final = "deviation"
HEARTBEAT: Final = "heartbeat"


def publication_reason(
    last_price_ticks: int,
    last_published_ns: int,
    price_ticks: int,
    now_ns: int,
    deviation_ppm: int,
    heartbeat_ns: int,
) -> str | None:
    """Return why a push oracle publishes now ("initial", "deviation", "heartbeat") or None.

    Chainlink rule: a new round when the observed price differs from the last published
    one by MORE than the deviation threshold, |p - p_last| / p_last > deviation, or when
    the heartbeat has elapsed, now - t_last >= heartbeat. Compared exactly in integers as
    |p - p_last| x 10^6 > deviation_ppm x p_last. Deviation wins when both hold; the first
    price (no last one, 0) always publishes. Source: docs/references.md [chainlink-feeds].
    """
    if last_price_ticks <= 0:
        return INITIAL
    if abs(price_ticks - last_price_ticks) * PPM > deviation_ppm * last_price_ticks:
        return DEVIATION
    if now_ns - last_published_ns >= heartbeat_ns:
        return HEARTBEAT
    return None


class PublicationPolicy:
    """What distinguishes the policies: the round interval, the publication rule and the delivery.

    Stateless; one instance per policy in `PUBLICATION_POLICIES`. A base class rather than
    a protocol, so that the compiled build dispatches its methods natively.
    """

    @property
    def delivers(self) -> bool:
        """Whether each publication is delivered after its delay (else the exchange pulls)."""
        return True

    @property
    def pulls(self) -> bool:
        """Whether the exchange pulls the freshest publication (every pull interval, before acting)."""
        return False

    def round_interval_ns(self, params: OracleParams) -> int:
        """Return the time between rounds, ns."""
        raise NotImplementedError

    def reason(
        self,
        last_price_ticks: int,
        last_published_ns: int,
        price_ticks: int,
        now_ns: int,
        deviation_ppm: int,
        heartbeat_ns: int,
    ) -> str | None:
        """Return why a round with aggregate `price_ticks` publishes now, or None when it does not."""
        raise NotImplementedError

    def inclusion_delay_ns(self, params: OracleParams) -> int:
        """Return the delay before the delivery latency starts (a push's transaction inclusion), ns."""
        return 0


class Push(PublicationPolicy):
    """Chainlink's push: deviation or heartbeat, checked every observe interval; inclusion, then latency."""

    def round_interval_ns(self, params: OracleParams) -> int:
        """Return the observe interval."""
        return params.observe_interval_ns

    def reason(
        self,
        last_price_ticks: int,
        last_published_ns: int,
        price_ticks: int,
        now_ns: int,
        deviation_ppm: int,
        heartbeat_ns: int,
    ) -> str | None:
        """Return `publication_reason`."""
        return publication_reason(last_price_ticks, last_published_ns, price_ticks, now_ns, deviation_ppm, heartbeat_ns)

    def inclusion_delay_ns(self, params: OracleParams) -> int:
        """Return the inclusion delay."""
        return params.inclusion_delay_ns


class Cadence(PublicationPolicy):
    """A validator oracle: every round publishes, every cadence; visible after the latency alone."""

    def round_interval_ns(self, params: OracleParams) -> int:
        """Return the cadence."""
        return params.cadence_ns

    def reason(
        self,
        last_price_ticks: int,
        last_published_ns: int,
        price_ticks: int,
        now_ns: int,
        deviation_ppm: int,
        heartbeat_ns: int,
    ) -> str | None:
        """Return "cadence": every round publishes."""
        return "cadence"


class Pull(PublicationPolicy):
    """Pyth's pull: every round publishes off-chain, every cadence; the exchange pulls when it acts."""

    @property
    def delivers(self) -> bool:
        """Return False: a publication lands when the exchange pulls it."""
        return False

    @property
    def pulls(self) -> bool:
        """Return True."""
        return True

    def round_interval_ns(self, params: OracleParams) -> int:
        """Return the cadence."""
        return params.cadence_ns

    def reason(
        self,
        last_price_ticks: int,
        last_published_ns: int,
        price_ticks: int,
        now_ns: int,
        deviation_ppm: int,
        heartbeat_ns: int,
    ) -> str | None:
        """Return "pull": every round publishes."""
        return "pull"


PUBLICATION_POLICIES: Mapping[Policy, PublicationPolicy] = {Policy.PUSH: Push(), Policy.CADENCE: Cadence(), Policy.PULL: Pull()}


def publication_policy(policy: Policy) -> PublicationPolicy:
    """Return the publication policy of `policy` (a member, or its name)."""
    try:
        return PUBLICATION_POLICIES[policy]
    except KeyError as e:
        raise ValueError(f"expected a policy in {tuple(p.value for p in Policy)}, was {policy!r}") from e
