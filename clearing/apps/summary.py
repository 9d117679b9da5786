"""The run summary: the same fields from a live run and from a replay of its log.

Money fields are exact decimal strings in quote currency (e.g. "1234.567890"), never
floats; `quote_decimals` says how many decimals they carry.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from clearing.core.risk import fund_equity
from clearing.core.state import ClearingState
from clearing.units import NS_PER_S, format_minor


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
) -> RunSummary:
    """Return the summary of `state`; `data_sources` says what each market's index was made from."""
    decimals = state.markets[0].quote_decimals if state.markets else 0
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
    )


def render_text(summary: RunSummary, quote: str = "") -> str:
    """Return the summary as aligned `key  value` lines for a terminal."""
    unit = f" {quote}" if quote else ""
    money = {
        "liquidated_notional", "liquidated_notional_book", "liquidated_notional_backstop", "liquidated_notional_fund",
        "bad_debt", "insurance_fund_end", "insurance_fund_equity", "insurance_fund_swept", "insurance_fund_min",
        "insurance_paid", "fee_pool",
        "adl_notional", "socialised_loss",
    }  # fmt: skip
    width = max(len(k) for k in summary.as_dict())
    lines = []
    for key, value in summary.as_dict().items():
        lines.append(f"{key:<{width}}  {value}{unit if key in money else ''}")
    return "\n".join(lines)
