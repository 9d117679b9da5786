"""What a crash day's run did, measured from its log: the figures `clearing validate` sets beside the reported ones.

One fold of the log (`fold_log`, chain-checked) with one observer:

- **liquidation peak**: the minute (UTC) with the largest liquidated notional (each
  `liquidation_completed`'s notional in the minute it completed), with its count;
- **liquidated share of open interest**: the notional liquidated over the whole run divided by
  the open interest at the start, both in quote. Open interest is the whole market's: the sum
  of every long position (= every short), valued at the mark (the index before one) once every
  event at time 0 was applied (the positions standing at the start have opened);
- **fund draw**: the insurance fund's seed minus its lowest balance; **ADL**: the notional
  auto-deleveraged;
- **mark error**: per minute of the tape, |mark at the minute's end - the tape's close| / close,
  its mean and largest;
- **funding**: the run's rate at each real settlement (`compare_funding`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

from clearing import events as ev
from clearing.apps.fold import Folded, Observer, fold_log
from clearing.apps.funding_check import compare_funding
from clearing.core.paths import Bars
from clearing.core.state import ClearingState
from clearing.data import tapes
from clearing.data.directory import resolve_data_file
from clearing.errors import ConfigError, DataError
from clearing.log.reader import RunHeader
from clearing.scenario import Scenario

MINUTE_NS = 60 * 10**9


@dataclass
class DayMetrics:
    """One run's figures (money in whole quote units, times as UTC text)."""

    peak_utc: str  # the minute with the most notional liquidated ("" with no liquidation)
    peak_notional: float
    peak_liquidations: int
    liquidations: int
    liquidated_notional: float
    open_interest: float  # at the start, the whole market's (every long = every short)
    liquidated_share: float  # liquidated_notional / open_interest
    fund_seed: float
    fund_draw: float  # seed - lowest balance
    adl_notional: float
    bad_debt: float
    mark_error_mean: float  # fractions, per minute of the tape
    mark_error_max: float
    funding: dict[str, Any]  # `FundingComparison.summary()`, or {} when the run paid none
    minutes: list[tuple[str, float, int]]  # every minute with a liquidation: (UTC, notional, count)

    def as_dict(self) -> dict[str, Any]:
        """Return the figures as a JSON-ready dict."""
        return asdict(self)


class _Day(Observer):
    kinds = frozenset({"liquidation_completed", "mark_price_updated", "oracle_price_delivered", "insurance_fund_deposited"})

    def __init__(self) -> None:
        self.header: RunHeader | None = None
        self.by_minute: dict[int, list[int]] = {}  # minute -> [notional, count]
        self.marks: dict[int, int] = {}  # minute -> the last mark in it (ticks), market 0
        self.oracle_marks: dict[int, int] = {}  # the same from oracle deliveries (a venue whose mark is the oracle)
        self.fund_seed = 0

    def begin(self, path: Path, header: RunHeader) -> None:
        self.header = header

    def event(self, seq: int, kind: str, event: ev.Event, state: ClearingState) -> None:
        minute = event.ts_ns // MINUTE_NS
        if isinstance(event, ev.LiquidationCompleted):
            row = self.by_minute.setdefault(minute, [0, 0])
            row[0] += event.notional
            row[1] += 1
        elif isinstance(event, ev.MarkPriceUpdated) and event.market == 0:
            self.marks[minute] = event.price_ticks
        elif isinstance(event, ev.OraclePriceDelivered) and event.market == 0:
            self.oracle_marks[minute] = event.price_ticks
        elif isinstance(event, ev.InsuranceFundDeposited) and event.ts_ns == 0:
            self.fund_seed += event.amount


def open_interest(state: ClearingState, market: int = 0) -> int:
    """Return the market's open interest in quote minor units: every long position at the valuation price."""
    spec = state.markets[market]
    price = int(state.mark_ticks[market]) or int(state.index_ticks[market])
    longs = int(np.clip(state.position[:, market], 0, None).sum())
    return longs * price * spec.unit_value


