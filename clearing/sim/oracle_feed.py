"""The oracle's processes: sources sampled on their cadences, rounds, deliveries, pulls, guards.

The shell of `clearing.core.oracle`: it waits, reads the state, calls the pure policy and
emits what it decided. Each group of sources with the same interval and delay is one
process that reads them together (`read_source`) and, `delay` later, records the readings
not overtaken in one `oracle_observed` (decision 0010). A round every interval of the
publication policy (`round_outcome`) emits `oracle_round_failed` or
`oracle_price_published`; a push or cadence publication is delivered after
`delivery_delay_ns` unless superseded; a pull oracle's exchange pulls the freshest
publication every `pull_interval` and before each liquidation (`pull_guard`). A delivery
sets the oracle price the exchange sees; with the "oracle" mark method it also sets the
mark, unless `confidence_guard` refuses, and triggers the margin check. The liquidators
ask `Oracle.liquidation_allowed` (`liquidation_guard`).

Kept here, as timing and bookkeeping: the seq of each source's latest observation (a
publication's causes), the load model's breach window, the last publication's seq; and
what a source watches in the state (`Watch`, one per `Reference`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Generator, Mapping
from functools import partial
from typing import Any

import numpy as np
import simpy

from clearing import events as ev
from clearing.core.mark import MarkMethod
from clearing.core.oracle import (
    PUBLICATION_POLICIES,
    BreachWindow,
    GuardDecision,
    OracleParams,
    Reference,
    RoundFailure,
    SourceReading,
    SourceSpec,
    confidence_guard,
    delivery_delay_ns,
    fresh_readings,
    has_newer_publication,
    is_liquidation_guarded,
    is_superseded,
    liquidation_guard,
    publication_policy,
    pull_guard,
    read_source,
    reads_breaches,
    round_outcome,
    time_weighted_price,
    validity_guard,
)
from clearing.core.state import ClearingState
from clearing.sim.bus import EventBus
from clearing.sim.causes import Latest
from clearing.sim.clock import Clock
from clearing.sim.live import Live


class Watch:
    """What a source reads (its `Reference`): the price there now, and the events that made it.

    Stateless; one per reference in `WATCHES` (a base class, so that the compiled build
    calls it natively for every reading).
    """

    def ticks(self, state: ClearingState, market: int) -> int:
        """Return the price now, ticks (0 before there is one)."""
        raise NotImplementedError

    def causes(self, latest: Latest, market: int) -> tuple[int, ...]:
        """Return the seqs of the events that made the price."""
        raise NotImplementedError


class WatchIndex(Watch):
    """The external index path."""

    def ticks(self, state: ClearingState, market: int) -> int:
        """Return the index price."""
        return int(state.index_ticks[market])

    def causes(self, latest: Latest, market: int) -> tuple[int, ...]:
        """Return the index's latest move."""
        return latest.of_index(market)


class WatchMid(Watch):
    """The perpetual's book mid (its last trade while a side is empty)."""

    def ticks(self, state: ClearingState, market: int) -> int:
        """Return the mid, or the last trade price."""
        return int(state.books[market].mid() or state.last_trade_ticks[market])

    def causes(self, latest: Latest, market: int) -> tuple[int, ...]:
        """Return the makers' latest ladders and the fills since."""
        return latest.of_mid(market)


class WatchLast(Watch):
    """The perpetual's last trade."""

    def ticks(self, state: ClearingState, market: int) -> int:
        """Return the last trade price."""
        return int(state.last_trade_ticks[market])

    def causes(self, latest: Latest, market: int) -> tuple[int, ...]:
        """Return the last trade."""
        return latest.of_last(market)


WATCHES: Mapping[Reference, Watch] = {Reference.INDEX: WatchIndex(), Reference.MID: WatchMid(), Reference.LAST: WatchLast()}


