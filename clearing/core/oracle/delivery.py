"""Delivery: how long a publication takes to become visible, and which deliveries still land.

The delay is the policy's inclusion delay plus one latency drawn by the latency model, one
`LatencySampler` per `LatencyModel`, looked up by `latency_sampler`:

- fixed: the base latency;
- uniform: U[base, max] (one draw);
- lognormal: base x exp(sigma Z), base the median (one draw);
- load: base + per_breach x the margin breaches of the trailing window (`BreachWindow`),
  the congestion of a liquidation storm, as gas was on 2020-03-12.
Draws come from the oracle's own generator, one per delivered publication, in publication
order. A delivery whose publication is older than the visible one is superseded; a pull
brings only a publication newer than the visible one.
Source: docs/references.md [makerdao-black-thursday] (load).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping

import numpy as np

from clearing.core.oracle.params import LatencyModel, OracleParams
from clearing.core.oracle.publication import PublicationPolicy

LATENCY_MODELS = tuple(m.value for m in LatencyModel)


class LatencySampler:
    """One latency model: a delivery latency from the generator and the model's parameters.

    Stateless; one instance per `LatencyModel` in `LATENCY_SAMPLERS` (a base class, so that
    the compiled build dispatches natively).
    """

    @property
    def reads_breaches(self) -> bool:
        """Whether the model needs the trailing window of margin breaches."""
        return False

    def sample_ns(
        self, rng: np.random.Generator, base_ns: int, max_ns: int, sigma: float, per_event_ns: int, recent_events: int
    ) -> int:
        """Return one latency, ns."""
        raise NotImplementedError


class FixedLatency(LatencySampler):
    """The base latency; no draw."""

    def sample_ns(
        self, rng: np.random.Generator, base_ns: int, max_ns: int, sigma: float, per_event_ns: int, recent_events: int
    ) -> int:
        """Return base_ns."""
        return base_ns


class UniformLatency(LatencySampler):
    """U[base, max]: one draw."""

    def sample_ns(
        self, rng: np.random.Generator, base_ns: int, max_ns: int, sigma: float, per_event_ns: int, recent_events: int
    ) -> int:
        """Return floor(base + U x (max - base)), U = rng.random() on [0, 1)."""
        return int(base_ns + rng.random() * (max_ns - base_ns))


class LognormalLatency(LatencySampler):
    """base x exp(sigma Z), base the median: one draw."""

    def sample_ns(
        self, rng: np.random.Generator, base_ns: int, max_ns: int, sigma: float, per_event_ns: int, recent_events: int
    ) -> int:
        """Return round(base x exp(sigma x Z)), Z = rng.standard_normal()."""
        return round(base_ns * math.exp(sigma * float(rng.standard_normal())))


class LoadLatency(LatencySampler):
    """base + per_breach x the breaches of the trailing window; no draw."""

    @property
    def reads_breaches(self) -> bool:
        """Return True: the latency grows with the recent breaches."""
        return True

    def sample_ns(
        self, rng: np.random.Generator, base_ns: int, max_ns: int, sigma: float, per_event_ns: int, recent_events: int
    ) -> int:
        """Return base + per_event x recent_events."""
        return base_ns + per_event_ns * recent_events


LATENCY_SAMPLERS: Mapping[LatencyModel, LatencySampler] = {
    LatencyModel.FIXED: FixedLatency(),
    LatencyModel.UNIFORM: UniformLatency(),
    LatencyModel.LOGNORMAL: LognormalLatency(),
    LatencyModel.LOAD: LoadLatency(),
}


def latency_sampler(model: LatencyModel) -> LatencySampler:
    """Return the sampler of `model` (a member, or its name)."""
    try:
        return LATENCY_SAMPLERS[model]
    except KeyError as e:
        raise ValueError(f"expected a latency model in {LATENCY_MODELS}, was {model!r}") from e


def sample_latency_ns(
    rng: np.random.Generator,
    model: LatencyModel,
    base_ns: int,
    max_ns: int = 0,
    sigma: float = 0.0,
    per_event_ns: int = 0,
    recent_events: int = 0,
) -> int:
    """Return one delivery latency in ns by `model` (see the module's list)."""
    return latency_sampler(model).sample_ns(rng, base_ns, max_ns, sigma, per_event_ns, recent_events)


def reads_breaches(model: LatencyModel) -> bool:
    """Return whether `model` needs the trailing window of margin breaches (the load model)."""
    return LATENCY_SAMPLERS[model].reads_breaches


def delivery_delay_ns(policy: PublicationPolicy, params: OracleParams, rng: np.random.Generator, recent_breaches: int) -> int:
    """Return the time from a publication to its delivery: inclusion delay + one latency, ns."""
    return policy.inclusion_delay_ns(params) + LATENCY_SAMPLERS[params.latency_model].sample_ns(
        rng, params.latency_ns, params.latency_max_ns, params.latency_sigma, params.latency_per_breach_ns, recent_breaches
    )


class BreachWindow:
    """The load model's trailing window: the margin breach count sampled at each round.

    `record` keeps the samples no older than the window (a sample at t is dropped once
    t < now - window); `recent` is the breaches since the oldest sample kept (0 before any).
    """

    __slots__ = ("samples",)

    def __init__(self) -> None:
        self.samples: deque[tuple[int, int]] = deque()  # (time ns, breaches so far)

    def record(self, now_ns: int, breaches: int, window_ns: int) -> None:
        """Add the count at now and drop the samples older than the window."""
        samples = self.samples
        samples.append((now_ns, breaches))
        while samples[0][0] < now_ns - window_ns:
            samples.popleft()

    def recent(self, breaches: int) -> int:
        """Return the breaches since the oldest sample in the window (`breaches` is the count now)."""
        return breaches - self.samples[0][1] if self.samples else 0


def is_superseded(visible_ticks: int, visible_published_ns: int, published_ns: int) -> bool:
    """Return whether a publication made at `published_ns` is older than the visible price's."""
    return bool(visible_ticks) and published_ns < visible_published_ns


def has_newer_publication(published_ticks: int, published_ns: int, visible_ticks: int, visible_published_ns: int) -> bool:
    """Return whether the last publication is newer than the visible price (or nothing is visible yet)."""
    return bool(published_ticks) and not (visible_ticks and published_ns <= visible_published_ns)
