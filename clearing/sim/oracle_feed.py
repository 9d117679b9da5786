"""The oracle: sources on their own cadences, an aggregator, a publication policy, delivery.

Each source samples its reference (the external index, the perpetual's book mid or last
trade) every interval, with its own noise, and its reading reaches the oracle `delay`
later as an `oracle_observed`; in an outage it sends nothing, while frozen it repeats its
last value, and in a dislocation it is off by a fraction. Every aggregation round takes
the live readings (not older than `source_max_age`), cuts outliers, needs `min_sources`,
and aggregates (`clearing.core.oracle.aggregate`). Then, by policy:

Latency model "load" adds a delay per margin breach in the trailing window, sampled at
every round.

- push: publish when `publication_reason` says so (deviation or heartbeat), visible after
  the inclusion delay plus the delivery latency;
- cadence: publish every round, visible after the delivery latency;
- pull: publish every round off-chain; the exchange pulls the freshest publication when
  it acts (every `pull_interval`, and before each liquidation), refusing one older than
  `max_age`.

A delivery sets the oracle price the exchange sees; with the "oracle" mark method it also
sets the mark (unless the confidence guard refuses it) and triggers the margin check.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Generator
from functools import partial
from typing import Any

import numpy as np
import simpy

from clearing import events as ev
from clearing.core.oracle import OracleParams, SourceSpec, aggregate, in_windows, inliers, publication_reason, sample_latency_ns
from clearing.sim.bus import EventBus
from clearing.sim.causes import Latest
from clearing.sim.clock import Clock
from clearing.sim.live import Live
from clearing.units import PPM

Window = tuple[int, int]
Reading = tuple[int, int, int, str, tuple[int, ...]]  # source, price, confidence, status, causes


def observe(state: Any, market: int, reference: str) -> int:
    """Return the price a source watching `reference` sees now (0 when there is none yet)."""
    if reference == "mid":
        return int(state.books[market].mid() or state.last_trade_ticks[market])
    if reference == "last":
        return int(state.last_trade_ticks[market])
    return int(state.index_ticks[market])


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
        self.latest = latest
        self.on_mark = on_mark
        self.latency_rng = latency_rng
        self.observation_seqs = [0] * len(sources)
        self.breach_history: deque[tuple[int, int]] = deque()
        self.published_seq = 0

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
        if self.params.policy == "pull":
            self.env.process(self._pulls())

    # Sources -------------------------------------------------------------------------

    def _sample(
        self, members: list[int], rngs: list[np.random.Generator], interval_ns: int, delay_ns: int
    ) -> Generator[simpy.Event, Any, None]:
        # Sources sampled together (same interval and delay) reach the oracle together: one
        # `oracle_observed` carries all their readings (decision 0010).
        env = self.env
        last = [0] * len(members)
        while True:
            now = env.now
            readings = []
            for k, (index, rng) in enumerate(zip(members, rngs, strict=True)):
                reading = self._read(index, rng, last[k], now)
                if reading is not None:
                    readings.append(reading)
                    last[k] = reading[1] if reading[3] != "frozen" else last[k]
            if readings:
                if delay_ns:
                    env.timeout(delay_ns).callbacks.append(partial(self._arrived, readings, now))
                else:
                    self._observed(readings, now)
            yield env.timeout(interval_ns)

    def _read(self, index: int, rng: np.random.Generator, last: int, now: int) -> Reading | None:
        # One source's reading, None in an outage; its causes are what the source watched now.
        spec = self.sources[index]
        noise = float(rng.standard_normal())  # drawn every sample: outages do not shift the stream
        reference = observe(self.bus.state, self.market, spec.reference)
        if reference <= 0 or in_windows(spec.outages, now):
            return None
        if last and in_windows(spec.frozen, now):
            price, status = last, "frozen"
        else:
            offset = next((o for start, end, o in spec.dislocations if start <= now < end), 0.0)
            price = max(1, round(reference * (1.0 + offset) * (1.0 + spec.noise_ppm / PPM * noise)))
            status = "dislocated" if offset else "ok"
        confidence = -(-round(price * spec.confidence_ppm) // PPM)
        return index, price, confidence, status, self.latest.of(spec.reference, self.market)

    def _arrived(self, readings: list[Reading], taken_ns: int, _timeout: simpy.Event) -> None:
        self._observed(readings, taken_ns)

    def _observed(self, readings: list[Reading], taken_ns: int) -> None:
        observations = self.bus.state.observations[self.market]
        fresh = [r for r in readings if (o := observations[r[0]]) is None or o.source_ns <= taken_ns]  # not overtaken
        if not fresh:
            return
        causes = sorted({c for r in fresh for c in r[4]})
        seq = self.bus.emit(
            ev.OracleObserved(
                ts_ns=self.env.now, causes=tuple(causes), market=self.market, ts_source_ns=taken_ns,
                sources=tuple(r[0] for r in fresh), price_ticks=tuple(r[1] for r in fresh),
                confidence_ticks=tuple(r[2] for r in fresh), status=tuple(r[3] for r in fresh),
            )
        )  # fmt: skip
        for r in fresh:
            self.observation_seqs[r[0]] = seq

    # Rounds and publication ----------------------------------------------------------

    def _rounds(self) -> Generator[simpy.Event, Any, None]:
        p = self.params
        interval = p.observe_interval_ns if p.policy == "push" else p.cadence_ns
        while True:
            self._round()
            yield self.env.timeout(interval)

    def _round(self) -> None:
        p, s, now = self.params, self.bus.state, self.env.now
        if p.latency_model == "load":  # the margin breaches of the trailing window: the storm's load
            self.breach_history.append((now, s.breaches))
            while self.breach_history[0][0] < now - p.latency_window_ns:
                self.breach_history.popleft()
        live = [
            (i, o)
            for i, o in enumerate(s.observations[self.market])
            if o is not None and now - o.source_ns <= p.source_max_age_ns
        ]
        if not live and not any(s.observations[self.market]):
            return  # nothing has ever been observed: the oracle has not started
        keep = inliers([o.price for _, o in live], p.outlier_cut_ppm)
        used = [(i, o) for (i, o), k in zip(live, keep, strict=True) if k]
        if len(used) < p.min_sources:
            reason = "too_few_sources" if len(live) < p.min_sources else "outliers"
            self.bus.emit(ev.OracleRoundFailed(ts_ns=now, market=self.market, reason=reason, live_sources=len(live)))
            return
        price, confidence = aggregate(
            p.aggregation, [o.price for _, o in used], [o.confidence for _, o in used], [self.sources[i].weight for i, _ in used]
        )
        if price <= 0:
            return
        if p.policy == "push":
            why = publication_reason(
                int(s.published_ticks[self.market]), int(s.published_ns[self.market]), price, now, p.deviation_ppm, p.heartbeat_ns
            )
            if why is None:
                return
            reason = why
        else:
            reason = p.policy
        source_ns = min(o.source_ns for _, o in used)
        self.published_seq = self.bus.emit(
            ev.OraclePricePublished(
                ts_ns=now, causes=tuple(sorted({self.observation_seqs[i] for i, _ in used})), market=self.market,
                price_ticks=price, confidence_ticks=confidence, ts_source_ns=source_ns, sources_used=len(used), reason=reason,
            )
        )  # fmt: skip
        if p.policy != "pull":
            delay = (p.inclusion_delay_ns if p.policy == "push" else 0) + self._latency()
            self.env.process(self._deliver_later(self.published_seq, price, confidence, source_ns, now, delay))

    def _latency(self) -> int:
        p, s = self.params, self.bus.state
        recent = s.breaches - self.breach_history[0][1] if self.breach_history else 0
        return sample_latency_ns(
            self.latency_rng,
            p.latency_model,
            p.latency_ns,
            p.latency_max_ns,
            p.latency_sigma,
            p.latency_per_breach_ns,
            recent,
        )

    # Delivery, pulls, guards ---------------------------------------------------------

    def _deliver_later(
        self, published_seq: int, price: int, confidence: int, source_ns: int, published_ns: int, delay_ns: int
    ) -> Generator[simpy.Event, Any, None]:
        if delay_ns:
            yield self.env.timeout(delay_ns)
        self._deliver(published_seq, price, confidence, source_ns, published_ns)

    def _deliver(self, published_seq: int, price: int, confidence: int, source_ns: int, published_ns: int) -> None:
        s = self.bus.state
        if s.oracle_ticks[self.market] and published_ns < s.oracle_published_ns[self.market]:
            return  # a later publication is already visible: this one is superseded
        delivered = self.bus.emit(
            ev.OraclePriceDelivered(
                ts_ns=self.env.now, causes=(published_seq,), market=self.market, price_ticks=price,
                confidence_ticks=confidence, ts_source_ns=source_ns, ts_published_ns=published_ns,
            )
        )  # fmt: skip
        self.latest.oracle[self.market] = delivered
        if self.params.sets_mark and self._confidence_allows(delivered, price, confidence, source_ns):
            mark = self.bus.emit(
                ev.MarkPriceUpdated(
                    ts_ns=self.env.now, causes=(delivered,), market=self.market, price_ticks=price, index_ticks=price,
                    method="oracle",
                )
            )  # fmt: skip
            self.on_mark(self.market, mark)

    def _confidence_allows(self, delivered: int, price: int, confidence: int, source_ns: int) -> bool:
        cap = self.params.max_confidence_ppm
        if not cap:
            return True
        ratio = confidence * PPM // price
        allowed = ratio <= cap
        self.bus.emit(
            ev.OracleGuardChecked(
                ts_ns=self.env.now, causes=(delivered,), market=self.market, action="mark", account=-1, allowed=allowed,
                reason="ok" if allowed else "confidence", age_ns=self.env.now - source_ns, confidence_ppm=ratio,
                divergence_ppm=0,
            )
        )  # fmt: skip
        return allowed

    def _pulls(self) -> Generator[simpy.Event, Any, None]:
        while True:
            yield self.env.timeout(self.params.pull_interval_ns)
            self.pull()

    def pull(self) -> None:
        """Bring the freshest publication on chain if it is newer than the visible one and fresh enough."""
        s, m, now = self.bus.state, self.market, self.env.now
        published_ns = int(s.published_ns[m])
        if not s.published_ticks[m] or (s.oracle_ticks[m] and published_ns <= s.oracle_published_ns[m]):
            return
        age = now - int(s.published_source_ns[m])
        if age > self.params.max_age_ns:
            self.bus.emit(
                ev.OracleGuardChecked(
                    ts_ns=now, causes=(self.published_seq,), market=m, action="pull", account=-1, allowed=False,
                    reason="stale", age_ns=age, confidence_ppm=0, divergence_ppm=0,
                )
            )  # fmt: skip
            return
        self._deliver(
            self.published_seq,
            int(s.published_ticks[m]),
            int(s.published_confidence_ticks[m]),
            int(s.published_source_ns[m]),
            published_ns,
        )

    def liquidation_allowed(self, account: int, causes: tuple[int, ...]) -> bool:
        """Pull (for pull oracles), then apply the liquidation guards; record the decision when any is set."""
        p, s, m, now = self.params, self.bus.state, self.market, self.env.now
        if p.policy == "pull":
            self.pull()
        if not (p.liquidation_max_age_ns or p.max_divergence_ppm):
            return True
        oracle = int(s.oracle_ticks[m])
        age = now - int(s.oracle_source_ns[m])
        divergence = abs(int(s.mark_ticks[m]) - oracle) * PPM // oracle if oracle else 0
        reason = "ok"
        if p.liquidation_max_age_ns and age > p.liquidation_max_age_ns:
            reason = "stale"
        elif p.max_divergence_ppm and divergence > p.max_divergence_ppm:
            reason = "divergence"
        self.bus.emit(
            ev.OracleGuardChecked(
                ts_ns=now, causes=causes, market=m, action="liquidation", account=account, allowed=reason == "ok",
                reason=reason, age_ns=age, confidence_ppm=0, divergence_ppm=divergence,
            )
        )  # fmt: skip
        return reason == "ok"