class Oracle:
    """One market's oracle: its sources, rounds, deliveries, pulls and guards."""

    def __init__(
        self,
        env: Clock,
        bus: EventBus,
        market: int,
        live: Live,
        sources: list[SourceSpec],
        latest: Latest,
        on_mark: Callable[[int, int], None],
        latency_rng: np.random.Generator,
    ) -> None:
        self.env, self.bus, self.market, self.live = env, bus, market, live
        self.sources = sources
        self.weights = tuple(spec.weight for spec in sources)
        self.latest = latest
        self.on_mark = on_mark
        self.latency_rng = latency_rng
        self.observation_seqs = [0] * len(sources)
        self.breach_window = BreachWindow()
        self.published_seq = 0
        self.visible: deque[tuple[int, int]] = deque()  # (time, price) of each delivery, for the TWAP a guard reads

    @property
    def params(self) -> OracleParams:
        """Return the oracle's parameters in force now (a fork may change them)."""
        return self.live.params.oracle

    def start(self, source_rngs: list[np.random.Generator]) -> None:
        """List the sources and start every process (sources first, so a round sees same-instant readings)."""
        for i, spec in enumerate(self.sources):
            self.bus.emit(
                ev.OracleSourceListed(ts_ns=self.env.now, market=self.market, source=i, name=spec.name, weight=spec.weight)
            )
        groups: dict[tuple[int, int], list[int]] = {}  # sources on the same cadence and delay, in listing order
        for i, spec in enumerate(self.sources):
            groups.setdefault((spec.interval_ns, spec.delay_ns), []).append(i)
        for (interval_ns, delay_ns), members in groups.items():
            self.env.process(self._sample(members, [source_rngs[i] for i in members], interval_ns, delay_ns))
        self.env.process(self._rounds())
        if publication_policy(self.params.policy).pulls:
            self.env.process(self._pulls())

    # Sources -------------------------------------------------------------------------

    def _sample(
        self, members: list[int], rngs: list[np.random.Generator], interval_ns: int, delay_ns: int
    ) -> Generator[simpy.Event, Any, None]:
        # Sources sampled together (same interval and delay) reach the oracle together: one
        # `oracle_observed` carries all their readings (decision 0010). The noise is drawn
        # at every sample, so an outage does not shift a source's stream.
        env, state, market, latest = self.env, self.bus.state, self.market, self.latest
        specs = [self.sources[i] for i in members]
        watches = [WATCHES[spec.reference] for spec in specs]
        last = [0] * len(members)
        while True:
            now = env.now
            sources: list[int] = []
            readings: list[SourceReading] = []
            causes: list[tuple[int, ...]] = []
            for k in range(len(members)):
                noise = float(rngs[k].standard_normal())
                reading = read_source(specs[k], watches[k].ticks(state, market), last[k], now, noise)
                if reading is not None:
                    sources.append(members[k])
                    readings.append(reading)
                    causes.append(watches[k].causes(latest, market))  # what the source watched now
                    last[k] = reading[0]
            if readings:
                if delay_ns:
                    env.timeout(delay_ns).callbacks.append(partial(self._arrived, sources, readings, causes, now))
                else:
                    self._observed(sources, readings, causes, now)
            yield env.timeout(interval_ns)

    def _arrived(
        self,
        sources: list[int],
        readings: list[SourceReading],
        causes: list[tuple[int, ...]],
        taken_ns: int,
        _timeout: simpy.Event,
    ) -> None:
        self._observed(sources, readings, causes, taken_ns)

    def _observed(self, sources: list[int], readings: list[SourceReading], causes: list[tuple[int, ...]], taken_ns: int) -> None:
        fresh = fresh_readings(self.bus.state.observations[self.market], sources, taken_ns)
        if not fresh:
            return
        seq = self.bus.emit(
            ev.OracleObserved(
                ts_ns=self.env.now, causes=tuple(sorted({c for k in fresh for c in causes[k]})), market=self.market,
                ts_source_ns=taken_ns, sources=tuple(sources[k] for k in fresh),
                price_ticks=tuple(readings[k][0] for k in fresh), confidence_ticks=tuple(readings[k][1] for k in fresh),
                status=tuple(readings[k][2] for k in fresh),
            )
        )  # fmt: skip
        for k in fresh:
            self.observation_seqs[sources[k]] = seq

    # Rounds and publication ----------------------------------------------------------

    def _rounds(self) -> Generator[simpy.Event, Any, None]:
        p = self.params
        interval = publication_policy(p.policy).round_interval_ns(p)
        while True:
            self._round()
            yield self.env.timeout(interval)

    def _round(self) -> None:
        p, s, m, now = self.params, self.bus.state, self.market, self.env.now
        if reads_breaches(p.latency_model):  # the margin breaches of the trailing window: the storm's load
            self.breach_window.record(now, s.breaches, p.latency_window_ns)
        outcome = round_outcome(s.observations[m], self.weights, now, p, int(s.published_ticks[m]), int(s.published_ns[m]))
        if outcome is None:
            return
        if isinstance(outcome, RoundFailure):
            self.bus.emit(ev.OracleRoundFailed(ts_ns=now, market=m, reason=outcome.reason, live_sources=outcome.live_sources))
            return
        price, confidence, source_ns = outcome.price_ticks, outcome.confidence_ticks, outcome.source_ns
        self.published_seq = self.bus.emit(
            ev.OraclePricePublished(
                ts_ns=now, causes=tuple(sorted({self.observation_seqs[i] for i in outcome.sources})), market=m,
                price_ticks=price, confidence_ticks=confidence, ts_source_ns=source_ns, sources_used=len(outcome.sources),
                reason=outcome.reason,
            )
        )  # fmt: skip
        policy = PUBLICATION_POLICIES[p.policy]
        if policy.delivers:
            delay = delivery_delay_ns(policy, p, self.latency_rng, self.breach_window.recent(s.breaches))
            self.env.process(self._deliver_later(self.published_seq, price, confidence, source_ns, now, delay))

    # Delivery, pulls, guards ---------------------------------------------------------

    def _deliver_later(
        self, published_seq: int, price: int, confidence: int, source_ns: int, published_ns: int, delay_ns: int
    ) -> Generator[simpy.Event, Any, None]:
        if delay_ns:
            yield self.env.timeout(delay_ns)
        self._deliver(published_seq, price, confidence, source_ns, published_ns)

    def _deliver(self, published_seq: int, price: int, confidence: int, source_ns: int, published_ns: int) -> None:
        s, m, now = self.bus.state, self.market, self.env.now
        if is_superseded(int(s.oracle_ticks[m]), int(s.oracle_published_ns[m]), published_ns):
            return  # a later publication is already visible
        delivered = self.bus.emit(
            ev.OraclePriceDelivered(
                ts_ns=now, causes=(published_seq,), market=m, price_ticks=price, confidence_ticks=confidence,
                ts_source_ns=source_ns, ts_published_ns=published_ns,
            )
        )  # fmt: skip
        self.latest.oracle[m] = delivered
        p = self.params
        if p.liquidation_validity:  # the deliveries of the TWAP window (and the one in force at its start)
            self.visible.append((now, price))
            while len(self.visible) > 1 and self.visible[1][0] <= now - p.twap_ns:
                self.visible.popleft()
        if not p.sets_mark:
            return
        decision = confidence_guard(price, confidence, source_ns, now, p.max_confidence_ppm)
        if decision is not None:
            self._guard_checked(decision, "mark", -1, (delivered,))
            if not decision.allowed:
                return
        mark = self.bus.emit(
            ev.MarkPriceUpdated(
                ts_ns=now, causes=(delivered,), market=m, price_ticks=price, index_ticks=price, method=MarkMethod.ORACLE.value,
            )
        )  # fmt: skip
        self.on_mark(m, mark)

    def _guard_checked(self, decision: GuardDecision, action: str, account: int, causes: tuple[int, ...]) -> None:
        self.bus.emit(
            ev.OracleGuardChecked(
                ts_ns=self.env.now, causes=causes, market=self.market, action=action, account=account,
                allowed=decision.allowed, reason=decision.reason, age_ns=decision.age_ns,
                confidence_ppm=decision.confidence_ppm, divergence_ppm=decision.divergence_ppm,
            )
        )  # fmt: skip

    def _pulls(self) -> Generator[simpy.Event, Any, None]:
        while True:
            yield self.env.timeout(self.params.pull_interval_ns)
            self.pull()

    def pull(self) -> None:
        """Bring the freshest publication on chain if it is newer than the visible one and fresh enough."""
        s, m = self.bus.state, self.market
        published_ns = int(s.published_ns[m])
        if not has_newer_publication(
            int(s.published_ticks[m]), published_ns, int(s.oracle_ticks[m]), int(s.oracle_published_ns[m])
        ):
            return
        source_ns = int(s.published_source_ns[m])
        decision = pull_guard(source_ns, self.env.now, self.params.max_age_ns)
        if not decision.allowed:
            self._guard_checked(decision, "pull", -1, (self.published_seq,))
            return
        self._deliver(
            self.published_seq, int(s.published_ticks[m]), int(s.published_confidence_ticks[m]), source_ns, published_ns
        )

    def liquidation_allowed(self, account: int, causes: tuple[int, ...]) -> bool:
        """Pull (for pull oracles), then apply the liquidation guards; record the decision when any is set."""
        p, s, m = self.params, self.bus.state, self.market
        if PUBLICATION_POLICIES[p.policy].pulls:
            self.pull()
        if p.liquidation_validity:  # Drift's rules replace the age and divergence guards
            price = int(s.oracle_ticks[m])
            twap = time_weighted_price(list(self.visible), self.env.now, p.twap_ns) or price
            decision = validity_guard(price, twap, int(s.oracle_source_ns[m]), self.env.now, p.too_volatile_ratio,
                                      p.max_twap_divergence_ppm)  # fmt: skip
            self._guard_checked(decision, "liquidation", account, causes)
            return decision.allowed
        if not is_liquidation_guarded(p.liquidation_max_age_ns, p.max_divergence_ppm):
            return True
        decision = liquidation_guard(
            int(s.oracle_ticks[m]), int(s.oracle_source_ns[m]), int(s.mark_ticks[m]), self.env.now,
            p.liquidation_max_age_ns, p.max_divergence_ppm,
        )  # fmt: skip
        self._guard_checked(decision, "liquidation", account, causes)
        return decision.allowed
