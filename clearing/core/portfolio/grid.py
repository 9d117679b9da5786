"""Deribit-style portfolio margin: a grid of price moves x volatility shocks that scale with time to expiry.

The standard table moves the underlying across +-`price_range` in `buckets` equal steps each
way (Deribit BTC: +-16 % in 4 buckets, so 0, +-4, +-8, +-12, +-16 %: 9 points) and, at each
point, the implied volatility up, unchanged and down: 27 scenarios. A volatility shock
shrinks with time to expiry, shock(DTE) = range x (30 / DTE)^p, p the short-term power for
DTE <= 30 days and the long-term one beyond (Deribit's 2024 parameters: up 0.5, down 0.25,
powers 0.3 and 0.13; its earliest published form, sqrt(30/DTE) x 40 %, is p = 0.5), applied
multiplicatively to each option's implied volatility (Paradex's documented form of the same
rule). The extended table (far moves: -66 % ... +500 %) is evaluated with the volatility up
only and counts at a fraction (`extended_weight`). The maintenance requirement is the worst
loss over both tables; the initial is the maintenance / `mm_factor` (Deribit's 0.8).
Sources: docs/references.md [deribit-pm], [deribit-pm-history], [paradex-pm].
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from clearing.core.options.pricing import black76_price

Float64Array = npt.NDArray[np.float64]
NS_PER_DAY = 86_400 * 10**9
EXTENDED_MOVES = (-0.66, -0.33, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0)  # Deribit's extended table (BTC, 2024)


class GridParams(NamedTuple):
    """One underlying's grid (Deribit BTC's 2024 values by default)."""

    price_range: float = 0.16
    buckets: int = 4
    vol_up: float = 0.5
    vol_down: float = 0.25
    short_term_power: float = 0.3
    long_term_power: float = 0.13
    extended_moves: tuple[float, ...] = EXTENDED_MOVES
    extended_weight: float = 0.0  # the extended table's fraction of P/L (0: not evaluated)
    mm_factor: float = 0.8  # initial = maintenance / mm_factor


def vol_shock(dte_days: npt.ArrayLike, shock_range: float, short_term_power: float, long_term_power: float) -> Float64Array:
    """Return shock(DTE) = range x (30 / DTE)^p, p = `short_term_power` for DTE <= 30 days, else `long_term_power`.

    Deribit's worked example: a 15-day option under sqrt(30/DTE) x 40 % (p = 0.5) is shocked by
    sqrt(2) x 40 % = 56.6 %. DTE is floored at one hour (an expiring option's shock stays finite).
    """
    dte = np.maximum(np.asarray(dte_days, np.float64), 1.0 / 24.0)
    power = np.where(dte <= 30.0, short_term_power, long_term_power)
    return shock_range * (30.0 / dte) ** power  # type: ignore[no-any-return]


def price_moves(price_range: float, buckets: int) -> Float64Array:
    """Return the standard table's relative moves: -range ... +range in `buckets` steps each way (2 buckets + 1 points)."""
    if buckets < 1 or price_range <= 0:
        raise ValueError(f"expected buckets >= 1 and a positive range, was {buckets}, {price_range}")
    return (np.arange(-buckets, buckets + 1) * (price_range / buckets)).astype(np.float64)


DERIBIT_BTC = GridParams()


class GridResult(NamedTuple):
    """One account's grid requirement: maintenance, initial, and the worst scenario (move, volatility direction)."""

    maintenance: float
    initial: float
    worst_move: float
    worst_vol: int  # +1 up, 0 unchanged, -1 down
    extended: bool  # the worst loss came from the extended table


def grid_pnl(
    price: float, linear_size: float, option_size: npt.ArrayLike, strike: npt.ArrayLike, is_call: npt.ArrayLike,
    vol: npt.ArrayLike, tau_ns: npt.ArrayLike, moves: npt.ArrayLike, vol_dirs: npt.ArrayLike, params: GridParams,
) -> Float64Array:  # fmt: skip
    """Return the account's P/L (quote, gain positive) in each scenario (move_i, vol_dir_i), shape (S,).

    Linear legs (perpetuals, futures) sum to `linear_size` (signed quantity x multiplier):
    P/L = linear_size x price x move. Each option leg is revalued with Black-76 at price x (1 +
    move) and volatility vol x (1 + shock) (up), vol x (1 - shock) (down) or vol, with the
    shock of its own time to expiry (`vol_shock`).
    """
    moves = np.asarray(moves, np.float64)
    dirs = np.asarray(vol_dirs, np.float64)
    pnl = linear_size * price * moves
    size = np.atleast_1d(np.asarray(option_size, np.float64))
    if size.size:
        strike, is_call, vol, tau_ns = (np.atleast_1d(np.asarray(a)) for a in (strike, is_call, vol, tau_ns))
        dte = np.asarray(tau_ns, np.float64) / NS_PER_DAY
        up = vol_shock(dte, params.vol_up, params.short_term_power, params.long_term_power)
        down = vol_shock(dte, params.vol_down, params.short_term_power, params.long_term_power)
        factor = 1.0 + np.where(dirs[None, :] > 0, up[:, None], np.where(dirs[None, :] < 0, -down[:, None], 0.0))
        sigma = np.maximum(vol[:, None] * factor, 0.0)
        now = black76_price(price, strike, vol, tau_ns, is_call)
        later = black76_price(price * (1.0 + moves)[None, :], strike[:, None], sigma, tau_ns[:, None], is_call[:, None])
        pnl = pnl + (size[:, None] * (later - now[:, None])).sum(axis=0)
    return pnl  # type: ignore[no-any-return]


def grid_requirement(
    price: float, linear_size: float, option_size: npt.ArrayLike, strike: npt.ArrayLike, is_call: npt.ArrayLike,
    vol: npt.ArrayLike, tau_ns: npt.ArrayLike, params: GridParams = DERIBIT_BTC,
) -> GridResult:  # fmt: skip
    """Return the maintenance (the worst loss over the standard and the weighted extended table) and the initial.

    Standard: every `price_moves` point x volatility up, unchanged, down (27 scenarios for
    Deribit BTC). Extended: `extended_moves` with the volatility up, its P/L times
    `extended_weight` (skipped at 0). Maintenance = max(0, worst loss); initial =
    maintenance / `mm_factor`.
    """
    if not 0 < params.mm_factor <= 1 or not 0 <= params.extended_weight <= 1:
        raise ValueError(f"expected mm_factor in (0, 1] and extended_weight in [0, 1], was {params}")
    points = price_moves(params.price_range, params.buckets)
    moves = np.repeat(points, 3)
    dirs = np.tile(np.array([1.0, 0.0, -1.0]), points.size)
    pnl = grid_pnl(price, linear_size, option_size, strike, is_call, vol, tau_ns, moves, dirs, params)
    worst = int(np.argmin(pnl))
    loss, move, vol_dir, extended = -float(pnl[worst]), float(moves[worst]), int(dirs[worst]), False
    if params.extended_weight > 0 and params.extended_moves:
        far = np.asarray(params.extended_moves, np.float64)
        far_pnl = params.extended_weight * grid_pnl(
            price, linear_size, option_size, strike, is_call, vol, tau_ns, far, np.ones(far.size), params
        )
        j = int(np.argmin(far_pnl))
        if -float(far_pnl[j]) > loss:
            loss, move, vol_dir, extended = -float(far_pnl[j]), float(far[j]), 1, True
    maintenance = max(loss, 0.0)
    return GridResult(maintenance, maintenance / params.mm_factor, move, vol_dir, extended)