def day_metrics(log: Path | str, data_dir: str | Path | None = None) -> DayMetrics:
    """Return a crash day's figures from its log (the tape it ran on read from the data directory).

    Raises:
        VerificationError, EventLogError: as `fold_log`.
        DataError: the run's tape is not in the data directory.
        ConfigError: the run is not on a tape.
    """
    day = _Day()
    folded = fold_log(log, [day])
    assert day.header is not None
    scenario = Scenario.model_validate_json(day.header.scenario_json)
    start = fold_log(log, until_ns=0).state  # every position standing at the start has opened
    return _metrics(day, folded, open_interest(start), scenario, _tape(scenario, data_dir), log, data_dir)


def _tape(scenario: Scenario, data_dir: str | Path | None) -> Bars:
    price = scenario.price
    if price.model != "tape" or not price.files:
        raise ConfigError(f"scenario {scenario.name}: not run on a tape file; a crash day's mark is compared with its tape")
    tick = Decimal(scenario.market.tick_size)
    parts = [tapes.read_bars(resolve_data_file(name, data_dir), tick) for name in price.files]
    return tapes.concat_bars(parts, list(price.files))


def _metrics(day: _Day, folded: Folded, oi: int, scenario: Scenario, tape: Bars, log: Path | str,
             data_dir: str | Path | None) -> DayMetrics:  # fmt: skip
    state, header = folded.state, folded.header
    decimals = state.markets[0].quote_decimals
    whole = 10**decimals
    epoch = header.epoch
    utc = lambda minute: (epoch + timedelta(minutes=minute)).strftime("%Y-%m-%dT%H:%MZ")  # noqa: E731
    minutes = sorted(day.by_minute.items())
    peak = max(minutes, key=lambda item: (item[1][0], -item[0])) if minutes else None
    marks = day.marks or day.oracle_marks
    epoch_ms = int(epoch.timestamp() * 1000)
    errors = []
    for open_ms, close in zip(tape.open_ms.tolist(), tape.close.tolist(), strict=True):
        minute = (open_ms - epoch_ms) // 60_000
        if minute in marks and close > 0:
            errors.append(abs(marks[minute] - close) / close)
    if not errors:
        raise DataError(f"{log}: no minute of the tape {', '.join(scenario.price.files)} falls inside the run")
    try:
        funding = compare_funding(log, data_dir=data_dir).summary()
    except ConfigError:  # the run paid no funding
        funding = {}
    liquidated = state.liquidated_notional
    return DayMetrics(
        peak_utc=utc(peak[0]) if peak else "", peak_notional=peak[1][0] / whole if peak else 0.0,
        peak_liquidations=peak[1][1] if peak else 0, liquidations=state.liquidations, liquidated_notional=liquidated / whole,
        open_interest=oi / whole, liquidated_share=liquidated / oi if oi else 0.0, fund_seed=day.fund_seed / whole,
        fund_draw=(day.fund_seed - min(state.insurance_fund_min, day.fund_seed)) / whole,
        adl_notional=state.adl_notional / whole, bad_debt=state.bad_debt / whole,
        mark_error_mean=float(np.mean(errors)), mark_error_max=float(np.max(errors)), funding=funding,
        minutes=[(utc(m), n / whole, c) for m, (n, c) in minutes],
    )  # fmt: skip


def utc_minute(text: str) -> datetime:
    """Return a minute written as the metrics write it ("2021-05-19T12:54Z") as an aware UTC datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def minutes_apart(simulated_utc: str, real: datetime) -> float | None:
    """Return |simulated - real| in minutes (None with no simulated peak)."""
    if not simulated_utc:
        return None
    at = utc_minute(simulated_utc)
    return abs((at - real) / timedelta(minutes=1))


def share_in(metrics: DayMetrics, window: tuple[datetime, datetime]) -> float:
    """Return the notional liquidated within `window` over the open interest at the start."""
    start, end = window
    notional = sum(n for at, n, _c in metrics.minutes if start <= utc_minute(at) < end)
    return notional / metrics.open_interest if metrics.open_interest else 0.0
