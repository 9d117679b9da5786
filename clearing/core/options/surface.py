"""The implied-volatility surface as integer state: its grid, interpolation and calendar arbitrage.

A `VolSurface` holds whole numbers only (ns, ppm), so it can travel in an event and enter a
state digest; `implied_vol` turns it into float64 vols for pricing. Pure numpy: no clock (the
caller passes `now_ns`), no I/O, no randomness. How the surface moves is `dynamics`' business,
where it comes from `clearing.data.option_chain`'s. Method and argument: docs/volatility-surface.md.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from clearing.units import INT64_MAX, NS_PER_S, PPM, SECONDS_PER_YEAR, Float64Array

NS_PER_YEAR = SECONDS_PER_YEAR * NS_PER_S  # ACT/365 counted in ns, as the venues count to the second
VOL_FLOOR_PPM = 10_000  # 1 % vol: the default floor of a parametrised smile


def _int_tuple(name: str, value: object) -> tuple[int, ...]:
    # A tuple of plain ints in int64 range: what an event payload and a digest accept.
    if not isinstance(value, tuple):
        raise ValueError(f"VolSurface.{name}: expected a tuple of ints, was {type(value).__name__}")
    for x in value:
        if type(x) is not int:
            raise ValueError(f"VolSurface.{name}: expected ints, was {x!r} ({type(x).__name__})")
        if not -INT64_MAX - 1 <= x <= INT64_MAX:
            raise ValueError(f"VolSurface.{name}: expected values within int64, was {x}")
    return value


def _strictly_increasing(name: str, values: tuple[int, ...]) -> None:
    if not values:
        raise ValueError(f"VolSurface.{name}: expected at least one value, was empty")
    for before, after in itertools.pairwise(values):
        if after <= before:
            raise ValueError(f"VolSurface.{name}: expected strictly increasing values, was {before} then {after}")


@dataclass(frozen=True, slots=True)
class VolSurface:
    """Implied vol on a grid of expiries x log-moneyness, in integers.

    `expiries_ns` (E,) absolute UTC ns, strictly increasing. `log_moneyness_ppm` (K,) the grid of
    k = ln(K / F) x 10^6, strictly increasing, shared by every expiry. `vol_ppm` (E, K) implied
    vol x 10^6 (500_000 = 50 %), every value > 0. Immutable, hashable and equal by value.

    Raises:
        ValueError: a field is not a tuple of ints within int64, not strictly increasing, of the
            wrong shape, or a vol <= 0; the one-line message names the field.
    """

    expiries_ns: tuple[int, ...]
    log_moneyness_ppm: tuple[int, ...]
    vol_ppm: tuple[tuple[int, ...], ...]

    def __post_init__(self) -> None:
        _strictly_increasing("expiries_ns", _int_tuple("expiries_ns", self.expiries_ns))
        _strictly_increasing("log_moneyness_ppm", _int_tuple("log_moneyness_ppm", self.log_moneyness_ppm))
        if not isinstance(self.vol_ppm, tuple) or len(self.vol_ppm) != len(self.expiries_ns):
            raise ValueError(f"VolSurface.vol_ppm: expected a tuple of {len(self.expiries_ns)} rows (one per expiry)")
        for j, row in enumerate(self.vol_ppm):
            _int_tuple(f"vol_ppm[{j}]", row)
            if len(row) != len(self.log_moneyness_ppm):
                raise ValueError(f"VolSurface.vol_ppm[{j}]: expected {len(self.log_moneyness_ppm)} vols, was {len(row)}")
            if min(row) <= 0:
                raise ValueError(f"VolSurface.vol_ppm[{j}]: expected every vol > 0, was {min(row)}")


def _time_to_expiries_ns(surface: VolSurface, now_ns: int) -> list[int]:
    if now_ns >= surface.expiries_ns[0]:
        raise ValueError(f"expected now_ns before the surface's first expiry {surface.expiries_ns[0]}, was {now_ns}")
    return [e - now_ns for e in surface.expiries_ns]


def implied_vol_at_moneyness(
    surface: VolSurface, now_ns: int, expiry_ns: npt.ArrayLike, log_moneyness: npt.ArrayLike
) -> Float64Array:
    """Return the implied vol (fraction, float64) of options at log-moneyness k = ln(K / F).

    In k, at each grid expiry j: sigma_j(k) linear between grid points, flat (the edge value)
    beyond either wing. In time, at fixed k, with T = (expiry - now) / NS_PER_YEAR and
    w_j = sigma_j(k)^2 T_j: T <= T_0 gives sigma_0(k) (flat vol; w = sigma_0^2 T runs linearly
    from 0 to w_0); T_j < T < T_{j+1} gives w = w_j + (w_{j+1} - w_j)(T - T_j)/(T_{j+1} - T_j)
    and sigma = sqrt(w / T); T >= T_last gives sigma_last(k) (flat vol). A point on the grid
    returns the grid value exactly. Shapes broadcast; the result has the broadcast shape.

    Raises:
        ValueError: now_ns is not before the surface's first expiry, an option's expiry_ns is
            not after now_ns, or k is not finite.
    """
    taus_ns = _time_to_expiries_ns(surface, now_ns)
    expiry, k = np.broadcast_arrays(np.asarray(expiry_ns, dtype=np.int64), np.asarray(log_moneyness, dtype=np.float64))
    tau = expiry - np.int64(now_ns)
    if (tau <= 0).any():
        raise ValueError(f"expected every expiry_ns after now_ns {now_ns}, was {int(expiry[tau <= 0].flat[0])}")
    if not np.isfinite(k).all():
        raise ValueError("expected finite log-moneyness (strike and forward > 0)")
    grid = np.asarray(surface.log_moneyness_ppm, dtype=np.float64) / PPM
    vols = np.asarray(surface.vol_ppm, dtype=np.float64) / PPM
    flat_k = k.ravel()
    sigma = np.stack([np.interp(flat_k, grid, row) for row in vols])  # (E, n): each expiry's smile at k
    node_tau = np.asarray(taus_ns, dtype=np.int64)
    flat_tau = tau.ravel()
    after = np.searchsorted(node_tau, flat_tau, side="right")  # nodes at or before each option's expiry
    lo = np.clip(after - 1, 0, len(node_tau) - 1)
    hi = np.clip(after, 0, len(node_tau) - 1)
    columns = np.arange(len(flat_k))
    sigma_lo, sigma_hi = sigma[lo, columns], sigma[hi, columns]
    inside = (after > 0) & (after < len(node_tau))
    span = np.where(inside, node_tau[hi] - node_tau[lo], 1)
    theta = np.where(inside, (flat_tau - node_tau[lo]) / span, 0.0)
    w_lo = sigma_lo**2 * (node_tau[lo] / NS_PER_YEAR)
    w_hi = sigma_hi**2 * (node_tau[hi] / NS_PER_YEAR)
    w = w_lo + (w_hi - w_lo) * theta
    between = np.sqrt(np.maximum(w, 0.0) / (flat_tau / NS_PER_YEAR))
    # Before the first node lo = hi = 0, at or after the last lo = hi = E - 1, on a node theta = 0:
    # each is the node's own smile, exactly.
    return np.where(theta > 0.0, between, sigma_lo).reshape(k.shape)


def implied_vol(
    surface: VolSurface, now_ns: int, expiry_ns: npt.ArrayLike, forward: npt.ArrayLike, strike: npt.ArrayLike
) -> Float64Array:
    """Return the implied vol of options from their forward and strike: k = ln(strike / forward).

    `forward` and `strike` in the same unit (ticks or currency; only the ratio matters), > 0.
    Interpolation as in `implied_vol_at_moneyness`; shapes broadcast.

    Raises:
        ValueError: a forward or strike <= 0 or not finite, or as `implied_vol_at_moneyness`.
    """
    f, kk = np.broadcast_arrays(np.asarray(forward, dtype=np.float64), np.asarray(strike, dtype=np.float64))
    if not (np.isfinite(f).all() and np.isfinite(kk).all() and (f > 0).all() and (kk > 0).all()):
        raise ValueError("expected every forward and strike finite and > 0")
    return implied_vol_at_moneyness(surface, now_ns, expiry_ns, np.log(kk / f))


def total_variance(surface: VolSurface, now_ns: int) -> Float64Array:
    """Return w[j, i] = (vol_ppm[j][i] / 10^6)^2 x (expiries_ns[j] - now_ns) / NS_PER_YEAR, shape (E, K).

    Raises:
        ValueError: now_ns is not before the first expiry.
    """
    taus = np.asarray(_time_to_expiries_ns(surface, now_ns), dtype=np.float64) / NS_PER_YEAR
    return (np.asarray(surface.vol_ppm, dtype=np.float64) / PPM) ** 2 * taus[:, None]


def calendar_arbitrage(surface: VolSurface, now_ns: int) -> tuple[tuple[int, int], ...]:
    """Return the (expiry_ns, log_moneyness_ppm) grid points where total variance falls with expiry.

    A point (j, i), j >= 1, is listed when vol_ppm[j][i]^2 (E_j - now) < vol_ppm[j-1][i]^2
    (E_{j-1} - now), compared exactly in integers. Checking the grid is enough: sqrt(w) =
    sigma sqrt(T) is linear in k between grid points at every expiry, so two smiles ordered at
    both ends of an interval are ordered inside it, and `implied_vol` is linear in w between
    expiries. Empty when the surface is free of calendar arbitrage at now_ns (it then stays free
    at any later now_ns before the first expiry: docs/volatility-surface.md).

    Raises:
        ValueError: now_ns is not before the first expiry.
    """
    taus = _time_to_expiries_ns(surface, now_ns)
    bad = []
    for j in range(1, len(taus)):
        for i, (before, after) in enumerate(zip(surface.vol_ppm[j - 1], surface.vol_ppm[j], strict=True)):
            if after * after * taus[j] < before * before * taus[j - 1]:
                bad.append((surface.expiries_ns[j], surface.log_moneyness_ppm[i]))
    return tuple(bad)


def _smallest_vol_ppm_at_least(variance_num: int, tau_ns: int) -> int:
    # Smallest integer v with v^2 tau >= variance_num: v = ceil(sqrt(ceil(num / tau))).
    q = -(-variance_num // tau_ns)
    v = math.isqrt(q)
    return v if v * v >= q else v + 1


def without_calendar_arbitrage(surface: VolSurface, now_ns: int) -> VolSurface:
    """Return the surface with later expiries' total variance raised to remove calendar arbitrage.

    Expiry by expiry from the second, at each grid k: when vol_ppm[j][i]^2 tau_j <
    v[j-1][i]^2 tau_{j-1} (v the already repaired previous row, tau = E - now in ns), the vol
    becomes the smallest integer ppm v with v^2 tau_j >= v[j-1][i]^2 tau_{j-1}: the earlier
    total variance carried flat to the later expiry, rounded up. Vols only rise; the first
    expiry never changes; a free surface comes back equal.

    Raises:
        ValueError: now_ns is not before the first expiry.
    """
    taus = _time_to_expiries_ns(surface, now_ns)
    rows = [surface.vol_ppm[0]]
    for j in range(1, len(taus)):
        row = []
        for before, v in zip(rows[-1], surface.vol_ppm[j], strict=True):
            needed = before * before * taus[j - 1]
            row.append(v if v * v * taus[j] >= needed else _smallest_vol_ppm_at_least(needed, taus[j]))
        rows.append(tuple(row))
    return VolSurface(surface.expiries_ns, surface.log_moneyness_ppm, tuple(rows))


def level_skew_surface(
    expiries_ns: Sequence[int],
    levels_ppm: Sequence[int],
    skews_ppm: Sequence[int],
    log_moneyness_ppm: Sequence[int],
    floor_ppm: int = VOL_FLOOR_PPM,
) -> VolSurface:
    """Return the surface whose smile at expiry j is sigma_j(k) = level_j + skew_j x k, floored.

    In integers: vol_ppm[j][i] = max(floor_ppm, round(levels_ppm[j] + skews_ppm[j] x
    log_moneyness_ppm[i] / 10^6)), rounded to the nearest ppm with ties up (exact integer
    arithmetic). skew is vol per unit of log-moneyness (-250_000 = vol falls 0.25 per unit k).

    Raises:
        ValueError: the three per-expiry sequences differ in length, floor_ppm <= 0, or the
            result is not a valid VolSurface.
    """
    if not len(expiries_ns) == len(levels_ppm) == len(skews_ppm):
        raise ValueError(
            f"expected one level and one skew per expiry, was {len(expiries_ns)} expiries, "
            f"{len(levels_ppm)} levels_ppm, {len(skews_ppm)} skews_ppm"
        )
    if floor_ppm <= 0:
        raise ValueError(f"expected floor_ppm > 0, was {floor_ppm}")
    grid = tuple(int(k) for k in log_moneyness_ppm)
    rows = tuple(
        tuple(max(floor_ppm, (int(level) * PPM + int(skew) * k + PPM // 2) // PPM) for k in grid)
        for level, skew in zip(levels_ppm, skews_ppm, strict=True)
    )
    return VolSurface(tuple(int(e) for e in expiries_ns), grid, rows)


def moneyness_grid_ppm(lowest_ppm: int, highest_ppm: int, step_ppm: int) -> tuple[int, ...]:
    """Return the grid lowest, lowest + step, ..., highest (inclusive) of log-moneyness in ppm.

    Raises:
        ValueError: step_ppm <= 0 or highest - lowest is not a positive multiple of step_ppm.
    """
    span = highest_ppm - lowest_ppm
    if step_ppm <= 0 or span <= 0 or span % step_ppm:
        raise ValueError(
            f"expected highest - lowest a positive multiple of step > 0; was {lowest_ppm}, {highest_ppm}, {step_ppm}"
        )
    return tuple(range(lowest_ppm, highest_ppm + 1, step_ppm))
