"""Clearing state as struct-of-arrays; `clearing.core.state.apply` is the only function that changes it.

The live run and replay both fold events through `apply`; nothing else writes to a
`ClearingState`. Accounts are rows, markets columns. Money is int64 quote minor units.

Ledger convention: `cash` is an account's wallet balance minus the cost of its open
positions, so equity at mark P is `cash + position * P * unit_value`. Trades move `cash`
between buyer and seller exactly, which makes the sum of `cash` (= total equity at any
common price, since long and short lots cancel) the conserved quantity.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Iterable

import msgspec
import numpy as np

from clearing import events as ev
from clearing.core.book import Book
from clearing.core.margin import Brackets, PortfolioParams, historical_returns_ppm, margin_cash
from clearing.core.options.surface import VolSurface
from clearing.core.portfolio.grid import GridParams
from clearing.core.portfolio.revaluation import ScenarioTable
from clearing.core.state.schema import (
    ARRAY_FIELDS,
    ASSET_ARRAYS,
    DIGEST_VERSION,
    MARKET_ARRAYS,
    SCALAR_FIELDS,
    IncomingOrder,
    InverseTerms,
    Observation,
)
from clearing.units import Int64Array


def _objects(events: Iterable[ev.Event]) -> bytes:
    # A JSON array of events as objects (`ev.encode_object`): the bytes the digest has hashed of them since before events
    # encoded as arrays (decision 0031), so that a state's digest did not change with the log's layout.
    return b"[" + b",".join(ev.encode_object(e) for e in events) + b"]"

class ClearingState:
    """Everything a run knows at one instant; mutated only by `apply`.

    Attributes (N accounts, M markets):
        role: (N,) int8, a `Role`; margin_mode: (N,) int8, a `MarginMode` (`schema`).
        portfolio_config, portfolio: how portfolio accounts are margined (None: not set);
        grid_config, grid: the scenario grid of portfolio method "grid" (None: not set);
        span_config, es_config: SPAN's risk arrays of method "span", the filtered expected
            shortfall of method "es" (None: not set; those methods then margin linearly);
        scenario_tables: derived, not state: each underlying's scenario table last built
            (`clearing.core.scenario_margin.scenario_tables` rebuilds one whose inputs changed);
        return_samples: the marks sampled into the expected-shortfall window.
        cash: (N,) int64 quote minor units, wallet balance minus open-position cost.
        position: (N, M) int64 lots, signed (long > 0).
        entry_cost: (N, M) int64 quote minor units, signed cost of the open position.
        liquidating: (N,) bool, queued for liquidation and not yet settled.
        index_ticks, oracle_ticks, mark_ticks, last_trade_ticks: (M,) int64 current prices.
        oracle_source_ns: (M,) int64 observation time of the visible oracle price.
        published_ticks, published_ns: (M,) int64 the oracle's last publication.
        oracle_confidence_ticks: (M,) int64 the confidence of the visible oracle price.
        oracle_published_ns: (M,) int64 publication time of the visible oracle price.
        published_source_ns, published_confidence_ticks: (M,) int64 observation time and
            confidence of the oracle's last publication (what a pull would deliver).
        oracle_sources: per market, its listed sources; observations: per market and source,
            the latest reading that reached the oracle (None before the first).
        funding_rate_ppb: (M,) int64 the last funding rate, parts per 10^9.
        premium_samples, premium_weighted_sum, premium_weight: (M,) int64 the running
            time-weighted premium average of the current funding interval.
        books: one `Book` per market; incoming: orders being matched, by id;
        quotes: each market maker's resting quote ids, by (account, market).
        assets, collateral: (N, A) int64 collateral asset minor units per account; asset_*
            (A,) the assets' decimals, haircuts, deposits, venue and oracle prices.
        contracts: the contract of each market that is not a linear perpetual, by market;
            settlement_prices: each expired market's settlement price; settlement_clearing:
            minus the amounts settled positions were credited (zero once a market settled);
            surfaces: the implied-volatility surface of each underlying with options, by market.
        inverse: each inverse perpetual's settlement asset and k (`clearing.core.inverse`), by
            market; asset_pool: the coin its trades' dust and fees leave with the house, by asset;
            asset_clearing: the coin funding ledger, by asset (0 outside a settlement).
        strategy_names, strategy_of: the population's portfolio types and each typed trader
            account's type (`strategy_assigned`);
        margin_calls, margin_call_counts: each called account's last call time; the calls by
            response and the quote topped up (`margin_called`, `margin_topped_up`);
        dynamic_rates: each market whose rates dynamic margin moved, its multiplier and rates
            (`margin_rates_set`); `brackets` and `maintenance_margin_ppm` hold them in force.
        touched: None, or (while a margin monitor reads it) the rows whose cash, position or
            collateral changed since it last looked; `TOUCHED_ALL` when a collateral price
            moved. Bookkeeping for the monitor's cache, not state: not in the digest.
    """

    def __init__(self) -> None:
        self.markets: list[ev.MarketListed] = []
        self.brackets: list[Brackets] = []
        self.books: list[Book] = []
        self.incoming: dict[int, IncomingOrder] = {}
        self.quotes: dict[tuple[int, int], tuple[int, ...]] = {}
        self.oracle_sources: list[list[ev.OracleSourceListed]] = []
        self.observations: list[list[Observation | None]] = []
        self.next_order_id = 1
        self.unit_value: Int64Array = np.zeros(0, np.int64)
        self.maintenance_margin_ppm: Int64Array = np.zeros(0, np.int64)
        for name in MARKET_ARRAYS:
            setattr(self, name, np.zeros(0, np.int64))
        self.role = np.zeros(0, np.int8)
        self.margin_mode = np.zeros(0, np.int8)
        self.cash: Int64Array = np.zeros(0, np.int64)
        self.position: Int64Array = np.zeros((0, 0), np.int64)
        self.entry_cost: Int64Array = np.zeros((0, 0), np.int64)
        self.portfolio_config: ev.PortfolioMarginConfigured | None = None
        self.portfolio: PortfolioParams | None = None
        self.grid_config: ev.GridMarginConfigured | None = None
        self.grid: GridParams | None = None  # the scenario grid of portfolio method "grid"
        self.span_config: ev.SpanMarginConfigured | None = None  # SPAN's risk arrays of method "span"
        self.es_config: ev.EsMarginConfigured | None = None  # filtered expected shortfall of method "es"
        self.scenario_tables: dict[int, ScenarioTable] = {}  # derived: each underlying's last scenario table (not state)
        self.return_samples: deque[tuple[int, ...]] = deque()
        self.return_count = 0  # derived: samples appended so far (a scenario table's key)
        self.returns_cache: Int64Array | None = None
        self.assets: list[ev.CollateralListed] = []
        self.collateral: Int64Array = np.zeros((0, 0), np.int64)
        for name in ASSET_ARRAYS:
            setattr(self, name, np.zeros(0, np.int64))
        self.liquidating = np.zeros(0, np.bool_)
        self.touched: list[int] | None = None
        self.contracts: dict[int, ev.ContractSpecified] = {}  # markets that are not linear perpetuals
        self.settlement_prices: dict[int, int] = {}  # expired markets' settlement prices (their ticks)
        self.settlement_clearing = 0  # minus what settled positions were credited; 0 once a market settled
        self.surfaces: dict[int, VolSurface] = {}  # implied-vol surfaces, by underlying market
        self.inverse: dict[int, InverseTerms] = {}  # inverse perpetuals: settlement asset and coin per lot-tick
        self.asset_pool: dict[int, int] = {}  # coin the house holds per settlement asset: trade dust and fees
        self.asset_clearing: dict[int, int] = {}  # per settlement asset, 0 except inside a coin funding settlement
        self.strategy_names: list[str] = []  # the population's portfolio types, in order (`strategy_assigned`)
        self.strategy_of: dict[int, int] = {}  # trader account -> its portfolio type
        self.margin_calls: dict[int, int] = {}  # account -> the time of its last margin call
        self.margin_call_counts = dict.fromkeys(("calls", "top_up", "reduce", "none", "topped_up"), 0)
        self.behaviour_counts = dict.fromkeys(("stops", "reentries"), 0)  # the traders' stop-losses and re-entries
        self.dynamic_rates: dict[int, tuple[int, tuple[int, ...]]] = {}  # market -> (multiplier, bracket rates) set last
        self.breach_ns: Int64Array = np.zeros(0, np.int64)
        self.last_partial_ns: Int64Array = np.zeros(0, np.int64)
        self.deposits = 0
        self.insurance_fund = 0
        self.insurance_fund_min = 0  # lowest balance after the first payout (or the seed)
        self.fund_max_per_event = 0  # payout caps, 0: none
        self.fund_max_per_period = 0
        self.fund_period_ns = 0
        self.fund_window: deque[tuple[int, int]] = deque()  # (time, amount) of payouts in the last period
        self.fee_pool = 0
        self.funding_clearing = 0
        self.funding_volume = 0
        self.bad_debt = 0
        self.insurance_paid = 0
        self.breaches = 0
        self.liquidations = 0
        self.liquidated_notional = 0
        self.backlog = 0
        self.max_backlog = 0
        self.max_queue_wait_ns = 0
        self.liquidation_fills_book = 0  # liquidation fills by stage: the book, then the backstop
        self.liquidated_notional_book = 0
        self.liquidation_fills_backstop = 0
        self.liquidated_notional_backstop = 0
        self.liquidation_fills_fund = 0  # liquidated positions the insurance fund took over
        self.liquidated_notional_fund = 0
        self.fund_swept = 0  # the fund account's realised trading result, swept into the fund
        self.oracle_lagged_liquidations = 0  # liquidations with a delivered oracle price, and its age then
        self.oracle_lag_sum_ns = 0
        self.oracle_lag_max_ns = 0
        self.adl_events = 0
        self.adl_notional = 0
        self.socialised_loss = 0
        self.socialisations = 0
        self.rejections = 0
        self.oracle_failures = 0
        self.guard_blocks = 0
        self.events_applied = 0
        self.now_ns = 0

    # Per-market arrays, declared for type checkers; created in __init__.
    index_ticks: Int64Array
    oracle_ticks: Int64Array
    oracle_source_ns: Int64Array
    published_ticks: Int64Array
    published_ns: Int64Array
    mark_ticks: Int64Array
    last_trade_ticks: Int64Array
    funding_rate_ppb: Int64Array
    premium_weighted_sum: Int64Array
    premium_weight: Int64Array
    premium_samples: Int64Array
    oracle_confidence_ticks: Int64Array
    oracle_published_ns: Int64Array
    published_source_ns: Int64Array
    published_confidence_ticks: Int64Array
    asset_decimals: Int64Array
    asset_haircut_ppm: Int64Array
    asset_deposits: Int64Array
    asset_venue_ticks: Int64Array
    asset_oracle_ticks: Int64Array
    asset_oracle_source_ns: Int64Array
    asset_published_ticks: Int64Array
    asset_published_ns: Int64Array

    @property
    def n_accounts(self) -> int:
        """Return the number of open accounts."""
        return int(self.cash.shape[0])

    @property
    def n_markets(self) -> int:
        """Return the number of listed markets."""
        return len(self.markets)

    def fund_payable(self, now_ns: int) -> int:
        """Return the most the insurance fund may pay now under its caps (its balance when uncapped)."""
        payable = self.insurance_fund
        if self.fund_max_per_event:
            payable = min(payable, self.fund_max_per_event)
        if self.fund_max_per_period:
            recent = sum(a for t, a in self.fund_window if t > now_ns - self.fund_period_ns)
            payable = min(payable, self.fund_max_per_period - recent)
        return max(payable, 0)

    def window_returns(self) -> Int64Array | None:
        """Return the return window's returns (T, M) in ppm over `es_horizon` samples, or None before the first."""
        config = self.portfolio_config
        if config is None or len(self.return_samples) <= config.es_horizon:
            return None
        if self.returns_cache is None:
            self.returns_cache = historical_returns_ppm(np.array(self.return_samples, np.int64), config.es_horizon)
        return self.returns_cache

    @property
    def table_method(self) -> str | None:
        """Return how portfolio accounts are margined by scenario tables: "grid", "span", "es", or None (linearly)."""
        if self.grid is not None:
            return "grid"
        if self.span_config is not None:
            return "span"
        if self.es_config is not None:
            return "es"
        return None

    def touch(self, *rows: int) -> None:
        """Note that the margin inputs of `rows` changed (when a monitor is reading `touched`)."""
        if self.touched is not None:
            self.touched.extend(rows)

    def margin_cash(self, rows: slice | Int64Array = slice(None)) -> Int64Array:
        """Return cash plus collateral value (oracle price less haircut) of `rows`: what backs margin."""
        return margin_cash(
            self.cash[rows], self.collateral[rows], self.asset_oracle_ticks, self.asset_decimals, self.asset_haircut_ppm
        )

    def digest(self) -> str:
        """Return the SHA-256 hex digest of the full state, in a fixed canonical order."""
        h = hashlib.sha256(f"clearing-state/{DIGEST_VERSION};".encode())
        for market in self.markets:
            h.update(ev.encode_object(market))
        for asset in self.assets:
            h.update(ev.encode_object(asset))
        if self.portfolio_config is not None:
            h.update(ev.encode_object(self.portfolio_config))
            h.update(msgspec.json.encode(list(self.return_samples)))
        for config in (self.grid_config, self.span_config, self.es_config):
            if config is not None:
                h.update(ev.encode_object(config))
        for name in ARRAY_FIELDS:
            array = np.ascontiguousarray(getattr(self, name))
            h.update(f"{name}:{array.dtype.str}:{array.shape};".encode())
            h.update(array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes())
        for name in SCALAR_FIELDS:
            h.update(f"{name}={int(getattr(self, name))};".encode())
        h.update(msgspec.json.encode([book.canonical() for book in self.books]))
        h.update(msgspec.json.encode(sorted((k, o.canonical()) for k, o in self.incoming.items())))
        h.update(msgspec.json.encode(sorted(self.quotes.items())))
        h.update(b"[" + b",".join(_objects(sources) for sources in self.oracle_sources) + b"]")
        h.update(msgspec.json.encode(list(self.fund_window)))
        if self.contracts or self.surfaces:  # perpetual-only runs keep the digests they had before
            h.update(_objects([self.contracts[m] for m in sorted(self.contracts)]))
            h.update(msgspec.json.encode([sorted(self.settlement_prices.items()), self.settlement_clearing]))
            if self.asset_pool:
                h.update(msgspec.json.encode([sorted(self.asset_pool.items()), sorted(self.asset_clearing.items())]))
            surfaces = sorted(self.surfaces.items())
            h.update(msgspec.json.encode([(m, s.expiries_ns, s.log_moneyness_ppm, s.vol_ppm) for m, s in surfaces]))
        h.update(msgspec.json.encode([[o.canonical() if o else None for o in obs] for obs in self.observations]))
        if self.strategy_names:  # runs without portfolio types keep the digests they had before
            h.update(msgspec.json.encode([self.strategy_names, sorted(self.strategy_of.items())]))
        if self.margin_calls:  # runs without margin calls keep the digests they had before
            h.update(msgspec.json.encode([sorted(self.margin_calls.items()), sorted(self.margin_call_counts.items())]))
        if any(self.behaviour_counts.values()):  # runs without stops or re-entries keep the digests they had before
            h.update(msgspec.json.encode(sorted(self.behaviour_counts.items())))
        if self.dynamic_rates:  # runs without dynamic margin keep the digests they had before
            h.update(msgspec.json.encode(sorted(self.dynamic_rates.items())))
        return h.hexdigest()

