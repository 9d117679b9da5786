"""Margin arithmetic: notional, maintenance and initial requirements, collateral, bankruptcy and liquidation prices.

Pure functions over int64 arrays of shape (N,): no state, no I/O. Requirements round up
(against the account). This is the one implementation; `clearing.core.risk` reads the state
through it for the margin monitor, the liquidators and the exchange.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from clearing.core.rates import size_rates
from clearing.units import PPM, Int64Array, mul_div_floor


def notional(position_lots: Int64Array, price_ticks: int, unit_value: int) -> Int64Array:
    """Return |position| x price x unit_value, in quote minor units, shape (N,).

    Exact: every factor is an integer.
    """
    return np.abs(position_lots) * (price_ticks * unit_value)


def maintenance_margin(notional_minor: Int64Array, rate_ppm: int | Int64Array) -> Int64Array:
    """Return ceil(notional x rate_ppm / 10^6) in quote minor units, shape (N,); the rate may be per row.

    Rounds up, against the account. Computed as q*rate + ceil(r*rate/10^6) with
    notional = q*10^6 + r, so no intermediate exceeds the notional itself.
    """
    q, r = np.divmod(notional_minor, PPM)
    return q * rate_ppm - ((-r * rate_ppm) // PPM)  # type: ignore[return-value]  # numpy stubs: int64 // int as float


class Brackets(NamedTuple):
    """Tiered maintenance margin of one market, shape (K,) each, floors ascending from 0.

    floors: notional floor of each bracket, quote minor units; rates_ppm: its maintenance
    rate; cums: its maintenance amount, from `bracket_cums`. A market margined by size has
    one bracket whose rate `size_rates` raises with the position's lots: Drift's size
    premium (`premium_ppm`, ppm per square-root lot) or BitMEX's risk limits
    (`risk_limit_lots`: the base limit and the step, in lots); the rate applies to the whole
    position.
    """

    floors: Int64Array
    rates_ppm: Int64Array
    cums: Int64Array
    premium_ppm: int = 0
    risk_limit_lots: tuple[int, int] = (0, 0)

    @property
    def by_size(self) -> bool:
        """Whether the rate is set by the position's size (`size_rates`): one bracket, no maintenance amount."""
        return bool(self.premium_ppm or self.risk_limit_lots[1])

    def size_rates(self, size_lots: Int64Array) -> Int64Array:
        """Return the maintenance rate (ppm) of positions of `size_lots` (`clearing.core.rates.size_rates`), shape (N,)."""
        return size_rates(int(self.rates_ppm[0]), size_lots, self.premium_ppm, self.risk_limit_lots)

    @classmethod
    def flat(cls, rate_ppm: int) -> Brackets:
        """Return a single bracket: one rate for every notional."""
        return cls(np.zeros(1, np.int64), np.full(1, rate_ppm, np.int64), np.zeros(1, np.int64))

    @classmethod
    def of(cls, floors_minor: Sequence[int], rates_ppm: Sequence[int]) -> Brackets:
        """Return the brackets with their maintenance amounts computed by `bracket_cums`."""
        floors = np.asarray(floors_minor, np.int64)
        rates = np.asarray(rates_ppm, np.int64)
        return cls(floors, rates, bracket_cums(floors, rates))


def bracket_cums(floors_minor: Int64Array, rates_ppm: Int64Array) -> Int64Array:
    """Return Binance's maintenance amounts: cum_1 = 0, cum_n = floor_n x (rate_n - rate_{n-1}) + cum_{n-1}.

    The tax-bracket construction that makes the requirement continuous across bracket edges.
    Exact in quote minor units. Source: docs/references.md [binance-cum].

    Raises:
        ValueError: floors do not start at 0 and ascend, rates decrease, or a cum is not whole.
    """
    if len(floors_minor) == 0 or floors_minor[0] != 0 or (np.diff(floors_minor) <= 0).any() or (np.diff(rates_ppm) < 0).any():
        raise ValueError(f"expected floors ascending from 0 and rates not decreasing, was {floors_minor}, {rates_ppm}")
    cums = [0]
    for n in range(1, len(floors_minor)):
        step, rest = divmod(int(floors_minor[n]) * (int(rates_ppm[n]) - int(rates_ppm[n - 1])), PPM)
        if rest:
            raise ValueError(f"bracket floor {int(floors_minor[n])} x rate step is not a whole number of minor units")
        cums.append(cums[-1] + step)
    return np.asarray(cums, np.int64)


