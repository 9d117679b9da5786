"""What a run opens at time 0: its markets, its collateral assets and its accounts, as events."""

from __future__ import annotations

import numpy as np

from clearing import events as ev
from clearing.core.state import MarginMode, Role
from clearing.scenario.params import PopulationParams, RunParams
from clearing.scenario.pricing import ContractParams
from clearing.sim.bus import EventBus
from clearing.units import Int64Array


def list_markets(bus: EventBus, params: RunParams) -> None:
    """List every market (`market_listed`, and a dated one's `contract_specified`), then every collateral asset.

    An inverse perpetual's `contract_specified` comes after the assets: it names the one it settles in.
    """
    for market, m in enumerate(params.markets):
        bus.emit(
            ev.MarketListed(
                ts_ns=0, market=market, symbol=m.symbol, tick_size=m.tick_size, lot_size=m.lot_size,
                quote_decimals=m.quote_decimals, unit_value=m.unit_value, maintenance_margin_ppm=m.bracket_rates_ppm[0],
                liquidation_fee_ppm=m.liquidation_fee_ppm, taker_fee_ppm=m.taker_fee_ppm, maker_fee_ppm=m.maker_fee_ppm,
                bracket_floors=m.bracket_floors, bracket_rates_ppm=m.bracket_rates_ppm,
                size_premium_ppm=m.terms.size_premium_ppm, risk_limit_lots=m.terms.risk_limit_lots,
            )
        )  # fmt: skip
        if m.contract is not None and m.contract.settlement_asset < 0:
            _contract(bus, market, m.contract)
    for asset, c in enumerate(params.collateral):
        bus.emit(ev.CollateralListed(ts_ns=0, asset=asset, symbol=c.asset, decimals=c.decimals, haircut_ppm=c.haircut_ppm))
    for market, m in enumerate(params.markets):  # an inverse perpetual's contract names its (now listed) asset
        if m.contract is not None and m.contract.settlement_asset >= 0:
            _contract(bus, market, m.contract)


def _contract(bus: EventBus, market: int, k: ContractParams) -> None:
    bus.emit(ev.ContractSpecified(ts_ns=0, market=market, instrument=k.instrument, expiry_ns=k.expiry_ns,
                                  settlement_window_ns=k.settlement_window_ns, underlying=k.underlying,
                                  option_type=k.option_type, strike=k.strike,
                                  settlement_asset=k.settlement_asset))  # fmt: skip


def open_accounts(bus: EventBus, params: RunParams) -> dict[Role, list[int]]:
    """Open every account in a fixed order and fund it; return each role's accounts.

    Each group is opened by one `accounts_opened` and funded by `deposited` events:
    traders first (funded at entry, not here), then the backstop, market makers, noise
    takers, arbitrageurs and the insurance fund's account. Traders come in one group per
    margin mode (`population.margin_modes`; one group without it); isolated traders hold one
    account per leg (leg-major within their group); agents have their own accounts on every
    market (market-major). Then the insurance fund is seeded and its payout caps set.
    """
    p, n_markets, t = params.population, len(params.markets), params.takers
    makers = [params.makers_of(m) for m in range(n_markets)]  # market-major: each market's makers in turn
    groups: list[tuple[Role, int, int | None, str]] = [
        *((Role.TRADER, n * (len(p.legs) if mode is MarginMode.ISOLATED else 1), None, mode.label) for mode, n in modes(p)),
        (Role.LIQUIDITY_PROVIDER, 1, params.backstop_collateral_minor, "cross"),
        (Role.MARKET_MAKER, sum(mm.per_market for mm in makers), None, "cross"),
        (Role.NOISE_TRADER, sum(params.noise_of(m)[0] for m in range(n_markets)), None, "cross"),
        (Role.ARBITRAGEUR, t.arbitrageur_count * n_markets, t.arbitrageur_collateral_minor, "cross"),
        (Role.INSURANCE_FUND, int(params.fund.account), None, "cross"),
    ]
    accounts: dict[Role, list[int]] = {}
    first = 0
    for role, count, collateral, mode in groups:
        accounts[role] = accounts.get(role, []) + list(range(first, first + count))
        if count:
            bus.emit(ev.AccountsOpened(ts_ns=0, first_account=first, count=count, role=role.label, margin_mode=mode))
        if role in (Role.MARKET_MAKER, Role.NOISE_TRADER):  # each market's agents with their own collateral
            per_market = ([(mm.per_market, mm.collateral_minor) for mm in makers] if role is Role.MARKET_MAKER
                          else [params.noise_of(m)[:2] for m in range(n_markets)])  # fmt: skip
            amounts = [collateral for count, collateral in per_market for _ in range(count)]
            for account, amount in zip(accounts[role], amounts, strict=True):
                bus.emit(ev.Deposited(ts_ns=0, account=account, amount=amount))
        if collateral is not None:
            for account in accounts[role]:
                bus.emit(ev.Deposited(ts_ns=0, account=account, amount=collateral))
        first += count
    f = params.fund
    if f.initial_minor > 0:
        bus.emit(ev.InsuranceFundDeposited(ts_ns=0, amount=f.initial_minor))
    if f.max_per_event_minor or f.max_per_period_minor:
        bus.emit(
            ev.InsuranceFundConfigured(
                ts_ns=0, max_per_event=f.max_per_event_minor, max_per_period=f.max_per_period_minor, period_ns=f.period_ns
            )
        )
    return accounts


