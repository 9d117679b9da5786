"""Builders of the events and states tests used to write out field by field.

Every builder fills in the fields a test does not care about with the defaults the
hand-built events used (one market "X" with tick, lot and unit value 1, no decimals, a
0.5 % maintenance rate and no fees; accounts of traders in cross margin; events at time
0, without causes) and takes any field as a keyword override:

    market_listed()                                   # market 0, as above
    market_listed(1, maintenance_margin_ppm=20_000)   # market "M1"; its one bracket follows the rate
    accounts_opened(0, 3, Role.MARKET_MAKER)          # accounts 0-2, cross margin
    trade(0, 1, 5, 100, liquidation=True)             # 0 buys 5 lots from 1 at 100, no fees, no orders
    state_with((3, Role.MARKET_MAKER))                # a fresh state: market 0 and three makers

Roles and margin modes are given as the `Role` and `MarginMode` enums and turned into
the labels events carry. The builders check nothing: an impossible event is built as
asked (the reducers' guards are what refuse it, see tests/unit/test_reducer_guards.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from clearing import events as ev
from clearing.core.book import BUY
from clearing.core.state import ClearingState, MarginMode, Role, apply
from clearing.log.writer import MemorySink
from clearing.sim.bus import EventBus

MAINTENANCE_PPM = 5_000  # the default market's maintenance rate (0.5 %)

# A group of accounts for `opened`, `state_with` and `bus_with`: a count of traders, or
# (count, role), or (count, role, margin mode).
Accounts = int | tuple[int, Role] | tuple[int, Role, MarginMode]


def payload_dict(payload: bytes | str) -> dict[str, Any]:
    """Return a row's canonical payload (an array) as a dict of its fields by name, `kind` first."""
    return ev.to_builtins(ev.DECODER.decode(payload))


def market_listed(market: int = 0, **overrides: Any) -> ev.MarketListed:
    """Return the listing of `market`: symbol "X" (market 0) or "M<n>", unit conventions of 1, no fees.

    Its maintenance brackets default to one bracket at `maintenance_margin_ppm` (so an
    overridden rate keeps the listing valid); pass `bracket_floors` and `bracket_rates_ppm`
    for more.
    """
    rate = overrides.get("maintenance_margin_ppm", MAINTENANCE_PPM)
    fields: dict[str, Any] = {
        "ts_ns": 0, "market": market, "symbol": "X" if market == 0 else f"M{market}", "tick_size": "1", "lot_size": "1",
        "quote_decimals": 0, "unit_value": 1, "maintenance_margin_ppm": rate, "liquidation_fee_ppm": 0, "taker_fee_ppm": 0,
        "maker_fee_ppm": 0, "bracket_floors": (0,), "bracket_rates_ppm": (rate,), "size_premium_ppm": 0,
        "risk_limit_lots": (0, 0),
    }  # fmt: skip
    return ev.MarketListed(**{**fields, **overrides})


def accounts_opened(
    first: int, count: int, role: Role = Role.TRADER, mode: MarginMode = MarginMode.CROSS, **overrides: Any
) -> ev.AccountsOpened:
    """Return the opening of accounts first .. first + count - 1, all of `role` in margin `mode`."""
    fields: dict[str, Any] = {"ts_ns": 0, "first_account": first, "count": count, "role": role.label, "margin_mode": mode.label}
    return ev.AccountsOpened(**{**fields, **overrides})


def deposited(account: int, amount: int, **overrides: Any) -> ev.Deposited:
    """Return a deposit of `amount` quote minor units into `account`."""
    return ev.Deposited(**{"ts_ns": 0, "account": account, "amount": amount, **overrides})


def insurance_fund_deposited(amount: int, **overrides: Any) -> ev.InsuranceFundDeposited:
    """Return a deposit of `amount` quote minor units into the insurance fund."""
    return ev.InsuranceFundDeposited(**{"ts_ns": 0, "amount": amount, **overrides})


