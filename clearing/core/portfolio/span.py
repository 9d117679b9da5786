"""SPAN risk arrays with the volatility leg: options revalued under CME's 16 scenarios.

A risk array is a position's profit and loss (gain positive, quote) under each of the 16
scenarios of `SCENARIOS`: the underlying moves by 0, +-1/3, +-2/3, +-3/3 of the price scan
range (PSR), each with the volatility up and down by the volatility scan range (VSR,
absolute vol points), and +-`extreme_multiple` PSR with no volatility change at the cover
fraction (35 %). A future's array is linear in the move; an option is revalued with Black-76
(`clearing.core.options.pricing.black76_price`) at each scenario's price and volatility, so
the volatility leg moves it. Per underlying, the scanning risk is the worst weighted loss of
the summed arrays; the intra-commodity spread charge is charged on the delta matched across
expiry tiers (the arrays assume perfect correlation between expiries); the short option
minimum is a floor per short option. Sources: docs/references.md [cme-span],
[span-scenario-table], [mcmillan-span], [cme-span-intra], [cme-span-som].
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from clearing.core.options.pricing import black76_price

Float64Array = npt.NDArray[np.float64]


class Scenarios(NamedTuple):
    """The 16 scenarios: price move in units of PSR, volatility direction (+1 up, -1 down, 0 none), weight."""

    moves: Float64Array
    vol: Float64Array
    weights: Float64Array


def scenarios(extreme_multiple: float = 2.0, cover: float = 0.35) -> Scenarios:
    """Return CME's 16 scenarios in their fixed order.

    1-14: price 0, +1/3, -1/3, +2/3, -2/3, +3/3, -3/3 of the PSR, each with volatility up
    then down, weight 1; 15-16: +-`extreme_multiple` x PSR, no volatility change, weight
    `cover` (CME's classic 35 %; McMillan's example uses 2 x PSR).

    Raises:
        ValueError: a multiple below 1 or a cover outside [0, 1].
    """
    if extreme_multiple < 1 or not 0 <= cover <= 1:
        raise ValueError(f"expected an extreme multiple >= 1 and a cover in [0, 1], was {extreme_multiple}, {cover}")
    moves = [m / 3 for m in (0, 1, -1, 2, -2, 3, -3) for _ in (1, -1)] + [extreme_multiple, -extreme_multiple]
    vol = [v for _ in range(7) for v in (1.0, -1.0)] + [0.0, 0.0]
    return Scenarios(np.array(moves), np.array(vol), np.array([1.0] * 14 + [cover] * 2))


def future_arrays(size: npt.ArrayLike, price_scan: float, table: Scenarios) -> Float64Array:
    """Return the weighted risk arrays of futures (or perpetuals), shape (L, 16), quote.

    `size` (L,): each leg's signed quantity times its quote value per unit of price
    (lots x contract multiplier); `price_scan`: the PSR in price units. P/L = size x move x
    PSR x weight.
    """
    size = np.atleast_1d(np.asarray(size, np.float64))
    return size[:, None] * (table.moves * price_scan * table.weights)[None, :]  # type: ignore[no-any-return]


def option_arrays(
    size: npt.ArrayLike, price: float, strike: npt.ArrayLike, is_call: npt.ArrayLike, vol: npt.ArrayLike,
    tau_ns: npt.ArrayLike, price_scan: float, vol_scan: float, table: Scenarios,
) -> Float64Array:  # fmt: skip
    """Return the weighted risk arrays of options by full revaluation, shape (L, 16), quote.

    Each leg (L,): `size` signed quantity x multiplier, `strike`, `is_call`, implied `vol`
    and time to expiry `tau_ns` (held over the look-ahead, as the classic arrays do). In
    scenario s the underlying is `price` + move_s x PSR and the volatility
    max(vol + vol_s x VSR, 0); P/L = size x (Black-76 there - Black-76 now) x weight_s.
    """
    size = np.atleast_1d(np.asarray(size, np.float64))
    strike, is_call, vol, tau_ns = (np.atleast_1d(np.asarray(a)) for a in (strike, is_call, vol, tau_ns))
    now = black76_price(price, strike, vol, tau_ns, is_call)
    shifted = np.maximum(price + table.moves[None, :] * price_scan, 1e-12)
    sigma = np.maximum(vol[:, None] + table.vol[None, :] * vol_scan, 0.0)
    later = black76_price(shifted, strike[:, None], sigma, tau_ns[:, None], is_call[:, None])
    return size[:, None] * (later - now[:, None]) * table.weights[None, :]  # type: ignore[no-any-return]


def scanning_risk(arrays: Float64Array) -> float:
    """Return the worst loss of the summed weighted arrays (L, 16): max(0, max_s -sum_l P/L_l(s)), quote."""
    total = np.asarray(arrays, np.float64).sum(axis=0)
    return float(max(0.0, -total.min()))


def intra_spread_charge(tier_deltas: npt.ArrayLike, rate: float) -> float:
    """Return the intra-commodity (calendar) spread charge: rate x the delta matched across tiers.

    `tier_deltas`: the net delta of each expiry tier of one underlying (in the unit `rate`
    is quoted per, e.g. contracts). The scanning risk treats expiries as moving together;
    min(sum of long tier deltas, sum of short ones) of them are spread and charged `rate`
    each (CME's flat-rate method, one tier pair).
    """
    deltas = np.asarray(tier_deltas, np.float64)
    matched = min(float(deltas[deltas > 0].sum()), float(-deltas[deltas < 0].sum()))
    return rate * matched


def short_option_minimum(short_options: float, per_option: float) -> float:
    """Return the short option minimum: `per_option` for each short option (contracts, >= 0)."""
    return per_option * max(float(short_options), 0.0)


class SpanResult(NamedTuple):
    """One account's SPAN requirement and its parts, quote."""

    requirement: float
    scanning: float  # summed over underlyings, before credits
    intra: float
    inter_credit: float
    short_minimum: float


def span_requirement(
    arrays_by_underlying: list[Float64Array],
    tier_deltas: list[npt.ArrayLike] | None = None,
    intra_rates: list[float] | None = None,
    inter_credit: float = 0.0,
    short_minimum: float = 0.0,
) -> SpanResult:
    """Return SPAN's requirement of one account: scanning + intra - inter credit, at least the short option minimum.

    Per underlying u: scan_u = `scanning_risk` of its arrays, intra_u =
    `intra_spread_charge` of its tier deltas at its rate. The inter-commodity credit
    (`inter_credit` in [0, 1]) is that fraction of what scanning the underlyings jointly (their
    arrays summed scenario by scenario: the moves taken together, as correlated underlyings
    do) saves against scanning each alone. Requirement = max(sum scan_u + sum intra_u -
    credit, `short_minimum`). CME computes the credit from weighted price risk per spread
    delta; this is the scenario form the existing `clearing.core.margin.span_requirement` uses.
    """
    if not 0 <= inter_credit <= 1:
        raise ValueError(f"expected an inter-commodity credit in [0, 1], was {inter_credit}")
    scans = [scanning_risk(a) for a in arrays_by_underlying]
    joint = scanning_risk(np.vstack([np.asarray(a).sum(axis=0, keepdims=True) for a in arrays_by_underlying]))
    intra = 0.0
    if tier_deltas is not None and intra_rates is not None:
        intra = sum(intra_spread_charge(d, r) for d, r in zip(tier_deltas, intra_rates, strict=True))
    credit = inter_credit * max(sum(scans) - joint, 0.0)
    risk = sum(scans) + intra - credit
    return SpanResult(max(risk, short_minimum), sum(scans), intra, credit, short_minimum)