def modes(p: PopulationParams) -> tuple[tuple[MarginMode, int], ...]:
    """Return the traders' groups: (margin mode, traders) in trader order."""
    return p.modes or ((p.margin_mode, p.accounts),)


def trader_groups(p: PopulationParams) -> Int64Array:
    """Return each trader's margin-mode group (an index into `modes(p)`), shape (traders,): `interleave` of their counts."""
    return interleave([n for _mode, n in modes(p)], p.accounts)


def trader_strategies(p: PopulationParams) -> Int64Array:
    """Return each trader's strategy (an index into `p.strategies`), shape (traders,): `interleave` of their counts."""
    return interleave([x.traders for x in p.strategies] or [p.accounts], p.accounts)


def interleave(counts: list[int], total: int) -> Int64Array:
    """Return each of `total` traders' group, the groups holding `counts` (summing to `total`), shape (total,).

    Traders are drawn in entry order, so the groups are interleaved evenly along it rather
    than cut into blocks (which would let one group enter first): trader i joins the group
    furthest behind its share, the largest count_g x (i + 1) - joined_g x total among the
    groups not yet full (ties to the earlier group). Deterministic, no random draw.
    """
    out = np.zeros(total, np.int64)
    if len(counts) == 1:
        return out
    joined = [0] * len(counts)
    for i in range(total):
        g = max((g for g in range(len(counts)) if joined[g] < counts[g]),
                key=lambda g: (counts[g] * (i + 1) - joined[g] * total, -g))  # fmt: skip
        out[i] = g
        joined[g] += 1
    return out


def leg_accounts(p: PopulationParams, first: int) -> list[Int64Array]:
    """Return, per leg, each trader's account on it (shape (traders,)): the layout `open_accounts` opened from `first`.

    Each group (`trader_groups`) has its accounts in one block, in the order of `modes`;
    within a group of n isolated traders, leg j of its k-th trader is block + j x n + k; a
    cross or portfolio trader holds every leg in one account, block + k.
    """
    group = trader_groups(p)
    out = [np.zeros(p.accounts, np.int64) for _ in p.legs]
    start = first
    for g, (mode, n) in enumerate(modes(p)):
        members = np.flatnonzero(group == g)
        within = np.arange(members.size, dtype=np.int64)
        isolated = mode is MarginMode.ISOLATED
        for j, column in enumerate(out):
            column[members] = start + (j * n if isolated else 0) + within
        start += n * (len(p.legs) if isolated else 1)
    return out
