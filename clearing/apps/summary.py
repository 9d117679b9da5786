"""The run summary: the same fields from a live run and from a replay of its log.

Money fields are exact decimal strings in quote currency (e.g. "1234.567890"), never
floats; `quote_decimals` says how many decimals they carry (every market quotes in the
one quote currency: the scenario checks that their `quote_decimals` agree). The totals
are the whole run's; `markets` has one `MarketSummary` per market, keyed by its symbol:
its prices at the end (exact decimals in the market's ticks), open interest, and what
`clearing.apps.tally.MarketTally` counted of its liquidations, ADL, socialised loss and
funding.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np

from clearing.apps.tally import MarketTally, ModeCounts
from clearing.core.risk import account_risk, fund_equity
from clearing.core.state import ClearingState, MarginMode, Role
from clearing.core.valuation import trade_notional, valuation_price
from clearing.units import NS_PER_S, Int64Array, format_minor


@dataclass(frozen=True)
class ModeSummary:
    """The traders of one margin mode at the end of a run: how many, what their liquidations cost, what they need.

    Money fields are quote decimal strings; `requirement_end` is the maintenance requirement
    of their open positions at the end (`clearing.core.risk.account_risk`).
    """

    traders: int
    liquidations: int
    liquidated_notional: str
    insurance_paid: str
    bad_debt: str
    margin_posted: str
    requirement_end: str
    accounts_liquidated: int = 0  # of `traders`, those liquidated at least once


@dataclass(frozen=True)
class MarketSummary:
    """One market at the end of a run (or of a log replayed up to some time), under its symbol.

    Prices are exact decimal strings (ticks times the market's tick size), None before the
    first; `open_interest` is the long lots in base units (lots times the lot size; an
    inverse perpetual's in quote, its lot size being the contract's value); money fields are
    as the run summary's, except an inverse perpetual's `funding_paid`, in its settlement
    asset (`settles_in`).
    """

    market: int  # the market's number in the events (`market` of every per-market event and view)
    index: str | None
    oracle: str | None
    mark: str | None
    last_trade: str | None
    open_interest: str
    open_interest_notional: str  # the long lots at the valuation price (the mark; the index before the first)
    liquidations: int  # liquidations that closed lots on this market
    liquidated_notional: str
    adl_events: int
    adl_notional: str
    socialised_loss: str
    socialisations: int
    funding_rate_ppb: int  # the last funding rate set, parts per 10^9
    funding_paid: str  # funding that changed hands on this market (in `settles_in`)
    settles_in: str = "quote"  # what PnL, fees and funding are paid in: the quote, or an inverse perpetual's asset


@dataclass(frozen=True)
class RunSummary:
    """Headline results of a run (or of a log replayed up to some time)."""

    run_id: str
    scenario: str
    seed: int
    status: str
    data_sources: str
    events: int
    sim_seconds: float
    accounts: int
    margin_breaches: int
    liquidations: int
    liquidated_notional: str
    liquidation_fills_book: int
    liquidated_notional_book: str
    liquidation_fills_backstop: int
    liquidated_notional_backstop: str
    liquidation_fills_fund: int
    liquidated_notional_fund: str
    bad_debt: str
    insurance_fund_end: str
    insurance_fund_equity: str
    insurance_fund_swept: str
    insurance_fund_min: str
    insurance_paid: str
    fee_pool: str
    max_liquidation_backlog: int
    max_queue_wait_s: float
    oracle_lag_at_liquidation_mean_s: float
    oracle_lag_at_liquidation_max_s: float
    adl_events: int
    adl_notional: str
    socialised_loss: str
    socialisations: int
    quote_decimals: int
    state_digest: str
    head_hash: str
    markets: dict[str, MarketSummary] = field(default_factory=dict)  # by symbol, in the order they were listed
    # The coin the house holds per settlement asset (an inverse perpetual's fees and rounding dust), in that asset.
    asset_pools: dict[str, str] = field(default_factory=dict)
    # The traders by margin mode, when they are in several (`population.margin_modes`); empty otherwise.
    modes: dict[str, ModeSummary] = field(default_factory=dict)
    # The traders by portfolio type (`population.strategies`), when the population has types; empty otherwise.
    strategies: dict[str, ModeSummary] = field(default_factory=dict)
    # Margin calls (`[margin_calls]`), when there were any: calls by response and the quote topped up.
    margin_calls: dict[str, int | str] = field(default_factory=dict)
    # The traders' stop-losses fired and re-entries after a close-out (`population.stop_loss`, `.reentry`), when any.
    traders: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Return the summary as a JSON-ready dict."""
        return asdict(self)


def summarize(
    state: ClearingState,
    *,
    run_id: str,
    scenario: str,
    seed: int,
    status: str,
    events: int,
    head_hash: str,
    data_sources: str = "",
    tally: MarketTally | None = None,
) -> RunSummary:
    """Return the summary of `state`; `data_sources` says what each market's index was made from.

    `tally` holds the per-market counts of the events folded into `state` (none: zeros).
    """
    decimals = state.markets[0].quote_decimals if state.markets else 0  # the quote currency's, every market's
    tally = tally or MarketTally()
    return RunSummary(
        run_id=run_id,
        scenario=scenario,
        seed=seed,
        status=status,
        data_sources=data_sources,
        events=events,
        sim_seconds=state.now_ns / NS_PER_S,
        accounts=state.n_accounts,
        margin_breaches=state.breaches,
        liquidations=state.liquidations,
        liquidated_notional=format_minor(state.liquidated_notional, decimals),
        liquidation_fills_book=state.liquidation_fills_book,
        liquidated_notional_book=format_minor(state.liquidated_notional_book, decimals),
        liquidation_fills_backstop=state.liquidation_fills_backstop,
        liquidated_notional_backstop=format_minor(state.liquidated_notional_backstop, decimals),
        liquidation_fills_fund=state.liquidation_fills_fund,
        liquidated_notional_fund=format_minor(state.liquidated_notional_fund, decimals),
        bad_debt=format_minor(state.bad_debt, decimals),
        insurance_fund_end=format_minor(state.insurance_fund, decimals),
        insurance_fund_equity=format_minor(fund_equity(state), decimals),
        insurance_fund_swept=format_minor(state.fund_swept, decimals),
        insurance_fund_min=format_minor(state.insurance_fund_min, decimals),
        insurance_paid=format_minor(state.insurance_paid, decimals),
        fee_pool=format_minor(state.fee_pool, decimals),
        max_liquidation_backlog=state.max_backlog,
        max_queue_wait_s=state.max_queue_wait_ns / NS_PER_S,
        oracle_lag_at_liquidation_mean_s=state.oracle_lag_sum_ns / max(state.oracle_lagged_liquidations, 1) / NS_PER_S,
        oracle_lag_at_liquidation_max_s=state.oracle_lag_max_ns / NS_PER_S,
        adl_events=state.adl_events,
        adl_notional=format_minor(state.adl_notional, decimals),
        socialised_loss=format_minor(state.socialised_loss, decimals),
        socialisations=state.socialisations,
        quote_decimals=decimals,
        state_digest=state.digest(),
        head_hash=head_hash,
        markets={m.symbol: market_summary(state, m.market, tally) for m in state.markets},
        asset_pools={
            state.assets[a].symbol: format_minor(pool, state.assets[a].decimals) for a, pool in sorted(state.asset_pool.items())
        },
        modes=mode_summaries(state, tally, decimals) if len(tally.modes) > 1 else {},
        strategies=strategy_summaries(state, tally, decimals),
        margin_calls=margin_call_summary(state, decimals),
        traders={k: v for k, v in state.behaviour_counts.items() if v},
    )


def margin_call_summary(state: ClearingState, decimals: int) -> dict[str, int | str]:
    """Return the margin calls by response and the quote topped up; empty when no account was called."""
    counts = state.margin_call_counts
    if not counts["calls"]:
        return {}
    return {**{k: v for k, v in counts.items() if k != "topped_up"}, "topped_up": format_minor(counts["topped_up"], decimals)}


def mode_summaries(state: ClearingState, tally: MarketTally, decimals: int) -> dict[str, ModeSummary]:
    """Return the traders' summary per margin mode (in the order isolated, cross, portfolio)."""
    out = {}
    for mode in sorted(tally.modes, key=lambda label: MarginMode.of(label)):
        rows = np.flatnonzero((state.role == Role.TRADER) & (state.margin_mode == MarginMode.of(mode)))
        out[mode] = _group_summary(state, tally.modes[mode], rows, decimals)
    return out


def strategy_summaries(state: ClearingState, tally: MarketTally, decimals: int) -> dict[str, ModeSummary]:
    """Return the traders' summary per portfolio type (`strategy_assigned`), in the population's order; empty without types."""
    out = {}
    for k, name in enumerate(state.strategy_names):
        rows = np.array(sorted(a for a, s in state.strategy_of.items() if s == k), np.int64)
        out[name] = _group_summary(state, tally.strategies.get(name, ModeCounts()), rows, decimals)
    return out


def _group_summary(state: ClearingState, counts: ModeCounts, rows: Int64Array, decimals: int) -> ModeSummary:
    # One group's counts, and the requirement of its accounts still holding positions at the end.
    rows = rows[state.position[rows].any(axis=1)]
    requirement = int(account_risk(state, rows)[1].sum()) if rows.size else 0
    return ModeSummary(
        counts.traders, counts.liquidations, format_minor(counts.liquidated_notional, decimals),
        format_minor(counts.insurance_paid, decimals), format_minor(counts.bad_debt, decimals),
        format_minor(counts.margin_posted, decimals), format_minor(requirement, decimals), len(counts.liquidated_accounts),
    )  # fmt: skip


def _price(ticks: int, tick_size: Decimal) -> str | None:
    return str(ticks * tick_size) if ticks else None


def market_summary(state: ClearingState, market: int, tally: MarketTally) -> MarketSummary:
    """Return the summary of one market of `state`, with its counts from `tally`."""
    listing = state.markets[market]
    tick, decimals = Decimal(listing.tick_size), listing.quote_decimals
    column = state.position[:, market]
    long_lots = int(column[column > 0].sum())
    counts = tally.counts(market)
    terms = state.inverse.get(market)
    settles_in, funding_decimals = "quote", decimals
    if terms is not None:
        settles_in, funding_decimals = state.assets[terms.asset].symbol, state.assets[terms.asset].decimals
    return MarketSummary(
        market=market,
        index=_price(int(state.index_ticks[market]), tick),
        oracle=_price(int(state.oracle_ticks[market]), tick),
        mark=_price(int(state.mark_ticks[market]), tick),
        last_trade=_price(int(state.last_trade_ticks[market]), tick),
        open_interest=str(long_lots * Decimal(listing.lot_size)),
        open_interest_notional=format_minor(trade_notional(state, market, long_lots, valuation_price(state, market)), decimals),
        liquidations=counts.liquidations,
        liquidated_notional=format_minor(counts.liquidated_notional, decimals),
        adl_events=counts.adl_events,
        adl_notional=format_minor(counts.adl_notional, decimals),
        socialised_loss=format_minor(counts.socialised_loss, decimals),
        socialisations=counts.socialisations,
        funding_rate_ppb=int(state.funding_rate_ppb[market]),
        funding_paid=format_minor(counts.funding_paid, funding_decimals),
        settles_in=settles_in,
    )


# The summary's fields that are money in quote (decimal strings), and a market's (an inverse market's funding is in
# its coin: `MarketSummary.settles_in`).
MONEY_FIELDS = frozenset({
    "liquidated_notional", "liquidated_notional_book", "liquidated_notional_backstop", "liquidated_notional_fund",
    "bad_debt", "insurance_fund_end", "insurance_fund_equity", "insurance_fund_swept", "insurance_fund_min",
    "insurance_paid", "fee_pool", "adl_notional", "socialised_loss",
})  # fmt: skip
MARKET_MONEY_FIELDS = ("open_interest_notional", "liquidated_notional", "adl_notional", "socialised_loss", "funding_paid")


def quote_name(symbols: Any) -> str:
    """Return the quote currency's name for display: the stablecoin or USD a first symbol ends in, else "quote"."""
    first = next(iter(symbols), "")
    match = re.match(r"^[A-Z0-9]+?(USDT|USDC|BUSD|FDUSD|USD)(?:[-_].*)?$", first)
    return match.group(1) if match else "quote"


def separated(amount: str, currency: str = "") -> str:
    """Return a decimal string with thousands separators in its whole part, then the currency if given:
    ("-1234567.50", "USDT") -> "-1,234,567.50 USDT"."""
    sign, body = ("-", amount[1:]) if amount.startswith("-") else ("", amount)
    whole, dot, fraction = body.partition(".")
    text = f"{sign}{int(whole):,}{dot}{fraction}" if whole.isdigit() else amount
    return f"{text} {currency}" if currency else text


def render_text(summary: RunSummary, quote: str = "") -> str:
    """Return the summary as aligned `key  value` lines for a terminal, then a table of the markets by symbol.

    Money is shown with thousands separators and its currency (`quote`, else the name the
    first market's symbol ends in, `quote_name`); `--json` keeps the plain decimal strings.
    """
    unit = quote or quote_name(summary.markets)
    money = MONEY_FIELDS
    skip = ("markets", "asset_pools", "modes", "strategies", "margin_calls", "traders")
    fields = {k: v for k, v in summary.as_dict().items() if k not in skip}
    fields |= {f"asset_pool_{symbol}": amount for symbol, amount in summary.asset_pools.items()}
    for prefix, groups in (("mode", summary.modes), ("strategy", summary.strategies)):
        for name, m in groups.items():
            fields[f"{prefix}_{name}"] = (
                f"{m.traders:,} accounts, {m.liquidations:,} liquidations of {m.accounts_liquidated:,} "
                f"({separated(m.liquidated_notional, unit)}), insurance paid {separated(m.insurance_paid, unit)}, bad debt "
                f"{separated(m.bad_debt, unit)}, margin posted {separated(m.margin_posted, unit)}, requirement at the end "
                f"{separated(m.requirement_end, unit)}"
            )
    if summary.margin_calls:
        c = summary.margin_calls
        fields["margin_calls"] = (
            f"{c['calls']} calls: {c['top_up']} to top up ({c['topped_up']} topped up), {c['reduce']} to reduce, "
            f"{c['none']} ignored"
        )
    if summary.traders:
        fields["traders"] = (f"{summary.traders.get('stops', 0)} stop-losses fired, "
                             f"{summary.traders.get('reentries', 0)} re-entries")  # fmt: skip
    width = max(len(k) for k in fields)
    lines = [f"{key:<{width}}  {separated(value, unit) if key in money else value}" for key, value in fields.items()]
    return "\n".join([*lines, *market_table(summary.markets, width, unit)])


def market_table(markets: dict[str, MarketSummary], width: int = 0, quote: str = "") -> list[str]:
    """Return the markets as text lines: a column per symbol, a row per field (none without a market).

    With `quote`, money shows with separators and its currency (an inverse market's funding in its coin).
    """
    if not markets:
        return []

    def cell(m: MarketSummary, name: str) -> str:
        value = getattr(m, name)
        if not quote or name not in MARKET_MONEY_FIELDS or value is None:
            return _cell(value)
        currency = m.settles_in if name == "funding_paid" and m.settles_in != "quote" else quote
        return separated(str(value), currency)

    rows = [("market", list(markets))]
    rows += [(f"  {name}", [cell(m, name) for m in markets.values()]) for name in _MARKET_ROWS]
    width = max(width, *(len(label) for label, _ in rows))
    columns = [max(len(row[1][i]) for row in rows) for i in range(len(markets))]
    return [
        f"{label:<{width}}  " + "  ".join(f"{v:<{w}}" for v, w in zip(values, columns, strict=True)).rstrip()
        for label, values in rows
    ]


_MARKET_ROWS = tuple(name for name in MarketSummary.__dataclass_fields__ if name != "market")


def _cell(value: Any) -> str:
    return "-" if value is None else str(value)
