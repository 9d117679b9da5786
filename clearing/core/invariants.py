"""Conservation laws a state must satisfy after every event, compared exactly.

1. sum(cash) + insurance fund + fee pool + funding clearing + settlement clearing - bad debt
   == deposits: money is neither made nor lost; bad debt is the hole a bankrupt account left,
   written off so its balance is 0; the funding and settlement clearing ledgers are non-zero
   only inside a funding settlement or an expiry.
2. Per market, long lots == short lots (an expired market's positions close one by one
   against the settlement ledger, so it is checked until its expiry).
3. Per collateral asset, the accounts' holdings plus the asset's pool (an inverse perpetual's
   trade dust and coin fees) and its coin funding clearing equal the deposits (assets only
   move between accounts and those two ledgers).
4. The insurance fund is never negative.
"""

from __future__ import annotations

from clearing.core.state import ClearingState


def violations(state: ClearingState) -> list[str]:
    """Return the conservation laws `state` breaks (empty when all hold)."""
    problems: list[str] = []
    total = int(state.cash.sum(dtype=object)) if state.n_accounts else 0
    clearing = state.funding_clearing + state.settlement_clearing
    if total + state.insurance_fund + state.fee_pool + clearing - state.bad_debt != state.deposits:
        problems.append(
            f"money: cash {total} + insurance {state.insurance_fund} + fees {state.fee_pool} + funding clearing "
            f"{state.funding_clearing} + settlement clearing {state.settlement_clearing} - bad debt {state.bad_debt} "
            f"!= deposits {state.deposits}"
        )
    for market in range(state.n_markets):
        if market in state.settlement_prices:
            continue
        column = state.position[:, market]
        longs = int(column[column > 0].sum())
        shorts = int(-column[column < 0].sum())
        if longs != shorts:
            problems.append(f"market {market}: long lots {longs} != short lots {shorts}")
    for asset, listed in enumerate(state.assets):
        held = int(state.collateral[:, asset].sum(dtype=object)) if state.n_accounts else 0
        house = state.asset_pool.get(asset, 0) + state.asset_clearing.get(asset, 0)
        if held + house != state.asset_deposits[asset]:
            problems.append(f"collateral {listed.symbol}: accounts hold {held}, the pool and clearing {house}, "
                            f"deposits were {state.asset_deposits[asset]}")  # fmt: skip
    if state.insurance_fund < 0:
        problems.append(f"insurance fund is negative: {state.insurance_fund}")
    return problems
