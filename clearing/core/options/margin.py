"""Standard (non-portfolio) margin of linear option positions, in integer quote minor units.

One pure, vectorised function over arrays of positions: a long needs nothing beyond the
premium it paid, a short is margined by the industry-standard short-option formula. No
floats touch money, no state, no clock; portfolio margin of options is not computed here.
Method, units and worked examples: docs/option-margin.md.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from clearing.units import INT64_MAX, PPM, Int64Array

# Each short row's per-lot requirement is formed exactly in ppm x quote minor units: at most
# 10^6 x (max(K, U) x underlying_unit_value + mark x option_unit_value), which must fit int64.
PER_LOT_LIMIT = INT64_MAX // PPM  # 9,223,372,036,854 quote minor units per lot
MAX_POSITION_LOTS = INT64_MAX // PPM  # so |position| x (a remainder < 10^6) fits int64


class OptionMarginParams(NamedTuple):
    """The rates of the standard short-option formula, in ppm (10^6 = 100 %).

    initial_ppm: the 0.15 x U of the initial margin, reduced by the OTM amount;
    floor_ppm: the 0.10 x U floor of that term; maintenance_ppm: the 0.075 x U of the
    maintenance margin; mark_maintenance_ppm: the 0.075 x mark a short put's maintenance
    may use instead. Defaults: bit.com's USDT options (BTC, ETH). Venues change these
    without notice: read them from config. Source: docs/references.md [design-options-pm].
    """

    initial_ppm: int = 150_000
    floor_ppm: int = 100_000
    maintenance_ppm: int = 75_000
    mark_maintenance_ppm: int = 75_000


DEFAULT_OPTION_MARGIN = OptionMarginParams()


def _checked_params(params: OptionMarginParams) -> OptionMarginParams:
    for name, value in params._asdict().items():
        if type(value) is not int or not 0 <= value <= PPM:
            raise ValueError(f"expected OptionMarginParams.{name} an int in [0, 10^6] ppm, was {value!r}")
    # floor >= maintenance is what makes a short call's IM >= its MM (a put's IM takes the max).
    if params.floor_ppm < params.maintenance_ppm:
        raise ValueError(f"expected floor_ppm >= maintenance_ppm, was {params.floor_ppm} < {params.maintenance_ppm}")
    return params


def _integer_array(value: npt.ArrayLike, what: str, low: int) -> Int64Array:
    array = np.asarray(value)
    if array.dtype.kind not in "iu":
        raise ValueError(f"expected {what} as integers, was dtype {array.dtype}")
    if array.dtype.kind == "u" and (array > INT64_MAX).any():
        raise ValueError(f"expected {what} within int64, was {array[array > INT64_MAX].flat[0]}")
    if (array < low).any():
        raise ValueError(f"expected {what} >= {low}, was {array[array < low].flat[0]}")
    return array.astype(np.int64, copy=False)


def _times_lots_ceil(lots: Int64Array, per_lot_ppm: Int64Array) -> Int64Array:
    # ceil(lots x per_lot / 10^6) exactly: per_lot = a x 10^6 + b, so lots x a + ceil(lots x b / 10^6).
    a, b = np.divmod(per_lot_ppm, PPM)
    return lots * a - ((-lots * b) // PPM)  # type: ignore[no-any-return]


def option_requirements(
    position_lots: Int64Array,
    is_call: npt.NDArray[np.bool_],
    strike_ticks: Int64Array,
    underlying_ticks: Int64Array,
    option_mark_ticks: Int64Array,
    underlying_unit_value: Int64Array,
    option_unit_value: Int64Array,
    params: OptionMarginParams = DEFAULT_OPTION_MARGIN,
) -> tuple[Int64Array, Int64Array]:
    """Return the (initial, maintenance) margin of each option position, quote minor units.

    The standard short-option formula, per 1 unit of underlying, with U the underlying's
    price (its mark; the caller passes the index before the first mark), K the strike,
    mark the option's mark and OTM = max(K - U, 0) for a call, max(U - K, 0) for a put:

        short call:  IM = max(0.15 U - OTM, 0.10 U) + mark
                     MM = 0.075 U + mark
        short put:   MM = max(0.075 U, 0.075 mark) + mark
                     IM = max(max(0.15 U - OTM, 0.10 U) + mark, MM)
        long, flat:  IM = MM = 0 (the premium was paid in full; the value counts in equity)

    with 0.15, 0.10, 0.075, 0.075 = `params` (ppm). bit.com documents this officially for its
    USDT options; third-party copies attribute the same (coin) formula to Deribit, whose
    current constants are unverified. It is not Binance's rule (unpublished).
    Sources: docs/references.md [bitcom-usdt-options-margin], [bitcom-coin-options-margin],
    [design-options-pm].

    Units (from per unit of underlying to per position): a price in ticks times a unit
    value is quote minor units per option lot, and a lot is lot_size units of underlying,
    so the unit values carry the contract size:
    `underlying_unit_value` = option lot_size x underlying tick x 10^quote_decimals (the
    option's lot, not the underlying market's own unit value, whose lot may differ);
    `option_unit_value` = option lot_size x option tick x 10^quote_decimals (the option
    market's `unit_value`). Strike and U are in the underlying's ticks, the mark in the
    option's. A position's requirement is |position_lots| x the per-lot amount.

    Exact integer arithmetic: the per-lot amount is formed in ppm x quote minor units,
    e.g. 0.15 U - OTM as (initial_ppm x U - 10^6 x OTM) x underlying_unit_value, multiplied
    by |position| and divided by 10^6 once per position, rounding up (against the account).
    So IM >= MM for every position (given floor_ppm >= maintenance_ppm).

    Args:
        position_lots: signed lots, shape (N,); < 0 short.
        is_call: True for a call, False for a put, shape (N,).
        strike_ticks: strike in the underlying's ticks, shape (N,), >= 0.
        underlying_ticks: U in the underlying's ticks, shape (N,), >= 0.
        option_mark_ticks: the option's mark (premium per lot) in its ticks, shape (N,), >= 0.
        underlying_unit_value: quote minor units per option lot per underlying tick, shape (N,), >= 1.
        option_unit_value: quote minor units per option lot per option tick, shape (N,), >= 1.
        params: the rates.

    Arguments broadcast together (a scalar unit value serves every row); the outputs have the
    broadcast shape, int64.

    Returns:
        (initial, maintenance), each int64 quote minor units per position.

    Raises:
        ValueError: a non-integer array, a negative price, a unit value < 1, rates outside
            [0, 10^6] or floor < maintenance, or a short row beyond the int64 bound: per lot,
            max(K, U) x underlying_unit_value + mark x option_unit_value must stay
            <= (2^63 - 1) // 10^6 (about 9.2 x 10^12 quote minor units: 9.2 million USDT
            per lot at 6 decimals), |position| <= the same number of lots, and the
            position's requirement < 2^63.
    """
    rates = _checked_params(params)
    position = _integer_array(position_lots, "position_lots", -INT64_MAX)
    call = np.asarray(is_call)
    if call.dtype != np.bool_:
        raise ValueError(f"expected is_call as booleans, was dtype {call.dtype}")
    strike = _integer_array(strike_ticks, "strike_ticks", 0)
    underlying = _integer_array(underlying_ticks, "underlying_ticks", 0)
    mark = _integer_array(option_mark_ticks, "option_mark_ticks", 0)
    unit_u = _integer_array(underlying_unit_value, "underlying_unit_value", 1)
    unit_o = _integer_array(option_unit_value, "option_unit_value", 1)
    position, call, strike, underlying, mark, unit_u, unit_o = np.broadcast_arrays(
        position, call, strike, underlying, mark, unit_u, unit_o
    )
    short = position < 0
    # Only short rows are priced; zeroing the rest keeps a long's unchecked inputs out of int64.
    lots = np.where(short, -position, 0)
    strike, underlying, mark = (np.where(short, x, 0) for x in (strike, underlying, mark))
    _check_bounds(lots, strike, underlying, mark, unit_u, unit_o)

    otm_ticks = np.where(call, np.maximum(strike - underlying, 0), np.maximum(underlying - strike, 0))
    underlying_minor = underlying * unit_u  # U per lot, quote minor units
    mark_minor = mark * unit_o  # the mark per lot, quote minor units
    risk = np.maximum(rates.initial_ppm * underlying_minor - PPM * (otm_ticks * unit_u), rates.floor_ppm * underlying_minor)
    maintenance_underlying = rates.maintenance_ppm * underlying_minor
    put_maintenance = np.maximum(maintenance_underlying, rates.mark_maintenance_ppm * mark_minor)
    maintenance = np.where(call, maintenance_underlying, put_maintenance) + PPM * mark_minor
    initial = risk + PPM * mark_minor
    initial = np.where(call, initial, np.maximum(initial, maintenance))
    _check_total(lots, initial)
    return _times_lots_ceil(lots, initial), _times_lots_ceil(lots, maintenance)


def _check_bounds(
    lots: Int64Array, strike: Int64Array, underlying: Int64Array, mark: Int64Array, unit_u: Int64Array, unit_o: Int64Array
) -> None:
    # Divisions first, so the checks themselves cannot overflow.
    widest = np.maximum(strike, underlying)
    fits = (widest <= PER_LOT_LIMIT // unit_u) & (mark <= PER_LOT_LIMIT // unit_o) & (lots <= MAX_POSITION_LOTS)
    fits &= np.where(fits, widest * unit_u, 0) <= PER_LOT_LIMIT - np.where(fits, mark * unit_o, 0)
    if not fits.all():
        row = int(np.flatnonzero(~fits.ravel())[0])
        raise ValueError(
            "expected per lot max(strike, underlying) x underlying_unit_value + mark x option_unit_value "
            f"<= {PER_LOT_LIMIT} and |position| <= {MAX_POSITION_LOTS} lots, was row {row}"
        )


def _check_total(lots: Int64Array, per_lot_ppm: Int64Array) -> None:
    # lots x (per_lot // 10^6 + 1) bounds the result; compare by division to stay in int64.
    whole = per_lot_ppm // PPM + 1
    fits = (lots == 0) | (whole <= INT64_MAX // np.maximum(lots, 1))
    if not fits.all():
        row = int(np.flatnonzero(~fits.ravel())[0])
        raise ValueError(f"expected a position's requirement below 2^63 quote minor units, was row {row}")