def mark_price_updated(price_ticks: int, market: int = 0, **overrides: Any) -> ev.MarkPriceUpdated:
    """Return a mark of `price_ticks` on `market`, derived ("oracle") from an index at the same price."""
    fields: dict[str, Any] = {"ts_ns": 0, "market": market, "price_ticks": price_ticks, "index_ticks": price_ticks, "method": "oracle"}
    return ev.MarkPriceUpdated(**{**fields, **overrides})


def order_placed(order_id: int, account: int, side: int, lots: int, price_ticks: int = 0, **overrides: Any) -> ev.OrderPlaced:
    """Return order `order_id` on market 0: a market order without a price, else a limit order; neither reduce-only nor a liquidation."""
    fields: dict[str, Any] = {
        "ts_ns": 0, "order_id": order_id, "account": account, "market": 0, "side": side, "lots": lots,
        "price_ticks": price_ticks, "order_type": "limit" if price_ticks else "market", "reduce_only": False,
        "liquidation": False,
    }  # fmt: skip
    return ev.OrderPlaced(**{**fields, **overrides})


def trade(buyer: int, seller: int, lots: int, price_ticks: int, **overrides: Any) -> ev.TradeExecuted:
    """Return a trade of `lots` from `seller` to `buyer` at `price_ticks` on market 0: no fees, no orders named, taker buying."""
    fields: dict[str, Any] = {
        "ts_ns": 0, "market": 0, "buyer": buyer, "seller": seller, "lots": lots, "price_ticks": price_ticks, "buyer_fee": 0,
        "seller_fee": 0, "liquidation": False, "maker_order": 0, "taker_order": 0, "taker_side": BUY,
    }  # fmt: skip
    return ev.TradeExecuted(**{**fields, **overrides})


def quotes(
    state: ClearingState,
    account: int,
    bids: tuple[tuple[int, int], ...] = (),
    asks: tuple[tuple[int, int], ...] = (),
    **overrides: Any,
) -> ev.QuotesReplaced:
    """Return `account`'s new ladder on market 0, its ids from the state's next order id.

    `bids` and `asks` are ((price, lots), ...), best first; the maker's inputs are recorded
    as reference 100 and no volatility.
    """
    fields: dict[str, Any] = {
        "ts_ns": 0, "account": account, "market": 0, "first_order_id": state.next_order_id,
        **ev.QuotesReplaced.sides(bids, asks), "reference_ticks": 100, "volatility_ppm": 0,
    }  # fmt: skip
    return ev.QuotesReplaced(**{**fields, **overrides})


def contract_specified(market: int = 1, instrument: str = "future", underlying: int = 0, **overrides: Any) -> ev.ContractSpecified:
    """Return the contract of `market`: a future (underlying market 0, expiry at 3,600 s, a 30-minute window) by default.

    With `instrument="option"` it is a call struck at 100 unless `option_type`/`strike` say otherwise.
    """
    option = instrument == "option"
    fields: dict[str, Any] = {
        "ts_ns": 0, "market": market, "instrument": instrument, "expiry_ns": 3_600 * 10**9,
        "settlement_window_ns": 1_800 * 10**9, "underlying": underlying, "option_type": "call" if option else "",
        "strike": "100" if option else "",
    }  # fmt: skip
    return ev.ContractSpecified(**{**fields, **overrides})


def inverse_contract(market: int = 1, asset: int = 0, **overrides: Any) -> ev.ContractSpecified:
    """Return the contract of `market` as an inverse perpetual settling in collateral asset `asset`."""
    fields: dict[str, Any] = {"expiry_ns": 0, "settlement_window_ns": 0, "settlement_asset": asset, **overrides}
    return contract_specified(market, "inverse_perpetual", market, **fields)


def market_settled(price_ticks: int, market: int = 1, **overrides: Any) -> ev.MarketSettled:
    """Return the expiry of `market` at `price_ticks` (the underlying at 100, from 1,800 samples), at 3,600 s."""
    fields: dict[str, Any] = {"ts_ns": 3_600 * 10**9, "market": market, "price_ticks": price_ticks,
                              "underlying_ticks": 100, "samples": 1_800}  # fmt: skip
    return ev.MarketSettled(**{**fields, **overrides})


