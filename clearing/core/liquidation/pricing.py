"""Liquidation prices and sizes: fill and backstop prices, dYdX's fillable price, partial sizes, settlement.

Pure integer arithmetic on numbers (no state). A position is closed into the book down to
a bound price (the mark moved by slippage and size impact), and whatever the book cannot
take goes to the backstop at that bound. A positive remainder pays the liquidation fee to
the insurance fund; a negative one (bankruptcy) is covered by the fund as far as it can,
and the rest is bad debt. How much one liquidation closes is a partial policy, looked up
in `PARTIALS`. Sources: docs/references.md [bitmex-liquidation], [dydx-v4-fillable],
[hyperliquid-liq], [binance-liq], [dydx-v4-liq].
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from clearing.core.liquidation.params import Partial
from clearing.units import PPM, mul_div_ceil, mul_div_floor


def slippage_ppm(notional_minor: int, base_ppm: int, impact_depth_minor: int, max_ppm: int) -> int:
    """Return min(base + floor(notional x 10^4 / impact_depth), max) in ppm.

    `impact_depth_minor` is the notional that moves the fill by 1 % (10^4 ppm). The model
    parameter rounds down; the price it produces rounds against the account.
    """
    return min(base_ppm + notional_minor * 10_000 // impact_depth_minor, max_ppm)


def fill_price_ticks(position_lots: int, mark_ticks: int, slip_ppm: int) -> int:
    """Return the close-out price: mark x (1 -/+ slip) for a long/short, rounded against it.

    A long is sold: floor(mark x (10^6 - slip) / 10^6), at least one tick.
    A short is bought back: ceil(mark x (10^6 + slip) / 10^6).
    """
    if position_lots > 0:
        return max(1, int(mul_div_floor(mark_ticks, PPM - slip_ppm, PPM)))
    return int(mul_div_ceil(mark_ticks, PPM + slip_ppm, PPM))


class Settlement(NamedTuple):
    """How the balance left after a close-out is settled (quote minor units)."""

    fee: int
    insurance_paid: int
    bad_debt: int


def settle(balance: int, notional: int, fee_ppm: int, insurance_fund: int, fund_cap: int | None = None) -> Settlement:
    """Return the settlement of an account whose position was closed, leaving `balance`.

    If balance >= 0: fee = min(ceil(notional x fee_ppm / 10^6), balance) to the fund.
    If balance < 0: the fund pays min(fund, -balance, fund_cap); the remainder is bad debt
    (or goes on down the waterfall). `fund_cap` is what the fund's caps still allow.
    """
    if balance >= 0:
        return Settlement(min(int(mul_div_ceil(notional, fee_ppm, PPM)), balance), 0, 0)
    paid = min(insurance_fund, -balance, insurance_fund if fund_cap is None else fund_cap)
    return Settlement(0, paid, -balance - paid)


def backstop_price_ticks(
    position_lots: int, mark_ticks: int, notional_at_mark: int, base_slippage_ppm: int, impact_depth_minor: int,
    max_slippage_ppm: int,
) -> int:  # fmt: skip
    """Return the price the backstop takes a position (or the part the book left) over at.

    fill_price_ticks(position, mark, slippage_ppm(notional at the mark, ...)): the notional
    is |position| x mark x unit value (its quote value for an inverse perpetual).
    """
    slip = slippage_ppm(notional_at_mark, base_slippage_ppm, impact_depth_minor, max_slippage_ppm)
    return fill_price_ticks(position_lots, mark_ticks, slip)


def fillable_price(
    position_lots: int,
    oracle_ticks: int,
    unit_value: int,
    total_net_collateral: int,
    total_maintenance: int,
    position_maintenance: int,
    bankruptcy_adjustment_ppm: int = 1_000_000,
    spread_to_maintenance_ppm: int = 1_500_000,
) -> int:
    """Return dYdX v4's fillable price in ticks: the limit of a liquidation order.

    ABR = clamp(BA x (1 - TNC / TMMR), 0, 1); spread = ABR x SMMR x PMMR (quote minor units);
    fillable = (PNNV - spread) / PS with PNNV the signed position value at the oracle and PS
    the signed size; a long sells at or below the oracle, a short buys at or above it.
    Rounded as dYdX does: up for a sell, down for a buy; at least one tick.
    Source: docs/references.md [dydx-v4-fillable].
    """
    if position_lots == 0 or total_maintenance <= 0:
        raise ValueError(f"expected a position and a maintenance requirement, was {position_lots}, {total_maintenance}")
    scale = PPM * PPM * total_maintenance
    rating = bankruptcy_adjustment_ppm * (total_maintenance - total_net_collateral) * PPM  # ABR x scale, unclamped
    rating = max(0, min(rating, scale))
    spread_scaled = rating * spread_to_maintenance_ppm * position_maintenance  # spread x scale x 10^6
    denominator = scale * PPM * position_lots * unit_value
    numerator = position_lots * oracle_ticks * unit_value * scale * PPM - spread_scaled
    if position_lots > 0:
        return max(1, -((-numerator) // denominator))
    return max(1, numerator // denominator)


RequirementOf = Callable[[int], int]


class PartialTerms(NamedTuple):
    """What a partial policy reads besides the size and equity (quote minor units, ppm).

    lot_value: one lot's value at the mark; fraction_ppm: policy "fraction"'s share;
    fee_ppm: the liquidation fee, which policy "shortage" counts as Drift's liquidator fee;
    buffer_ppm: Drift's liquidation margin buffer; full_below: Drift's 50 USDC, below which a
    shortage or a position goes whole.
    """

    lot_value: int
    fraction_ppm: int = PPM
    fee_ppm: int = 0
    buffer_ppm: int = 0
    full_below: int = 0


def _whole(size: int, _equity: int, _req: RequirementOf, _terms: PartialTerms) -> int:
    return size


def _fraction(size: int, _equity: int, _req: RequirementOf, terms: PartialTerms) -> int:
    return min(size, max(1, -((-size * terms.fraction_ppm) // PPM)))


def _shortage(size: int, equity: int, requirement_of: RequirementOf, terms: PartialTerms) -> int:
    # Drift's transfer: the position's margin ratio (its share of the requirement, floored: more lots) plus the buffer;
    # the shortage against the requirement with the buffer on this position; the IF fee 0 (one fee is charged here).
    value = size * terms.lot_value
    requirement = requirement_of(size)
    ratio = (requirement - requirement_of(0)) * PPM // value + terms.buffer_ppm
    shortage = requirement + int(mul_div_ceil(value, terms.buffer_ppm, PPM)) - equity
    lots = drift_liquidation_lots(shortage, size, terms.lot_value, ratio, terms.fee_ppm, 0, terms.full_below)
    return max(1, lots)


def _restore(size: int, equity: int, requirement_of: RequirementOf, _terms: PartialTerms) -> int:
    if equity <= 0:
        return size
    low, high = 0, size  # the largest size whose requirement the equity covers, by bisection
    while low < high:
        middle = (low + high + 1) // 2
        if requirement_of(middle) <= equity:
            low = middle
        else:
            high = middle - 1
    return max(1, size - low)


# Each partial policy: (size, equity, requirement_of, terms) -> lots to close.
PARTIALS: dict[Partial, Callable[[int, int, RequirementOf, PartialTerms], int]] = {
    Partial.NONE: _whole,
    Partial.FRACTION: _fraction,
    Partial.RESTORE: _restore,
    Partial.SHORTAGE: _shortage,
}


def partial_lots(
    policy: Partial,
    position_lots: int,
    equity: int,
    lot_value: int,
    requirement_of: RequirementOf,
    fraction_ppm: int = PPM,
    min_notional: int = 0,
    in_cooldown: bool = False,
    max_notional: int = 0,
    fee_ppm: int = 0,
    buffer_ppm: int = 0,
) -> int:
    """Return how many lots (absolute) this liquidation closes, by the partial policy (`PARTIALS`).

    `equity` is the account's (its position at the mark) and `lot_value` one lot's quote
    value at the mark (mark x unit value; an inverse perpetual's contract value). "none", a
    position of at most `min_notional`, or an account still in its cooldown after a partial
    liquidation: all of it. "fraction": ceil(|q| x fraction), at least one lot (Hyperliquid:
    20 % above 100,000 USDC, then a 30 s cooldown). "restore": just enough that, closed at
    the mark, the rest meets maintenance: |q| - (the largest size s with requirement_of(s)
    <= equity), all of it when the equity is not positive (Binance's "Smart Liquidation").
    "shortage": Drift's transfer size (`drift_liquidation_lots`) of the shortage against the
    requirement plus `buffer_ppm` of the position's value, the position's margin ratio plus
    the buffer, `fee_ppm` (the market's liquidation fee) as the liquidator's fee and no IF fee,
    whole at or below `min_notional` of shortage or value (Drift: 50 USDC).
    `requirement_of(size)` is the maintenance amount of a position of `size` lots at the
    mark. A positive `max_notional` caps the result at max(1, floor(max_notional /
    lot_value)) lots (dYdX's per-block notional cap).
    Sources: docs/references.md [hyperliquid-liq], [binance-liq], [dydx-v4-liq], [drift-v2-liq].
    """
    size = abs(position_lots)
    lot_value = max(lot_value, 1)
    cap = max(1, max_notional // lot_value) if max_notional > 0 else size
    if in_cooldown or size * lot_value <= min_notional:
        return min(cap, size)
    terms = PartialTerms(lot_value, fraction_ppm, fee_ppm, buffer_ppm, min_notional)
    closing = PARTIALS[policy](size, equity, requirement_of, terms)
    return min(cap, closing)


def drift_if_fee_ppm(
    if_liquidation_fee_ppm: int, margin_ratio_ppm: int, liquidator_fee_ppm: int, shortage_minor: int, value_minor: int
) -> int:
    """Return Drift's insurance-fund fee of a perp liquidation, in ppm of the value transferred.

    if_fee = min(if_liquidation_fee, 0.95 x max(0, margin ratio with buffer - liquidator fee -
    shortage / position value)): the 95 % keeps the fee from pushing the account into
    bankruptcy (`calculate_perp_if_fee`). The shortage share rounds up, the 95 % down.
    Source: docs/references.md [drift-v2-liq].
    """
    if value_minor <= 0:
        return 0
    shortage_ppm = -((-shortage_minor * PPM) // value_minor)
    room = max(0, margin_ratio_ppm - liquidator_fee_ppm - shortage_ppm)
    return min(if_liquidation_fee_ppm, room * 95 // 100)


def drift_liquidation_lots(
    shortage_minor: int,
    position_lots: int,
    lot_value_minor: int,
    margin_ratio_ppm: int,
    liquidator_fee_ppm: int,
    if_fee_ppm: int,
    full_below_minor: int,
) -> int:
    """Return how many lots of a position Drift's liquidator takes over to cover the margin shortage.

    Each lot transferred frees its value x the margin ratio (maintenance plus the liquidation
    buffer) of requirement and costs the account its value x (liquidator fee + IF fee), so
    base = shortage / (value x (margin ratio - liquidator fee) - value x IF fee), rounded up
    to whole lots and at most the position (`calculate_base_asset_amount_to_cover_margin_shortage`,
    the quote price 1: the quote here is exact). The whole position goes when the shortage or
    the position's value is at most `full_below_minor` (Drift: 50 USDC), or when the fees eat
    the whole ratio. Source: docs/references.md [drift-v2-liq].
    """
    held = abs(position_lots)
    if shortage_minor <= 0:
        return 0
    per_lot_ppm = margin_ratio_ppm - liquidator_fee_ppm - if_fee_ppm
    if shortage_minor <= full_below_minor or held * lot_value_minor <= full_below_minor or per_lot_ppm <= 0:
        return held
    lots = -((-shortage_minor * PPM) // (lot_value_minor * per_lot_ppm))
    return min(held, lots)