def position_rate_ppm(brackets: Brackets, notional_minor: int, lots: int) -> int:
    """Return the maintenance rate (ppm) of one position: its size's (`size_rates`) or its notional's bracket's."""
    if brackets.by_size:
        return int(brackets.size_rates(np.array([lots]))[0])
    return int(brackets.rates_ppm[max(int(np.searchsorted(brackets.floors, abs(notional_minor), side="left")) - 1, 0)])


def maintenance_amounts(notional_minor: Int64Array, brackets: Brackets, lots: Int64Array | None = None) -> Int64Array:
    """Return MM = ceil(notional x rate_b / 10^6) - cum_b, b the bracket of each notional, shape (N,).

    Bracket b holds notionals in (floor_b, floor_{b+1}] (a cap counts as inclusive: an
    assumption, the source does not say); rounds up, against the account. With one
    bracket this is `maintenance_margin`. A market margined by size (`Brackets.by_size`)
    needs the positions' `lots`: MM = ceil(notional x `size_rates` / 10^6).
    Source: docs/references.md [binance-brackets].

    Raises:
        ValueError: a market margined by size without the lots.
    """
    if brackets.by_size:
        if lots is None:
            raise ValueError("a market margined by size needs the positions' lots")
        return maintenance_margin(notional_minor, brackets.size_rates(lots))
    if len(brackets.floors) == 1:
        return maintenance_margin(notional_minor, int(brackets.rates_ppm[0]))
    b = np.maximum(np.searchsorted(brackets.floors, notional_minor, side="left") - 1, 0)
    return maintenance_margin(notional_minor, brackets.rates_ppm[b]) - brackets.cums[b]


def collateral_value(
    collateral: Int64Array, prices_ticks: Int64Array, decimals: Int64Array, haircut_ppm: Int64Array
) -> Int64Array:
    """Return each account's collateral value in quote minor units, shape (N,).

    sum over assets a of floor(floor(amount_a x price_a / 10^decimals_a) x (10^6 - haircut_a) / 10^6),
    with `collateral` (N, A) in asset minor units and prices in quote minor units per whole
    unit: rounded down twice, against the account.
    """
    total = np.zeros(collateral.shape[0], np.int64)
    for a in range(collateral.shape[1]):
        gross = mul_div_floor(collateral[:, a], int(prices_ticks[a]), 10 ** int(decimals[a]))
        total += mul_div_floor(gross, PPM - int(haircut_ppm[a]), PPM)
    return total


def margin_cash(state_cash: Int64Array, collateral: Int64Array, prices_ticks: Int64Array, decimals: Int64Array,
                haircut_ppm: Int64Array) -> Int64Array:  # fmt: skip
    """Return the cash that backs margin: quote cash plus the collateral value, shape (N,)."""
    if collateral.shape[1] == 0:
        return state_cash
    return state_cash + collateral_value(collateral, prices_ticks, decimals, haircut_ppm)


