"""Inverse (coin-margined) perpetuals: contract value in quote, PnL, margin and funding in the base asset.

A lot of an inverse market is worth `C` quote units at every price (its `unit_value`, in
quote minor units: BitMEX XBTUSD 1 USD, Binance COIN-M BTCUSD_PERP 100 USD); in the
settlement asset it is worth C / P. In integers: a lot at `p` ticks is worth `k / p` asset
minor units, with k = C x 10^decimals / tick_size (`coin_per_lot_tick`, exact or refused).

Ledger (the coin twin of decision 0002): the buyer of q lots at p receives q x k / p coin,
the seller pays it, so a position's coin value at p is -q x k / p and
PnL = q x C x (1/entry - 1/exit) in coin, the venues' formula. The buyer receives the floor
and the seller pays the ceiling: each side is rounded against itself and the unit between
them (the dust) goes to the asset's pool, so coin is conserved exactly.
Sources: docs/references.md [bitmex-inverse], [binance-coinm-pnl], [binance-coinm-funding].
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np

from clearing.units import PPM, Int64Array, mul_div_ceil, mul_div_floor

FAR_PRICE_TICKS = 10**15  # the bankruptcy price of a position no finite price bankrupts (its coin value ~ 0 there)


def coin_per_lot_tick(contract_minor: int, quote_decimals: int, tick_size: str, asset_decimals: int) -> int:
    """Return k = C x 10^asset_decimals / tick_size: a lot's coin value at p ticks is k / p asset minor units.

    `contract_minor` is C in quote minor units (10^-quote_decimals).

    Raises:
        ValueError: k is not a whole number (the contract, tick and decimals do not fit).
    """
    k = Decimal(contract_minor) * 10**asset_decimals / (Decimal(tick_size) * 10**quote_decimals)
    if k <= 0 or k != k.to_integral_value():
        raise ValueError(f"contract value x 10^{asset_decimals} / tick {tick_size} is not a whole number of coin units")
    return int(k)


def trade_coin(lots: int, price_ticks: int, k: int) -> tuple[int, int]:
    """Return (what the buyer receives, what the seller pays) for `lots` at `price_ticks`, asset minor units.

    floor(lots x k / p) and ceil(lots x k / p): each rounded against its side; they differ
    by the dust (0 or 1).
    """
    return int(mul_div_floor(lots, k, price_ticks)), int(mul_div_ceil(lots, k, price_ticks))


def fee_coin(lots: int, price_ticks: int, k: int, rate_ppm: int) -> int:
    """Return a fee of `rate_ppm` on the coin value of `lots` at `price_ticks`: ceil(lots x k x rate / (p x 10^6))."""
    numerator = lots * k * rate_ppm
    return -(-numerator // (price_ticks * PPM))


def position_coin_values(position_lots: Int64Array, price_ticks: int, k: int) -> Int64Array:
    """Return each position's coin value at `price_ticks`, floor(-q x k / p), asset minor units, shape (N,).

    Rounded down: against the account for either side (a long's liability grows, a short's
    claim shrinks). 0 without a price.
    """
    position = np.asarray(position_lots, np.int64)
    if price_ticks <= 0:
        return np.zeros(position.shape, np.int64)
    return mul_div_floor(-position, k, price_ticks)  # type: ignore[return-value]


def coin_to_quote(amount: Int64Array | int, price_minor: int, decimals: int) -> Int64Array | int:
    """Return floor(amount x price / 10^decimals): coin (asset minor units) in quote minor units at `price_minor` per coin."""
    return mul_div_floor(amount, price_minor, 10**decimals)


def bankruptcy_price(backing_minor: int, position_lots: int, k: int, price_minor: int, decimals: int) -> int:
    """Return the price (ticks) at which closing the position leaves its backing exactly nothing.

    backing + (-q x k / P) x S / 10^d = 0, so P = q x k x S / (backing x 10^d), with S the
    settlement asset's price (quote minor units per coin): rounded against the account, up
    for a long (sold), down for a short (bought back). A long with no positive backing is
    bankrupt at every price and a short with a non-negative one at none: `FAR_PRICE_TICKS`
    (where the position's coin value is nothing). 0 for no position or no asset price.
    """
    if position_lots == 0 or price_minor <= 0:
        return 0
    if (position_lots > 0) != (backing_minor > 0):
        return FAR_PRICE_TICKS
    numerator = position_lots * k * price_minor
    denominator = backing_minor * 10**decimals
    price = -(-numerator // denominator) if position_lots > 0 else numerator // denominator
    return max(1, min(price, FAR_PRICE_TICKS))


def liquidation_price(
    backing_minor: int, position_lots: int, k: int, price_minor: int, decimals: int,
    floors_minor: Int64Array, rates_ppm: Int64Array, cums_minor: Int64Array,
) -> int:  # fmt: skip
    """Return the price (ticks) where the position's equity meets its maintenance, the first tick beyond it.

    equity(P) = backing - q x k x S / (P x 10^d); maintenance(P) = |q| x k x S / (P x 10^d) x
    rate_b - cum_b with b the bracket of that quote notional (Binance COIN-M's brackets, in
    quote here). Solving: P = k x S x (q x 10^6 + |q| x rate_b) / (10^d x 10^6 x (backing +
    cum_b)), the bracket kept when the notional at P falls in it (from the highest down). As
    the linear `clearing.core.margin.liquidation_price`, the tick returned is the first one
    strictly beyond the exact price: a long is below maintenance when the mark <= it, a short
    when >= it. 0 when no positive price satisfies it (a short at 1x or less is never
    liquidated).
    Source: docs/references.md [binance-coinm-pnl].
    """
    if position_lots == 0 or price_minor <= 0:
        return 0
    size = abs(position_lots)
    for b in range(len(floors_minor) - 1, -1, -1):
        numerator = k * price_minor * (position_lots * PPM + size * int(rates_ppm[b]))
        denominator = 10**decimals * PPM * (backing_minor + int(cums_minor[b]))
        if denominator == 0 or (numerator > 0) != (denominator > 0):
            continue
        floor, rest = divmod(numerator, denominator)
        price = (floor - 1 if rest == 0 else floor) if position_lots > 0 else floor + 1
        if price <= 0:
            continue
        notional = size * k * price_minor // (price * 10**decimals)
        at = max(int(np.searchsorted(floors_minor, notional, side="left")) - 1, 0)
        if at == b:
            return int(price)
    return 0


def funding_payments(position_lots: Int64Array, mark_ticks: int, k: int, rate_ppb: int) -> tuple[Int64Array, Int64Array]:
    """Return (accounts, amounts) of one coin funding settlement; amounts sum to exactly zero.

    Binance COIN-M: funding = size x multiplier / mark x rate, in coin. Payers (long when
    F > 0) pay ceil(|q| x k x |F| / (mark x 10^9)); receivers share the total by their lots
    (floor shares, then one unit each to the largest remainders, ties to the lower
    account). Accounts ascend; payers' amounts are negative. Empty when F = 0 or nobody
    holds a position. Source: docs/references.md [binance-coinm-funding].

    Raises:
        ValueError: payers without receivers (long and short lots must match).
    """
    held = np.flatnonzero(position_lots)
    if rate_ppb == 0 or held.size == 0 or mark_ticks <= 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    lots = position_lots[held].tolist()
    pays = [(q > 0) if rate_ppb > 0 else (q < 0) for q in lots]
    denominator = mark_ticks * 1_000_000_000
    paid = [-(-abs(q) * k * abs(rate_ppb) // denominator) for q, p in zip(lots, pays, strict=True) if p]
    weights = [abs(q) for q, p in zip(lots, pays, strict=True) if not p]
    total, pool = sum(paid), sum(weights)
    if pool == 0:
        raise ValueError("funding has payers but no receivers: long and short lots must match")
    shares = [total * w // pool for w in weights]
    remainders = [total * w % pool for w in weights]
    for i in sorted(range(len(weights)), key=lambda i: -remainders[i])[: total - sum(shares)]:
        shares[i] += 1
    out_paid, out_shares = iter(paid), iter(shares)
    amounts = [-next(out_paid) if p else next(out_shares) for p in pays]
    return held.astype(np.int64), np.array(amounts, np.int64)
