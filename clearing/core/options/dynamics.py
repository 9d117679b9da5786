"""Synthetic implied-vol dynamics: an ATM vol level driven by the underlying's path (leverage effect).

Pure and deterministic: prices come in as int64 ticks, noise (if any) from a generator passed in;
no clock, no I/O. The level becomes a `VolSurface` through `surface_from_level` (fixed skew and
term slope). The recursion runs over Python floats with `math.log`, so a path does not depend
on which vector instructions a machine has. Model and parameters: docs/volatility-surface.md.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from clearing.core.options.surface import NS_PER_YEAR, VOL_FLOOR_PPM, VolSurface, level_skew_surface
from clearing.units import PPM, Float64Array, Int64Array

VOL_CAP_PPM = 5_000_000  # 500 % vol: the default cap of the synthetic level


@dataclass(frozen=True, slots=True)
class LeverageEffect:
    """Parameters of the synthetic ATM vol level.

    `base_vol_ppm`: the level it reverts to. `half_life_ns`: time for a deviation from the base
    to halve with no price move; the reversion speed is kappa = ln 2 / half-life
    (`kappa_per_year`). `beta_down` >= 0: vol added per unit of -log return on a fall (1.5: a
    10 % fall, log return -0.105, adds 0.158 = 15.8 vol points). `beta_up`: vol removed per
    unit of log return on a rise (0: rises do nothing; > 0: the symmetric leverage effect;
    < 0: rises raise vol too). `floor_ppm` <= base <= `cap_ppm` bound the level.
    `vol_of_vol` >= 0: Gaussian noise of that size per sqrt(year) (absolute vol); needs a
    generator when > 0. Source: docs/references.md [bouchaud-leverage-2001].

    Raises:
        ValueError: a parameter out of range; the message names it.
    """

    base_vol_ppm: int
    half_life_ns: int
    beta_down: float
    beta_up: float = 0.0
    floor_ppm: int = VOL_FLOOR_PPM
    cap_ppm: int = VOL_CAP_PPM
    vol_of_vol: float = 0.0

    def __post_init__(self) -> None:
        if self.half_life_ns <= 0:
            raise ValueError(f"LeverageEffect.half_life_ns: expected > 0, was {self.half_life_ns}")
        if self.floor_ppm <= 0:
            raise ValueError(f"LeverageEffect.floor_ppm: expected > 0, was {self.floor_ppm}")
        if self.cap_ppm < self.floor_ppm:
            raise ValueError(f"LeverageEffect.cap_ppm: expected >= floor_ppm {self.floor_ppm}, was {self.cap_ppm}")
        if not self.floor_ppm <= self.base_vol_ppm <= self.cap_ppm:
            raise ValueError(
                f"LeverageEffect.base_vol_ppm: expected within [{self.floor_ppm}, {self.cap_ppm}], was {self.base_vol_ppm}"
            )
        if not (math.isfinite(self.beta_down) and self.beta_down >= 0):
            raise ValueError(f"LeverageEffect.beta_down: expected finite and >= 0, was {self.beta_down}")
        if not math.isfinite(self.beta_up):
            raise ValueError(f"LeverageEffect.beta_up: expected finite, was {self.beta_up}")
        if not (math.isfinite(self.vol_of_vol) and self.vol_of_vol >= 0):
            raise ValueError(f"LeverageEffect.vol_of_vol: expected finite and >= 0, was {self.vol_of_vol}")

    @property
    def kappa_per_year(self) -> float:
        """Mean-reversion speed kappa = ln 2 / half-life, per year (365 days)."""
        return math.log(2) * NS_PER_YEAR / self.half_life_ns


def atm_vol_path(
    prices_ticks: Int64Array,
    step_ns: int,
    params: LeverageEffect,
    initial_vol_ppm: int | None = None,
    rng: np.random.Generator | None = None,
) -> Int64Array:
    """Return the ATM vol level in ppm at each step of a price path, shape (n,) int64.

    s_0 = clip(initial_vol_ppm, floor, cap) (default the base); for i >= 1, with
    r_i = ln P_i - ln P_{i-1}, d = 2^(-step_ns / half_life_ns) = exp(-kappa dt) and
    dt = step_ns / NS_PER_YEAR:
    s_i = clip(base + (s_{i-1} - base) d - beta_i r_i 10^6 + vol_of_vol sqrt(dt) Z_i 10^6, floor, cap),
    beta_i = beta_down if r_i < 0 else beta_up, Z_i standard normal from `rng` (n - 1 draws,
    only when vol_of_vol > 0). s is carried unrounded in float64 (as its deviation from the
    base); each output is rounded to the nearest ppm, ties to even. O(n): one loop over the
    steps, math.log once per distinct price.

    Raises:
        ValueError: prices not a non-empty 1-D array of ticks > 0, step_ns <= 0, or
            vol_of_vol > 0 without an rng.
    """
    prices = np.asarray(prices_ticks)
    if prices.ndim != 1 or len(prices) == 0 or not np.issubdtype(prices.dtype, np.integer) or (prices <= 0).any():
        raise ValueError("expected prices_ticks a non-empty 1-D integer array of ticks > 0")
    if step_ns <= 0:
        raise ValueError(f"expected step_ns > 0, was {step_ns}")
    n = len(prices)
    shocks = _jumps_ppm(prices, params)
    if params.vol_of_vol > 0:
        if rng is None:
            raise ValueError("expected an rng (np.random.Generator) when vol_of_vol > 0, was None")
        shocks += params.vol_of_vol * math.sqrt(step_ns / NS_PER_YEAR) * PPM * rng.standard_normal(n - 1)
    base = float(params.base_vol_ppm)
    low, high = params.floor_ppm - base, params.cap_ppm - base
    decay = 2.0 ** (-step_ns / params.half_life_ns)
    # The deviation x = s - base, so the step is one multiply-add and a clamp.
    x = min(max(float(params.base_vol_ppm if initial_vol_ppm is None else initial_vol_ppm) - base, low), high)
    deviations = [x]
    append = deviations.append
    for shock in shocks.tolist():
        x = x * decay + shock
        if x < low:
            x = low
        elif x > high:
            x = high
        append(x)
    return np.rint(np.array(deviations) + base).astype(np.int64)


def _jumps_ppm(prices: Int64Array, params: LeverageEffect) -> Float64Array:
    # -beta r 10^6 per step, r = ln P_i - ln P_{i-1}: math.log (libm, not numpy's vector kernels) of
    # each distinct price only; a tick path repeats its prices a lot.
    levels, index = np.unique(prices, return_inverse=True)
    logs = np.array(list(map(math.log, levels.tolist())))[index.ravel()]
    r = np.diff(logs)
    return np.where(r < 0, -params.beta_down * PPM * r, -params.beta_up * PPM * r)


def surface_from_level(
    level_ppm: int,
    expiries_ns: Sequence[int],
    log_moneyness_ppm: Sequence[int],
    skew_ppm: int,
    term_slope_ppm_per_year: int,
    floor_ppm: int = VOL_FLOOR_PPM,
) -> VolSurface:
    """Return the surface with ATM level `level_ppm` at the first expiry, a term slope and one skew.

    level_j = level_ppm + round(term_slope_ppm_per_year x (E_j - E_0) / NS_PER_YEAR) (nearest,
    ties up, exact integers; a negative slope is an inverted term structure, as after a crash);
    then `level_skew_surface(expiries_ns, level_j, skew_ppm for every j, log_moneyness_ppm,
    floor_ppm)`. A steeply inverted slope can put calendar arbitrage on the surface: pass it
    through `without_calendar_arbitrage` with the time it is used at.

    Raises:
        ValueError: as `level_skew_surface` and `VolSurface`.
    """
    if not expiries_ns:
        raise ValueError("expected at least one expiry, was none")
    first = int(expiries_ns[0])
    levels = [
        level_ppm + (2 * term_slope_ppm_per_year * (int(e) - first) + NS_PER_YEAR) // (2 * NS_PER_YEAR) for e in expiries_ns
    ]
    return level_skew_surface(expiries_ns, levels, [skew_ppm] * len(levels), log_moneyness_ppm, floor_ppm)
