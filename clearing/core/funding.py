"""Funding: premium index, the rate of a period, the share of it paid each interval, exactly zero-sum payments.

One pipeline, each step chosen per venue (`FundingParams`):

    sample    P = [max(0, impact_bid - index) - max(0, index - impact_ask)] / index   ("impact": Binance,
              BitMEX, Hyperliquid, dYdX), or P = (impact mid - index) / index ("impact_mid": Drift's mark
              TWAP less the oracle TWAP); each sample clamped to +/- sample_clamp (dYdX's premium vote clamp)
    average   P̄ = sum(i x P_i) / sum(i), weights 1..n ("weighted": Binance), the plain mean ("mean":
              Hyperliquid, Drift), or the sum over max(n, period samples) ("padded_mean": dYdX pads
              missing samples with zeros)
    rate      F = P̄ + clamp(I - P̄, -c, +c) ("clamped": Binance, BitMEX, Hyperliquid) or F = P̄ + I
              ("added": dYdX's default funding, Drift's oracle/5000 a day), then capped at +/- cap; F is the
              rate of `rate_period` (8 h for Binance, BitMEX, Hyperliquid and dYdX, a day for Drift)
    payment   each `interval` pays F x interval / rate_period (Hyperliquid and dYdX: 1/8 of the 8-hour
              rate every hour; Drift: 1/24 of the day's), on the position's value at the mark (Binance,
              BitMEX) or at the oracle price (Hyperliquid, dYdX, Drift); longs pay when F > 0.

Rates are integers in parts per 10^9 (ppb): 0.01 % = 100,000 ppb.
Sources: docs/references.md [binance-funding], [bitmex-funding], [dydx-v4-funding],
[hyperliquid-funding], [drift-v2-funding].
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from clearing.units import Int64Array, mul_div_ceil

PPB = 1_000_000_000


class FundingParams(NamedTuple):
    """Cadences (ns), impact notional (quote minor units), rates (ppb) and the venue's choices (module docstring).

    rate_period_ns: the period F is the rate of (0: the payment interval). sample_clamp_ppb: 0 for
    none. cap_margin_factor_ppm / sample_clamp_margin_factor_ppm: when set, the cap / sample clamp
    is that factor x (initial - maintenance margin rate) of the market (dYdX), replacing
    `cap_ppb` / `sample_clamp_ppb`. impact_margin_minor: when set, the impact notional is that
    margin over the market's initial margin rate (Binance's 200 USDT), replacing
    `impact_notional_minor`. `for_market` resolves them; a market whose initial margin rate is
    not above its maintenance rate keeps the explicit cap, clamp and impact notional.
    """

    sample_ns: int
    interval_ns: int
    impact_notional_minor: int
    interest_ppb: int
    clamp_ppb: int
    cap_ppb: int
    rate_period_ns: int = 0
    average: str = "weighted"
    interest: str = "clamped"
    premium: str = "impact"
    sample_clamp_ppb: int = 0
    pays_on: str = "mark"
    cap_margin_factor_ppm: int = 0
    sample_clamp_margin_factor_ppm: int = 0
    impact_margin_minor: int = 0

    def for_market(self, initial_ppm: int, maintenance_ppm: int) -> FundingParams:
        """Return these parameters with the market's margin-derived caps and impact notional filled in."""
        spread_ppb = max(0, initial_ppm - maintenance_ppm) * 1000  # ppm -> ppb
        replaced = self._replace(rate_period_ns=self.rate_period_ns or self.interval_ns)
        if spread_ppb <= 0:  # no initial margin above maintenance: the explicit cap, clamp and impact notional
            return replaced
        if self.cap_margin_factor_ppm:
            replaced = replaced._replace(cap_ppb=margin_clamp_ppb(self.cap_margin_factor_ppm, spread_ppb))
        if self.sample_clamp_margin_factor_ppm:
            clamp = margin_clamp_ppb(self.sample_clamp_margin_factor_ppm, spread_ppb)
            replaced = replaced._replace(sample_clamp_ppb=clamp)
        if self.impact_margin_minor:
            replaced = replaced._replace(impact_notional_minor=impact_margin_notional(self.impact_margin_minor, initial_ppm))
        return replaced


def margin_clamp_ppb(factor_ppm: int, margin_spread_ppb: int) -> int:
    """Return factor x (initial - maintenance margin fraction), in ppb: dYdX's funding clamps.

    dYdX v4 clamps the 8-hour rate to funding_rate_clamp_factor (600 %) x (IMF - MMF) and each
    premium vote to premium_vote_clamp_factor (6,000 %) x (IMF - MMF): for Large-Cap (IMF 5 %,
    MMF 3 %) 12 % and 120 %. Source: docs/references.md [dydx-v4-funding].
    """
    return factor_ppm * margin_spread_ppb // 1_000_000


def impact_margin_notional(margin_minor: int, initial_ppm: int) -> int:
    """Return Binance's impact margin notional: the impact margin (200 USDT) over the initial margin rate at maximum
    leverage, e.g. 200 / 5 % = 4,000 USDT at 20x. Source: docs/references.md [binance-funding]."""
    if initial_ppm <= 0:
        raise ValueError(f"expected a positive initial margin rate for the impact margin notional, was {initial_ppm} ppm")
    return margin_minor * 1_000_000 // initial_ppm


