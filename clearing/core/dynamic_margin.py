"""Dynamic margin: maintenance rates that rise with realised volatility and open interest, within limits.

Off by default (`[dynamic_margin]`). Each interval a market's rates become its listed
bracket rates times a multiplier m:

    target = clamp(max(1, sigma / sigma_ref) x (1 + beta x max(0, OI / OI_ref - 1)), floor, cap)
    m      = clamp(target, m_prev x (1 - max_fall), m_prev x (1 + max_rise))

sigma is the EWMA volatility of the market's mark (`ewma_update`, annualised), sigma_ref the
volatility the listed rates were set for, OI the open interest's notional and OI_ref the
level above which concentration adds margin. The step limits are the anti-procyclicality
(EMIR RTS 153/2013 Art. 28: margins that cannot jump in a stress nor fall straight back);
the volatility scaling is what Vega's log-normal risk model does continuously (its risk
factor grows with sigma) and CCPs do with EWMA-filtered scenarios. The scaled rates are
rounded up to the step that keeps every bracket's maintenance amount whole (`scaled_rates`).
Sources: docs/references.md [vega-risk-model], [emir-153-2013], [riskmetrics-1996].
"""

from __future__ import annotations

import math
from typing import NamedTuple

PPM = 1_000_000


class DynamicParams(NamedTuple):
    """The rule's parameters: a reference volatility (annualised), EWMA half-life, OI reference and limits."""

    interval_ns: int
    halflife_ns: int
    reference_vol: float
    oi_reference_minor: int  # 0: open interest does not matter
    oi_sensitivity: float
    floor: float
    cap: float
    max_rise: float  # per interval, a fraction of the current multiplier
    max_fall: float


def ewma_update(variance: float, log_return: float, dt_ns: int, halflife_ns: int) -> float:
    """Return the EWMA of the squared return per ns after a return over `dt_ns`: weight 1 - 2^(-dt / halflife) on the new one."""
    if dt_ns <= 0:
        return variance
    weight = 1.0 - 0.5 ** (dt_ns / halflife_ns)
    return (1.0 - weight) * variance + weight * (log_return * log_return) / dt_ns


def annualised(variance_per_ns: float) -> float:
    """Return the volatility per sqrt(year) (ACT/365) of a variance per ns."""
    return math.sqrt(max(variance_per_ns, 0.0) * 365 * 86_400 * 10**9)


def next_multiplier_ppm(current_ppm: int, vol: float, oi_minor: int, params: DynamicParams) -> int:
    """Return the next multiplier in ppm: the target clamped to [floor, cap], then to the step limits around the current.

    Rounded to the nearest ppm; never below `floor`.
    """
    target = max(1.0, vol / params.reference_vol) if params.reference_vol > 0 else 1.0
    if params.oi_reference_minor > 0:
        target *= 1.0 + params.oi_sensitivity * max(0.0, oi_minor / params.oi_reference_minor - 1.0)
    target = min(max(target, params.floor), params.cap)
    current = current_ppm / PPM
    limited = min(max(target, current * (1.0 - params.max_fall)), current * (1.0 + params.max_rise))
    return max(round(limited * PPM), round(params.floor * PPM))


def rate_step(floors_minor: tuple[int, ...]) -> int:
    """Return the least ppm step q for which floor x q / 10^6 is whole for every floor: 10^6 / gcd(10^6, gcd(floors))."""
    common = 0
    for f in floors_minor:
        common = math.gcd(common, int(f))
    return PPM // math.gcd(PPM, common) if common else 1


def scaled_rates(floors_minor: tuple[int, ...], rates_ppm: tuple[int, ...], multiplier_ppm: int) -> tuple[int, ...]:
    """Return the bracket rates times the multiplier, each rounded up to the step that keeps the brackets whole.

    The step q is the least number of ppm for which every floor x q / 10^6 is a whole number of
    minor units (1 for a single bracket), so `clearing.core.margin.bracket_cums` accepts the
    scaled table; rounding up keeps the rates not decreasing. A rate never reaches 100 %.
    """
    step = rate_step(floors_minor)
    out = []
    for rate in rates_ppm:
        scaled = -(-rate * multiplier_ppm // PPM)
        rounded = -(-scaled // step) * step
        out.append(min(rounded, (PPM - 1) // step * step))
    return tuple(out)
