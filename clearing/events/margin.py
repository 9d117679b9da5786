"""Event kinds of margin: breaches, and the portfolio-margin configuration and return window."""

from __future__ import annotations

from typing import ClassVar

from clearing.events.base import Event


class MarginBreached(Event, frozen=True, kw_only=True, tag="margin_breached"):
    """An account's equity fell below its requirement; it enters the liquidation queue.

    `equity`, `requirement` and `liquidation_price_ticks` are audit copies: replay
    recomputes and compares them. v2 adds `liquidation_price_ticks`: the price of `market`
    at which the account reaches its requirement, the others held (`clearing.core.margin.
    liquidation_price` of its cross backing; 0 for a portfolio account, or none).
    """

    VERSION: ClassVar[int] = 2
    account: int
    market: int
    mark_ticks: int
    equity: int
    requirement: int
    liquidation_price_ticks: int = 0


class PortfolioMarginConfigured(Event, frozen=True, kw_only=True, tag="portfolio_margin_configured"):
    """How portfolio-margined accounts are margined (see `clearing.core.margin.account_requirements`).

    `method` "span": CME's 16 scenarios over each market's `scan_range_ppm`, the extreme
    moves at `extreme_multiple` ranges counting `extreme_cover_pct` %, and the
    inter-commodity credit; "grid": Deribit's scenario grid over every market of an
    underlying, options revalued (`grid_margin_configured` follows); "es": the mean of the `es_tail` worst losses over the last
    `es_window` returns of `es_horizon` samples (`return_window_sampled`).
    Sources: docs/references.md [cme-span], [span-scenario-table]; [lch-es-2013].
    """

    method: str
    scan_range_ppm: tuple[int, ...]
    inter_commodity_credit_ppm: int
    extreme_multiple: int
    extreme_cover_pct: int
    es_window: int
    es_horizon: int
    es_tail: int


class MarginCalled(Event, frozen=True, kw_only=True, tag="margin_called"):
    """An account's equity fell below its initial requirement but not its maintenance: a margin call.

    `equity`, `requirement` (maintenance) and `initial` are audit copies at the call
    (`clearing.core.risk.initial_requirements`). `response` is what the trader will do,
    drawn by the scenario's `[margin_calls]` shares: "top_up" (deposit back to the initial
    requirement, within its outside funds), "reduce" (close part of every position) or
    "none"; `delay_ns` when it will act (its `margin_topped_up` or orders cite this event).
    """

    account: int
    equity: int
    requirement: int
    initial: int
    response: str
    delay_ns: int


class MarginToppedUp(Event, frozen=True, kw_only=True, tag="margin_topped_up"):
    """A called trader brought quote from outside into account `account` (a deposit that answers its margin call)."""

    account: int
    amount: int


class GridMarginConfigured(Event, frozen=True, kw_only=True, tag="grid_margin_configured"):
    """The scenario grid portfolio accounts are margined by, when `portfolio_margin_configured`'s method is "grid".

    Deribit's grid (`clearing.core.portfolio.grid.GridParams`), in integers: the underlying
    moves across +-`price_range_ppm` in `buckets` steps each way; each option's volatility
    is shocked by range x (30 / DTE)^power up (`vol_up_ppm`) and down (`vol_down_ppm`), the
    power `short_term_power_ppm` to 30 days and `long_term_power_ppm` beyond; the extended
    moves count at `extended_weight_ppm` (0: not evaluated); initial = maintenance /
    `mm_factor_ppm`. Time to expiry is measured at the start of the current
    `time_step_ns`. Sources: docs/references.md [deribit-pm], [deribit-pm-history].
    """

    price_range_ppm: int
    buckets: int
    vol_up_ppm: int
    vol_down_ppm: int
    short_term_power_ppm: int
    long_term_power_ppm: int
    extended_moves_ppm: tuple[int, ...]
    extended_weight_ppm: int
    mm_factor_ppm: int
    time_step_ns: int


class SpanMarginConfigured(Event, frozen=True, kw_only=True, tag="span_margin_configured"):
    """SPAN's risk arrays with the volatility leg, when `portfolio_margin_configured`'s method is "span".

    Per underlying u, every market on it (perpetual, dated futures, live options) is
    revalued in CME's 16 scenarios: the price moves by thirds of u's `scan_range_ppm` (and
    +-`extreme_multiple` of it at `extreme_cover_pct` %), an option's volatility by
    +-`vol_scan_ppm`[u] (absolute, x 10^6); time to expiry is measured at the start of the
    current `time_step_ns`. The intra-commodity spread charge is `intra_rate_ppm`[u] of the
    delta matched across expiry tiers (at u's price); the short option minimum is
    `short_option_minimum_ppm` of the underlying notional of each short option lot. A log
    without this event margins method "span" by the earlier linear rule (each market alone,
    options by the standard short-option rule). Sources: docs/references.md [cme-span],
    [span-scenario-table], [cme-span-intra], [cme-span-som].
    """

    vol_scan_ppm: tuple[int, ...]
    intra_rate_ppm: tuple[int, ...]
    short_option_minimum_ppm: int
    time_step_ns: int


class EsMarginConfigured(Event, frozen=True, kw_only=True, tag="es_margin_configured"):
    """Expected shortfall by filtered historical simulation, when `portfolio_margin_configured`'s method is "es".

    The return window's rows (every market's return over `es_horizon` samples) are joint
    scenarios; each market's returns are rescaled to today's volatility by EWMA with decay
    `lambda_ppm` (x 10^6); the stress scenarios are `stress_returns_ppm` (rows of returns
    of the markets `stress_markets`, ppm, from the data directory's tapes), used as they
    are, a floor. A market moves by its own return in the window and by its underlying's in
    the stress rows (0 when its underlying has none); options are revalued at their
    underlying's scenario price. A log without this event margins method "es" by the
    earlier linear rule. Sources: docs/references.md [lch-pairs], [eurex-prisma],
    [riskmetrics-1996].
    """

    lambda_ppm: int
    stress_markets: tuple[int, ...]
    stress_returns_ppm: tuple[tuple[int, ...], ...]
    stress_source: str
    time_step_ns: int


class ReturnWindowSampled(Event, frozen=True, kw_only=True, tag="return_window_sampled"):
    """Every market's mark, sampled into the rolling window expected-shortfall margin scans."""

    prices_ticks: tuple[int, ...]


class MarginRatesSet(Event, frozen=True, kw_only=True, tag="margin_rates_set"):
    """Dynamic margin moved market `market`'s maintenance brackets: its listed rates times `multiplier_ppm`.

    `bracket_rates_ppm` replaces the rates of the market's brackets (their floors stay the
    listing's); the first is the maintenance rate. `vol_ppm` (the EWMA volatility of the
    mark, annualised, x 10^6) and `open_interest` (quote minor units) are what the rule read
    (`clearing.core.dynamic_margin`), recorded for the reader: replay applies the rates.
    """

    market: int
    multiplier_ppm: int
    bracket_rates_ppm: tuple[int, ...]
    vol_ppm: int
    open_interest: int
