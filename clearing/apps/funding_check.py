"""A run's funding beside what the venue really paid (`clearing funding LOG`).

Each real settlement of the market's symbol that falls inside the run (the data directory's
`funding_rates_usdm_crashdays.csv`, `clearing.data.funding_rates`) is set beside the run's
`funding_rate_set` at that time: the rate each charged for its interval, the difference, and
whether they agree on who paid. The log is verified as it is read (`fold_log`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clearing import events as ev
from clearing.apps.fold import Observer, fold_log
from clearing.core.state import ClearingState
from clearing.data.funding_rates import FUNDING_FILE, read_settlements
from clearing.errors import ConfigError
from clearing.log.reader import RunHeader, utc_text

MATCH_NS = 60 * 10**9  # a simulated settlement within a minute of the real one is the same settlement


class _Funding(Observer):
    kinds = frozenset({"market_listed", "funding_rate_set"})
    needs_state = False

    def __init__(self) -> None:
        self.symbols: dict[int, str] = {}
        self.rates: dict[int, list[tuple[int, int]]] = {}  # market -> [(ts_ns, rate_ppb)]
        self.header: RunHeader | None = None

    def begin(self, path: Path, header: RunHeader) -> None:
        self.header = header

    def event(self, seq: int, kind: str, event: ev.Event, state: ClearingState) -> None:
        if isinstance(event, ev.MarketListed):
            self.symbols[event.market] = event.symbol
        elif isinstance(event, ev.FundingRateSet):
            self.rates.setdefault(event.market, []).append((event.ts_ns, event.rate_ppb))


@dataclass
class FundingComparison:
    """The settlements compared, one row each, and their summary."""

    symbol: str
    rows: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """Return the count compared, the mean and largest absolute difference (ppb) and the share agreeing on sign."""
        matched = [r for r in self.rows if r["simulated_ppb"] is not None]
        diffs = [abs(r["simulated_ppb"] - r["real_ppb"]) for r in matched]
        agree = sum(1 for r in matched if (r["simulated_ppb"] > 0) == (r["real_ppb"] > 0) or r["simulated_ppb"] == r["real_ppb"])
        return {
            "symbol": self.symbol, "real_settlements": len(self.rows), "compared": len(matched),
            "mean_abs_difference_ppb": round(sum(diffs) / len(diffs)) if diffs else None,
            "max_abs_difference_ppb": max(diffs) if diffs else None,
            "same_sign": agree, "real_mean_ppb": round(sum(r["real_ppb"] for r in matched) / len(matched)) if matched else None,
            "simulated_mean_ppb": round(sum(r["simulated_ppb"] for r in matched) / len(matched)) if matched else None,
        }  # fmt: skip


def compare_funding(
    log: Path | str, symbol: str | None = None, name: str | Path = FUNDING_FILE, data_dir: str | Path | None = None,
    market: str | None = None,
) -> FundingComparison:  # fmt: skip
    """Return the run's funding at each real settlement of `symbol` within the run.

    `market` picks the run's market by symbol (default: its first market that set a funding
    rate); `symbol` is the real symbol (default: the market's without a "-PERP" suffix). A real
    settlement with no simulated one within a minute (a run that stopped, a market settling on
    another clock) has `simulated_ppb` None.

    Raises:
        ConfigError: the log has no funding, or no market of that symbol.
        DataError: the settlements file is missing or malformed.
        VerificationError, EventLogError: as `fold_log`.
    """
    seen = _Funding()
    fold_log(log, [seen], apply_events=False)
    assert seen.header is not None
    funded = sorted(seen.rates)
    if not funded:
        raise ConfigError(f"{log}: the run paid no funding (no funding_rate_set)")
    if market is None:
        index = funded[0]
    else:
        matches = [m for m, s in seen.symbols.items() if s == market]
        if not matches or matches[0] not in seen.rates:
            raise ConfigError(f"--market {market}: no market of that symbol set a funding rate in {log}; "
                              f"known: {', '.join(seen.symbols[m] for m in funded)}")  # fmt: skip
        index = matches[0]
    real_symbol = symbol or seen.symbols[index].removesuffix("-PERP")
    epoch_ms = int(seen.header.epoch.timestamp() * 1000)
    simulated = seen.rates[index]
    end_ns = simulated[-1][0] if simulated else 0
    comparison = FundingComparison(real_symbol)
    for s in read_settlements(real_symbol, name, data_dir):
        at_ns = (s.time_ms - epoch_ms) * 10**6
        if at_ns <= MATCH_NS or at_ns > end_ns + MATCH_NS:  # at the start it paid for the time before the run
            continue
        near = min(simulated, key=lambda r: abs(r[0] - at_ns))
        rate = near[1] if abs(near[0] - at_ns) <= MATCH_NS else None
        comparison.rows.append({
            "time_utc": utc_text(seen.header.epoch, at_ns), "interval_hours": s.interval_hours, "real_ppb": s.rate_ppb,
            "simulated_ppb": rate, "difference_ppb": None if rate is None else rate - s.rate_ppb,
        })  # fmt: skip
    return comparison