def premium_ppb(impact_bid_ticks: int, impact_ask_ticks: int, index_ticks: int) -> int:
    """Return the premium index in ppb, truncated toward zero.

    A side with no impact price (0: the book is too thin) contributes nothing.
    """
    if index_ticks <= 0:
        raise ValueError(f"expected a positive index, was {index_ticks}")
    up = max(0, impact_bid_ticks - index_ticks) if impact_bid_ticks else 0
    down = max(0, index_ticks - impact_ask_ticks) if impact_ask_ticks else 0
    numerator = (up - down) * PPB
    return numerator // index_ticks if numerator >= 0 else -((-numerator) // index_ticks)


def mid_premium_ppb(impact_bid_ticks: int, impact_ask_ticks: int, index_ticks: int) -> int:
    """Return (impact mid - index) / index in ppb, truncated toward zero; 0 when a side has no impact price.

    Drift's spread is its mark TWAP less the oracle TWAP: the venue's own price against the
    oracle, here the mid of the impact prices (the book's price for the impact notional).
    """
    if index_ticks <= 0:
        raise ValueError(f"expected a positive index, was {index_ticks}")
    if not impact_bid_ticks or not impact_ask_ticks:
        return 0
    return _toward_zero((impact_bid_ticks + impact_ask_ticks - 2 * index_ticks) * PPB, 2 * index_ticks)


def _toward_zero(numerator: int, denominator: int) -> int:
    return numerator // denominator if numerator >= 0 else -((-numerator) // denominator)


def clamp_ppb(value: int, bound: int) -> int:
    """Return value clamped to +/- bound (no clamp when bound is 0)."""
    return max(-bound, min(bound, value)) if bound else value


def mean_premium_ppb(total: int, count: int, padded_to: int = 0) -> int:
    """Return total / max(count, padded_to), truncated toward zero (0 with no samples).

    dYdX pads the hour's samples with zeros up to the hour's number of sample epochs.
    """
    n = max(count, padded_to)
    return _toward_zero(total, n) if n > 0 else 0


def period_rate_ppb(average_ppb: int, interest_ppb: int, clamp: int, cap: int, interest: str) -> int:
    """Return the rate of the period: P̄ + clamp(I - P̄, -c, c) ("clamped") or P̄ + I ("added"), capped at +/- cap."""
    if interest == "clamped":
        return funding_rate_ppb(average_ppb, interest_ppb, clamp, cap)
    if interest != "added":
        raise ValueError(f"expected interest 'clamped' or 'added', was {interest!r}")
    return max(-cap, min(cap, average_ppb + interest_ppb))


def payment_rate_ppb(rate_ppb: int, interval_ns: int, rate_period_ns: int) -> int:
    """Return the share of a period's rate paid each interval: rate x interval / period, truncated toward zero.

    Hyperliquid pays a 0.95 % 8-hour rate as 0.11875 % every hour; Drift 1/24 of a day's rate.
    """
    return _toward_zero(rate_ppb * interval_ns, rate_period_ns)


def average_premium_ppb(weighted_sum: int, weight: int) -> int:
    """Return sum(i x P_i) / sum(i) truncated toward zero (0 with no samples)."""
    if weight <= 0:
        return 0
    return weighted_sum // weight if weighted_sum >= 0 else -((-weighted_sum) // weight)


def funding_rate_ppb(average_ppb: int, interest_ppb: int, clamp_ppb: int, cap_ppb: int) -> int:
    """Return clamp(P̄ + clamp(I - P̄, -c, c), -cap, cap)."""
    rate = average_ppb + max(-clamp_ppb, min(clamp_ppb, interest_ppb - average_ppb))
    return max(-cap_ppb, min(cap_ppb, rate))


def payments(position_lots: Int64Array, mark_ticks: int, unit_value: int, rate_ppb: int) -> tuple[Int64Array, Int64Array]:
    """Return (accounts, amounts) of one settlement; amounts sum to exactly zero.

    Payers (long when F > 0, short when F < 0) pay ceil(|q| x mark x unit_value x |F|)
    (rounded against them). Receivers share the total paid in proportion to their
    notional: floor shares, then one more minor unit each to the largest remainders (ties
    to the lower account) until the total is handed out. Accounts ascend; payers' amounts
    are negative. Empty when F = 0 or nobody holds a position.
    """
    held = np.flatnonzero(position_lots)
    if rate_ppb == 0 or held.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    lots = position_lots[held]
    value = np.abs(lots) * (mark_ticks * unit_value)
    pays = (lots > 0) if rate_ppb > 0 else (lots < 0)
    paid = mul_div_ceil(value[pays], abs(rate_ppb), PPB)
    total = int(np.sum(paid))
    receivers = value[~pays].tolist()
    pool = sum(receivers)
    if pool == 0:
        raise ValueError("funding has payers but no receivers: long and short lots must match")
    shares = [total * v // pool for v in receivers]
    remainders = [total * v % pool for v in receivers]
    left = total - sum(shares)
    for i in sorted(range(len(receivers)), key=lambda i: -remainders[i])[:left]:
        shares[i] += 1
    amounts = np.zeros(held.size, np.int64)
    amounts[pays] = -paid
    amounts[~pays] = np.asarray(shares, dtype=np.int64)
    return held.astype(np.int64), amounts
