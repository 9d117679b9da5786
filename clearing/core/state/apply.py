"""`apply`: fold one event into the state, the only mutator, shared by live runs and replay.

It dispatches on the event's type to one applier per kind in `reducers/` (`ledger` for
accounts, money, trades and liquidations, `orders` for order placement, resting, cancels,
quote ladders and fills, `prices` for index, oracle, mark and checkpoints, `funding`,
`collateral`, `margin` and `instruments` for dated contracts and their settlement), then advances the state's clock.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from clearing import events as ev
from clearing.core.state.reducers import collateral, funding, instruments, ledger, margin, orders, prices
from clearing.core.state.state import ClearingState
from clearing.errors import InvariantViolation


def apply(state: ClearingState, event: ev.Event) -> None:
    """Fold one event into the state: the only mutator, shared by live runs and replay.

    Raises:
        InvariantViolation: the event is impossible in this state (a bug in its emitter).
    """
    if event.ts_ns < state.now_ns:
        raise InvariantViolation(f"{type(event).__name__} at {event.ts_ns} ns is before {state.now_ns} ns")
    _APPLIERS[type(event)](state, event)
    state.now_ns = event.ts_ns
    state.events_applied += 1


_APPLIERS: dict[type[Any], Callable[[ClearingState, Any], None]] = {
    ev.MarketListed: ledger.market_listed,
    ev.AccountsOpened: ledger.accounts_opened,
    ev.StrategyAssigned: ledger.strategy_assigned,
    ev.Deposited: ledger.deposited,
    ev.InsuranceFundDeposited: ledger.insurance_fund_deposited,
    ev.IndexPriceUpdated: prices.index_price_updated,
    ev.OracleSourceListed: prices.oracle_source_listed,
    ev.OracleObserved: prices.oracle_observed,
    ev.OracleRoundFailed: prices.oracle_round_failed,
    ev.OraclePricePublished: prices.oracle_price_published,
    ev.OraclePriceDelivered: prices.oracle_price_delivered,
    ev.OracleGuardChecked: prices.oracle_guard_checked,
    ev.MarkPriceUpdated: prices.mark_price_updated,
    ev.OrderPlaced: orders.order_placed,
    ev.OrderRejected: orders.order_rejected,
    ev.OrderRested: orders.order_rested,
    ev.OrderCancelled: orders.order_cancelled,
    ev.QuotesReplaced: orders.quotes_replaced,
    ev.TradeExecuted: ledger.trade_executed,
    ev.MarginBreached: ledger.margin_breached,
    ev.PortfolioMarginConfigured: margin.portfolio_margin_configured,
    ev.GridMarginConfigured: margin.grid_margin_configured,
    ev.SpanMarginConfigured: margin.span_margin_configured,
    ev.EsMarginConfigured: margin.es_margin_configured,
    ev.MarginCalled: margin.margin_called,
    ev.MarginToppedUp: margin.margin_topped_up,
    ev.StopTriggered: orders.stop_triggered,
    ev.TraderReentered: orders.trader_reentered,
    ev.ReturnWindowSampled: margin.return_window_sampled,
    ev.MarginRatesSet: margin.margin_rates_set,
    ev.LiquidationCancelled: ledger.liquidation_cancelled,
    ev.LiquidationFeeCharged: ledger.liquidation_fee_charged,
    ev.InsuranceFundConfigured: ledger.insurance_fund_configured,
    ev.InsuranceFundPaid: ledger.insurance_fund_paid,
    ev.InsuranceFundSwept: ledger.insurance_fund_swept,
    ev.BadDebtRecorded: ledger.bad_debt_recorded,
    ev.LiquidationCompleted: ledger.liquidation_completed,
    ev.PositionDeleveraged: ledger.position_deleveraged,
    ev.LossSocialised: ledger.loss_socialised,
    ev.CollateralListed: collateral.collateral_listed,
    ev.CollateralDeposited: collateral.collateral_deposited,
    ev.CollateralPriceUpdated: collateral.collateral_price_updated,
    ev.CollateralPricePublished: collateral.collateral_price_published,
    ev.CollateralPriceDelivered: collateral.collateral_price_delivered,
    ev.CollateralSeized: collateral.collateral_seized,
    ev.PremiumSampled: funding.premium_sampled,
    ev.FundingRateSet: funding.funding_rate_set,
    ev.FundingPaid: funding.funding_paid,
    ev.CheckpointRecorded: prices.checkpoint_recorded,
    ev.ContractSpecified: instruments.contract_specified,
    ev.MarketSettled: instruments.market_settled,
    ev.PositionSettled: instruments.position_settled,
    ev.VolatilitySurfaceUpdated: instruments.volatility_surface_updated,
}
assert set(_APPLIERS) == set(ev.EVENT_TYPES), "every event kind needs an applier"



