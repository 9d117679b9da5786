"""Compiled parameters of what prices instruments beyond a perpetual on its own path.

Dated contracts (`contract_specified`), the implied-volatility surface of the options,
jointly drawn (correlated) index paths and Heston stochastic volatility, each compiled from
the scenario once, in integer units where they reach the log (`clearing.scenario.params`
holds them in `RunParams`).
"""

from __future__ import annotations

from typing import NamedTuple

from clearing.core.correlation import StressChain, StressRegime, StressWindow
from clearing.core.dynamic_margin import DynamicParams
from clearing.core.heston import HestonParams
from clearing.core.options.dynamics import LeverageEffect
from clearing.scenario.scenario import Scenario
from clearing.scenario.sections import MarketConfig
from clearing.units import NS_PER_S, PPM


def _ns(seconds: float) -> int:
    return round(seconds * NS_PER_S)


class ContractParams(NamedTuple):
    """A market's contract, as `contract_specified` records it: instrument, expiry, window, underlying, settlement asset."""

    instrument: str
    expiry_ns: int
    settlement_window_ns: int
    underlying: int
    option_type: str = ""  # "call" or "put" for an option
    strike: str = ""  # an option's strike, a decimal string (quote)
    settlement_asset: int = -1  # an inverse perpetual's settlement asset (index in `RunParams.collateral`)


class CorrelationParams(NamedTuple):
    """Markets whose GBM index paths are drawn jointly (`[correlation]`), their matrix and stress regime."""

    markets: tuple[int, ...]
    matrix: tuple[tuple[float, ...], ...]
    stress: StressRegime | None  # None: never stressed


class VolatilityParams(NamedTuple):
    """The implied-volatility surface of the underlyings with options (`[volatility]`), in integer units."""

    model: str  # "synthetic" or "okx"
    leverage: LeverageEffect
    skew_ppm: int
    term_slope_ppm_per_year: int
    interval_ns: int
    file: str


def contract_params(sc: Scenario, m: MarketConfig) -> ContractParams | None:
    symbols = [listed.symbol for listed, _ in sc.listed()]
    if m.kind == "inverse_perpetual":
        asset = [c.asset for c in sc.collateral].index(m.settlement_asset)
        return ContractParams(m.kind, 0, 0, symbols.index(m.symbol), settlement_asset=asset)
    if m.expiry_s is None:
        return None
    underlying = symbols.index(m.underlying or m.symbol)
    option = (m.option_type or "", str(m.strike)) if m.kind == "option" else ("", "")
    return ContractParams(m.kind, _ns(m.expiry_s), _ns(m.settlement_window_s), underlying, *option)


def correlation_params(sc: Scenario) -> CorrelationParams | None:
    c = sc.correlation
    if not c.markets:
        return None
    symbols = [m.symbol for m, _ in sc.listed()]
    s = c.stress
    switching: StressWindow | StressChain | None = None
    if s.start_s is not None and s.duration_s > 0:
        switching = StressWindow(_ns(s.start_s), _ns(s.start_s + s.duration_s))
    elif s.enter_per_hour > 0:
        switching = StressChain(s.enter_per_hour, s.leave_per_hour)
    stress = StressRegime(s.pull, s.vol_multiplier, switching) if switching is not None else None
    return CorrelationParams(tuple(symbols.index(name) for name in c.markets), c.matrix, stress)


def heston_params(sc: Scenario) -> HestonParams | None:
    if all(p.model != "heston" for _m, p in sc.listed()):
        return None
    h = sc.heston
    return HestonParams(h.kappa, h.theta, h.xi, h.rho, h.v0)


def volatility_params(sc: Scenario) -> VolatilityParams | None:
    if all(m.kind != "option" for m, _ in sc.listed()):
        return None
    v = sc.volatility
    leverage = LeverageEffect(
        round(v.base * PPM), _ns(v.half_life_s), v.leverage_down, v.leverage_up, round(v.floor * PPM), round(v.cap * PPM)
    )
    return VolatilityParams(v.model, leverage, round(v.skew * PPM), round(v.term_slope * PPM), _ns(v.interval_s), v.file)


def dynamic_params(sc: Scenario) -> DynamicParams | None:
    """Return dynamic margin's compiled parameters (`[dynamic_margin]`), None when it is off."""
    d = sc.dynamic_margin
    if not d.enabled:
        return None
    return DynamicParams(
        _ns(d.interval_s), _ns(d.halflife_s), d.reference_vol, sc.quote_minor(d.oi_reference), d.oi_sensitivity, d.floor,
        d.cap, d.max_rise, d.max_fall,
    )  # fmt: skip