def position_settled(account: int, lots: int, price_ticks: int, market: int = 1, unit_value: int = 1,
                     **overrides: Any) -> ev.PositionSettled:  # fmt: skip
    """Return the settlement of `account`'s `lots` in `market` at `price_ticks` (amount lots x price x unit value)."""
    fields: dict[str, Any] = {"ts_ns": 3_600 * 10**9, "market": market, "account": account, "lots": lots,
                              "price_ticks": price_ticks, "amount": lots * price_ticks * unit_value}  # fmt: skip
    return ev.PositionSettled(**{**fields, **overrides})


def surface_updated(underlying: int = 0, vol_ppm: tuple[tuple[int, ...], ...] = ((500_000, 450_000, 480_000),),
                    **overrides: Any) -> ev.VolatilitySurfaceUpdated:  # fmt: skip
    """Return a surface of `underlying`: one expiry at 3,600 s, k at -0.1, 0, +0.1, vols 50 / 45 / 48 % by default."""
    fields: dict[str, Any] = {"ts_ns": 0, "underlying": underlying, "expiries_ns": (3_600 * 10**9,),
                              "log_moneyness_ppm": (-100_000, 0, 100_000), "vol_ppm": vol_ppm, "source": "synthetic"}  # fmt: skip
    return ev.VolatilitySurfaceUpdated(**{**fields, **overrides})


def opened(*accounts: Accounts, markets: int = 1, **market_overrides: Any) -> list[ev.Event]:
    """Return the events that list `markets` markets (`market_listed(m, **market_overrides)`) and open each group of accounts in turn.

    A group is a count of traders, (count, role) or (count, role, margin mode); the groups'
    account numbers follow on from each other, starting at 0.
    """
    events: list[ev.Event] = [market_listed(m, **market_overrides) for m in range(markets)]
    first = 0
    for group in accounts:
        count, *kind = (group,) if isinstance(group, int) else group
        events.append(accounts_opened(first, count, *kind))
        first += count
    return events


def state_with(*accounts: Accounts, markets: int = 1, then: Iterable[ev.Event] = (), **market_overrides: Any) -> ClearingState:
    """Return a fresh state with `opened(*accounts, markets=..., **market_overrides)` and then `then` applied."""
    state = ClearingState()
    for event in (*opened(*accounts, markets=markets, **market_overrides), *then):
        apply(state, event)
    return state


def bus_with(*accounts: Accounts, markets: int = 1, then: Iterable[ev.Event] = (), **market_overrides: Any) -> EventBus:
    """Return a bus over a fresh state and a `MemorySink`, with the events of `state_with` emitted through it."""
    bus = EventBus(ClearingState(), MemorySink())
    for event in (*opened(*accounts, markets=markets, **market_overrides), *then):
        bus.emit(event)
    return bus


def state_from_rows(rows: Iterable[tuple[int, int, str, int, str, str, bytes]]) -> ClearingState:
    """Return the state folded from a `MemorySink`'s rows (seq, ts, kind, version, causes, payload, hash)."""
    state = ClearingState()
    for _seq, _ts, kind, version, _causes, payload, _hash in rows:
        apply(state, ev.decode(payload, kind, version))
    return state


def payloads(sink: MemorySink, kind: str) -> list[tuple[int, int, dict[str, Any]]]:
    """Return (seq, ts_ns, payload) of every event of `kind` in a memory sink's rows, in order."""
    return [(seq, ts, payload_dict(payload)) for seq, ts, k, _v, _c, payload, _h in sink.rows if k == kind]


def write_minute_bars(path, start_ms: int, closes) -> None:
    """Write 1-minute bars (ts,open,high,low,close,volume) from `start_ms`, each bar flat at its close (a string or number)."""
    rows = ["ts,open,high,low,close,volume"] + [f"{start_ms + 60_000 * i},{c},{c},{c},{c},1" for i, c in enumerate(closes)]
    path.write_text("\n".join(rows) + "\n")