def bankruptcy_price(backing: Int64Array, position_lots: Int64Array, unit_value: int) -> Int64Array:
    """Return the price (ticks) at which closing each position leaves exactly nothing, shape (N,).

    backing + position x P x unit_value = 0, so P = -backing / (position x unit_value),
    rounded so that a close at it never needs the insurance fund: up for a long (sold),
    down for a short (bought back); at least one tick. BitMEX's example: a long of 1 at
    100.00 with 1.00 margin goes bankrupt at 99.00. 0 for a flat account.
    Source: docs/references.md [bitmex-liquidation].
    """
    denominator = position_lots * unit_value
    flat = denominator == 0
    safe = np.where(flat, 1, denominator)
    price = np.where(position_lots > 0, -((backing) // safe), (-backing) // safe)
    return np.where(flat, 0, np.maximum(price, 1))  # type: ignore[no-any-return]


def liquidation_price(backing: Int64Array, position_lots: Int64Array, unit_value: int, brackets: Brackets) -> Int64Array:
    """Return the highest (long) / lowest (short) price in ticks at which each position is below maintenance.

    Binance's isolated formula in this ledger's terms, backing = wallet -
    side x |q| x entry: LP = (backing + cum_b) / (|q| x unit_value x (rate_b - side)), with
    the bracket b of the notional at LP; when the bracket at LP differs from the one
    assumed, it is recomputed with that bracket (Binance's fixed point), starting from the
    highest. The exact LP is the price where equity = requirement; the tick returned is the
    first one strictly beyond it, where the monitor liquidates: a long is below maintenance
    exactly when the mark <= LP, a short when the mark >= LP. 0 for a flat account or a
    long that cannot be liquidated at any positive price. Vectorised over the accounts
    (int64; rows whose intermediate products could overflow are done in Python integers).
    Sources: docs/references.md [binance-liq-price], [binance-cum].
    """
    backing = np.asarray(backing, np.int64)
    position = np.asarray(position_lots, np.int64)
    out = np.zeros(position.shape[0], np.int64)
    rows = np.flatnonzero(position)
    if rows.size == 0:
        return out
    size, back = np.abs(position[rows]), backing[rows]
    side = np.where(position[rows] > 0, 1, -1)
    if brackets.by_size:  # one rate per row, fixed by its size: the one-bracket formula, row by row
        rate = brackets.size_rates(size)
        whole = (side > 0) & (rate >= PPM)  # a long margined at 100 %: below maintenance at every price, or at none
        safe = (np.abs(back) < 9 * 10**12) & (size * unit_value < 4 * 10**12) & ~whole
        denominator = np.where(safe, size * unit_value * (rate - side * PPM), 1)
        floor, rest = np.divmod(np.where(safe, back, 0) * PPM, denominator)
        price = np.where(side > 0, np.where(rest == 0, floor - 1, floor), floor + 1)
        out[rows[safe]] = np.maximum(price[safe], 0)
        out[rows[whole]] = np.where(back[whole] < 0, np.iinfo(np.int64).max, 0)
        safe |= whole
        for j in np.flatnonzero(~safe).tolist():
            one = Brackets.flat(int(rate[j]))
            out[rows[j]] = liquidation_price_exact(int(back[j]), int(position[rows[j]]), unit_value, one)
        return out
    # The bracket: the highest whose LP, in float64, falls in it (Binance's fixed point from
    # the top); then the exact integer LP in that bracket, kept if its bracket agrees.
    rates, cums = brackets.rates_ppm.astype(np.float64), brackets.cums.astype(np.float64)
    lp = (back[:, None] + cums[None, :]) / (size[:, None] * unit_value * (rates[None, :] / PPM - side[:, None]))
    at = np.searchsorted(brackets.floors, size[:, None] * np.maximum(lp, 1.0) * unit_value, side="left") - 1
    consistent = np.maximum(at, 0) == np.arange(len(brackets.floors))[None, :]
    bracket = np.where(consistent.any(axis=1), len(brackets.floors) - 1 - np.argmax(consistent[:, ::-1], axis=1), 0)
    cum = brackets.cums[bracket]
    # int64 is exact while |backing + cum| x 10^6 and |q| x unit value x 2 x 10^6 stay below 2^63.
    safe = (np.abs(back) + cum < 9 * 10**12) & (size * unit_value < 4 * 10**12)
    numerator = np.where(safe, back + cum, 0) * PPM
    denominator = np.where(safe, size * unit_value, 1) * (brackets.rates_ppm[bracket] - side * PPM)
    floor, rest = np.divmod(numerator, denominator)
    price = np.where(side > 0, np.where(rest == 0, floor - 1, floor), floor + 1)
    agrees = np.maximum(np.searchsorted(brackets.floors, size * np.maximum(price, 1) * unit_value, side="left") - 1, 0)
    exact = safe & (agrees == bracket)
    out[rows[exact]] = np.maximum(price[exact], 0)
    for j in np.flatnonzero(~exact).tolist():  # huge rows, or a float bracket off at an edge: Python integers
        out[rows[j]] = liquidation_price_exact(int(back[j]), int(position[rows[j]]), unit_value, brackets)
    return out


def liquidation_price_exact(backing: int, q: int, unit_value: int, brackets: Brackets) -> int:
    side = 1 if q > 0 else -1
    b = len(brackets.floors) - 1
    price = 0
    for _ in range(len(brackets.floors) + 1):
        numerator = (backing + int(brackets.cums[b])) * PPM
        denominator = abs(q) * unit_value * (int(brackets.rates_ppm[b]) - side * PPM)
        floor, rest = divmod(numerator, denominator)
        price = (floor - 1 if rest == 0 else floor) if side > 0 else floor + 1
        at = max(int(np.searchsorted(brackets.floors, abs(q) * max(price, 1) * unit_value, side="left")) - 1, 0)
        if at == b:
            break
        b = at
    return max(price, 0)


class SpanScenarios(NamedTuple):
    """A SPAN risk array's scenarios over M markets, shape (S, M) and (S,).

    moves_thirds: each market's price move in thirds of its price scan range (PSR),
    +3 = the full range up; weights_pct: the fraction of that move's loss that counts
    (100, or the cover fraction of an extreme move); vol: the volatility move in units
    of the volatility scan range, which does not change a linear future's value and is
    kept so the table reads as CME's.
    """

    moves_thirds: Int64Array
    weights_pct: Int64Array
    vol: Int64Array


def span_scenarios(markets: int, extreme_multiple: int = 2, extreme_cover_pct: int = 35) -> SpanScenarios:
    """Return CME SPAN's 16 scenarios, every market moving together.

    Scenarios 1-14: price 0, +-1/3, +-2/3, +-1 PSR, each with volatility up and down, at
    100 %; 15-16: +-`extreme_multiple` PSR at `extreme_cover_pct` %.
    Sources: docs/references.md [cme-span], [span-scenario-table].
    """
    if markets < 1 or extreme_multiple < 1 or not 0 <= extreme_cover_pct <= 100:
        raise ValueError(
            f"expected markets >= 1, multiple >= 1, cover in [0, 100], was {markets}, {extreme_multiple}, {extreme_cover_pct}"
        )
    moves = [move for move in (0, 1, -1, 2, -2, 3, -3) for _ in (1, -1)] + [3 * extreme_multiple, -3 * extreme_multiple]
    weights = [100] * 14 + [extreme_cover_pct] * 2
    vol = [v for _ in range(7) for v in (1, -1)] + [0, 0]
    return SpanScenarios(
        np.repeat(np.array(moves, np.int64)[:, None], markets, axis=1), np.array(weights, np.int64), np.array(vol, np.int64)
    )


def _market_losses(split: tuple[Int64Array, Int64Array], coefficient: Int64Array, denominator: int) -> Int64Array:
    """Return ceil(-value x coefficient / denominator) per market, shape (N, M).

    `split` is np.divmod(-values, denominator), shared across scenarios (the split of
    `mul_div_ceil`). A loss rounds up and a gain toward zero: against the account. Exact in
    int64 while |value| fits and |coefficient| x denominator < 2**63.
    """
    q, r = split
    return q * coefficient + (-((-r * coefficient) // denominator))  # type: ignore[no-any-return]


def span_requirement(
    values: Int64Array,
    scan_range_ppm: Int64Array,
    scenarios: SpanScenarios,
    inter_commodity_credit_ppm: int = 0,
) -> Int64Array:
    """Return the SPAN-style scanning-risk requirement of each account, quote minor units, shape (N,).

    `values` (N, M): each position's signed value q x price x unit_value; `scan_range_ppm`
    (M,): each market's PSR as a fraction of value. A scenario's loss on market m is
    ceil(-value_m x PSR_m x move_m / 3 x weight), rounded up per market. With
    standalone_m = max(0, max_s loss_m(s)) and joint = max(0, max_s sum_m loss_m(s)):
    requirement = sum_m standalone_m - floor(credit x (sum_m standalone_m - joint)).
    Credit 0 margins each market alone (no offsets); credit 10^6 nets the whole
    portfolio under the scenarios' joint moves (the inter-commodity spread credit).
    """
    values = np.asarray(values, np.int64)
    if values.ndim != 2 or values.shape[1] != len(scan_range_ppm) or scenarios.moves_thirds.shape[1] != values.shape[1]:
        raise ValueError(f"expected values (N, M) matching {len(scan_range_ppm)} scan ranges and scenarios, was {values.shape}")
    scan_range_ppm = np.asarray(scan_range_ppm, np.int64)
    if (scan_range_ppm < 0).any() or (scenarios.weights_pct < 0).any():
        raise ValueError(f"expected scan ranges and scenario weights >= 0, was {scan_range_ppm.tolist()}")
    if not 0 <= inter_commodity_credit_ppm <= PPM:
        raise ValueError(f"expected an inter-commodity credit in [0, 10^6] ppm, was {inter_commodity_credit_ppm}")
    denominator = 3 * 100 * PPM
    split = np.divmod(-values, denominator)
    standalone = np.zeros(values.shape, np.int64)
    joint = np.zeros(values.shape[0], np.int64)
    # Scenarios that differ only in volatility move a future's value alike: scan each once.
    rows = np.unique(np.column_stack([scenarios.moves_thirds, scenarios.weights_pct]), axis=0)
    for row in rows:
        coefficient = scan_range_ppm * row[:-1] * row[-1]
        per_market = _market_losses(split, coefficient, denominator)
        np.maximum(standalone, per_market, out=standalone)
        np.maximum(joint, per_market.sum(axis=1), out=joint)
    total = standalone.sum(axis=1)
    return total - mul_div_floor(total - joint, inter_commodity_credit_ppm, PPM)  # type: ignore[no-any-return]


def relative_returns_ppm(before: Int64Array, after: Int64Array) -> Int64Array:
    """Return floor((after - before) x 10^6 / before) element by element, ppm (prices > 0)."""
    return ((after - before) * PPM) // before  # type: ignore[no-any-return]


def historical_returns_ppm(prices_ticks: Int64Array, horizon: int = 1) -> Int64Array:
    """Return the `horizon`-step relative returns of a price history, ppm, shape (T - horizon, M).

    r_t = floor((p_{t+h} - p_t) x 10^6 / p_t), overlapping windows; `prices_ticks` (T, M) > 0.
    """
    prices = np.asarray(prices_ticks, np.int64)
    if prices.ndim != 2 or prices.shape[0] <= horizon or horizon < 1 or (prices <= 0).any():
        raise ValueError(f"expected positive prices (T, M) with T > horizon >= 1, was {prices.shape}, horizon {horizon}")
    return relative_returns_ppm(prices[:-horizon], prices[horizon:])


def expected_shortfall_requirement(values: Int64Array, returns_ppm: Int64Array, tail: int) -> Int64Array:
    """Return the historical-simulation expected shortfall of each portfolio, quote minor units, shape (N,).

    Scenario t's loss = sum_m ceil(-value_m x r_{t,m} / 10^6) (rounded up per market);
    ES = max(0, ceil(mean of the `tail` largest losses)). `returns_ppm` (T, M) is the
    rolling window (LCH PAIRS: the 6 worst of 2,500).
    Sources: docs/references.md [lch-es-2013], [lch-pairs].
    """
    values = np.asarray(values, np.int64)
    returns = np.asarray(returns_ppm, np.int64)
    if values.ndim != 2 or returns.ndim != 2 or values.shape[1] != returns.shape[1] or not 1 <= tail <= returns.shape[0]:
        raise ValueError(
            f"expected values (N, M), returns (T, M) and 1 <= tail <= T, was {values.shape}, {returns.shape}, {tail}"
        )
    out = np.zeros(values.shape[0], np.int64)
    for start in range(0, values.shape[0], _ES_ROWS):  # rows in chunks: memory (rows x T) stays bounded
        q, r = np.divmod(-values[start : start + _ES_ROWS], PPM)
        losses = np.zeros((q.shape[0], returns.shape[0]), np.int64)
        for m in range(values.shape[1]):  # _market_losses, one market at a time over every scenario
            rate = returns[:, m][None, :]
            losses += q[:, m : m + 1] * rate - ((-r[:, m : m + 1] * rate) // PPM)
        worst = -np.partition(-losses, tail - 1, axis=1)[:, :tail]
        out[start : start + _ES_ROWS] = np.maximum(0, -((-worst.sum(axis=1)) // tail))
    return out


_ES_ROWS = 4096


class PortfolioParams(NamedTuple):
    """How portfolio-margined accounts are margined (see `account_requirements`).

    method: "span" (`span_requirement` with `scan_range_ppm` (M,), `scenarios` and
    `credit_ppm`) or "es" (`expected_shortfall_requirement` over the return window, the
    mean of its `es_tail` worst losses).
    """

    method: str
    scan_range_ppm: Int64Array
    scenarios: SpanScenarios
    credit_ppm: int = 0
    es_tail: int = 1


def position_values(position_lots: Int64Array, prices_ticks: Int64Array, unit_values: Int64Array) -> Int64Array:
    """Return each position's signed value q x price x unit_value, quote minor units, shape (N, M)."""
    return position_lots * (np.asarray(prices_ticks, np.int64) * np.asarray(unit_values, np.int64))  # type: ignore[no-any-return]


def account_requirements(
    values: Int64Array,
    portfolio: npt.NDArray[np.bool_],
    brackets: Sequence[Brackets],
    params: PortfolioParams | None = None,
    returns_ppm: Int64Array | None = None,
    positions: Int64Array | None = None,
) -> Int64Array:
    """Return each account's maintenance requirement, quote minor units, shape (N,).

    `values` (N, M) are the signed position values at the mark (`position_values`);
    `positions` (N, M) their lots, needed by a market margined by size (`Brackets.by_size`).
    Isolated and cross accounts (`portfolio` False): sum over markets m of
    `maintenance_amounts(|value_m|, brackets[m])`; an isolated account holds one market,
    so this is its position's requirement. Portfolio accounts: `span_requirement` of the
    row, or with method "es" `expected_shortfall_requirement` over `returns_ppm` (T, M);
    until the window holds `es_tail` returns, the maintenance sum stands in.
    """
    values = np.asarray(values, np.int64)
    out = np.zeros(values.shape[0], np.int64)
    for m, market_brackets in enumerate(brackets):
        column = values[:, m]
        if column.any():  # a market nobody here holds (an option's column, zeroed by the caller) needs nothing
            out += maintenance_amounts(np.abs(column), market_brackets, _lots(positions, m))
    if params is None or not portfolio.any():
        return out
    rows = np.flatnonzero(portfolio)
    if params.method == "span":
        out[rows] = span_requirement(values[rows], params.scan_range_ppm, params.scenarios, params.credit_ppm)
    elif params.method == "es":
        if returns_ppm is not None and returns_ppm.shape[0] >= params.es_tail:
            out[rows] = expected_shortfall_requirement(values[rows], returns_ppm, params.es_tail)
    else:
        raise ValueError(f"expected a portfolio method 'span' or 'es', was {params.method!r}")
    return out


def _lots(positions: Int64Array | None, market: int) -> Int64Array | None:
    return None if positions is None else positions[:, market]


def cross_backing(
    margin_cash_minor: Int64Array, values: Int64Array, brackets: Sequence[Brackets], market: int,
    positions: Int64Array | None = None,
) -> Int64Array:  # fmt: skip
    """Return what backs each account's position on `market` in a cross account, shape (N,).

    Binance's cross liquidation price puts WB - TMM1 + UPNL1 over the
    position: the wallet, plus the other positions' unrealised PnL, less their maintenance.
    In this ledger (cash = wallet - positions' cost) that is margin cash + sum over the
    other markets k of (value_k - maintenance_k), so `liquidation_price(cross_backing(...),
    position, ...)` is the cross liquidation price with the other marks held. Isolated
    (no other position): the margin cash. `positions` (N, M): as `account_requirements`.
    Source: docs/references.md [binance-liq-price].
    """
    values = np.asarray(values, np.int64)
    out = np.asarray(margin_cash_minor, np.int64).copy()
    for k, market_brackets in enumerate(brackets):
        if k != market and values[:, k].any():
            out += values[:, k] - maintenance_amounts(np.abs(values[:, k]), market_brackets, _lots(positions, k))
    return out
