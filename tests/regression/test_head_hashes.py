"""Behaviour is pinned: each case's head hash is the one recorded before a restructuring.

Every case runs a shipped scenario (or a shrunk copy of it with `--set` overrides) to the
end in memory and compares the head of its hash chain with `tests/data/head-hashes.json`.
A head hash covers every byte of every event, so an equal head means an identical log.
The cases cover each execution mode, post-fund step, ADL ranking, partial policy, queue
priority, oracle policy and preset, latency model, mark method, venue preset, margin mode,
collateral and forks; the crash days run a short window on their tapes when the data
directory has them (their keys say which) and on their hourly paths otherwise.

A deliberate change of behaviour regenerates the file:

    .venv/bin/python -m tests.regression.test_head_hashes --record

and says why in its commit.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from clearing.apps.run import run_in_memory
from clearing.errors import DataError
from clearing.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "scenarios"
RECORD = ROOT / "tests" / "data" / "head-hashes.json"
DATA = Path(os.environ.get("CLEARING_DATA_DIR", ROOT / "data"))

SHORT = (
    "duration_s=1500", "checkpoint_interval_s=300", "population.accounts=400", "population.entry_window_s=120",
    "price.shocks=[{start_s=600, duration_s=300, change=-0.3}, {start_s=900, duration_s=300, change=0.1}]",
)  # fmt: skip
TWO_MARKETS = (
    *SHORT,
    'markets=[{symbol="ETHUSDT-PERP", tick_size="0.01", lot_size="0.01", price={initial="3000", volatility=0.1, '
    "shocks=[{start_s=600, duration_s=300, change=-0.25}]}}]",
    "population.leverage=[5, 10]", "population.leverage_weights=[1.0, 1.0]", "portfolio.inter_commodity_credit=0.8",
)  # fmt: skip
VENUE = (
    "duration_s=900", "checkpoint_interval_s=300", "price.volatility=0.0",
    "price.shocks=[{start_s=300, duration_s=300, change=-0.25}]", "population.accounts=300",
    "population.entry_window_s=60", "population.leverage=[2, 5, 10]", "population.leverage_weights=[1, 1, 1]",
)  # fmt: skip
DEPEG = (
    *SHORT,
    'collateral=[{asset="USDE", decimals=6, haircut="0.05", price="1", volatility=0.0, '
    'shocks=[{start_s=600, duration_s=300, change=-0.35}], oracle={policy="cadence", cadence_ms=1000}}]',
    'population.collateral_asset="USDE"', "population.collateral_fraction=0.5", "population.leverage=[50, 100]",
    "population.leverage_weights=[1.0, 1.0]",
)  # fmt: skip
COIN = (  # the inverse perpetual's crash in 25 minutes, with a funding settlement every 5 minutes
    *SHORT, "funding.interval_s=300", "oracle.latency_ms=30000",
)
DYNAMIC = (  # dynamic margin every 30 s on a 10-minute EWMA, through the crash at 600 s
    *SHORT, "dynamic_margin.enabled=true", "dynamic_margin.interval_s=30", "dynamic_margin.halflife_s=600",
)
CRASH_WINDOW = ("duration_s=900", "population.accounts=2000", "checkpoint_interval_s=300")
OPTIONS = (  # the stress window, the crash and the future's expiry inside 20 minutes; 300 traders
    "duration_s=1200", "checkpoint_interval_s=300", "population.accounts=300", "population.entry_window_s=60",
    "correlation.stress.start_s=300", "correlation.stress.duration_s=600", "markets.1.expiry_s=1100",
    "markets.1.settlement_window_s=300",
    "price.shocks=[{start_s=300, duration_s=300, change=-0.25}]",
    "markets.0.price.shocks=[{start_s=300, duration_s=300, change=-0.35}]",
)  # fmt: skip

# (case id, scenario file in scenarios/, overrides, seed)
CASES: list[tuple[str, str, tuple[str, ...], int]] = [
    ("synthetic-crash", "synthetic-crash", (), 1),
    ("book", "synthetic-crash", SHORT, 3),
    ("bankruptcy", "synthetic-crash", (*SHORT, "liquidation.execution=bankruptcy"), 3),
    ("fillable-adl-random", "synthetic-crash",
     (*SHORT, "liquidation.execution=fillable", "liquidation.after_fund=adl", "liquidation.adl_ranking=random",
      "insurance_fund.initial=1000"), 3),
    ("vault", "synthetic-crash", (*SHORT, "liquidation.execution=vault"), 3),
    ("fund-adl", "synthetic-crash",
     (*SHORT, "liquidation.execution=fund", "liquidation.after_fund=adl", "insurance_fund.initial=50000",
      "liquidation.fund_offload_notional=20000"), 3),
    ("socialise", "synthetic-crash", (*SHORT, "liquidation.after_fund=socialise", "insurance_fund.initial=1000"), 3),
    ("adl-pro-rata", "synthetic-crash",
     (*SHORT, "liquidation.after_fund=adl", "liquidation.adl_ranking=pro_rata", "insurance_fund.initial=1000"), 3),
    ("adl-pnl-leverage-capped-fund", "synthetic-crash",
     (*SHORT, "liquidation.after_fund=adl", "insurance_fund.max_per_event=100", "insurance_fund.max_per_period=2000",
      "insurance_fund.period_s=300"), 3),
    ("partial-fraction", "synthetic-crash",
     (*SHORT, "liquidation.partial=fraction", "liquidation.partial_fraction=0.25", "liquidation.cooldown_s=30",
      "liquidation.partial_min_notional=1000"), 3),
    ("partial-restore-blocks", "synthetic-crash",
     (*SHORT, "liquidation.partial=restore", "liquidation.max_per_block=3", "liquidation.block_ms=500",
      "liquidation.max_notional_per_block=20000"), 3),
    ("priority-worst-health", "synthetic-crash",
     (*SHORT, "liquidation.priority=worst_health", "liquidation.detection_latency_ms=500", "liquidation.liquidators=1"), 3),
    ("priority-largest", "synthetic-crash", (*SHORT, "liquidation.priority=largest", "liquidation.service_time_ms=1000"), 3),
    ("chainlink-push", "synthetic-crash", ('include=["oracle/chainlink-push"]', *SHORT), 4),
    ("pyth-pull", "synthetic-crash", ('include=["oracle/pyth-pull"]', *SHORT), 4),
    ("validator-median", "synthetic-crash", ('include=["oracle/validator-median-3s"]', *SHORT), 4),
    ("internal-mark", "synthetic-crash", ('include=["oracle/internal-mark"]', *SHORT), 4),
    ("latency-lognormal", "synthetic-crash",
     (*SHORT, "oracle.latency_model=lognormal", "oracle.latency_ms=800", "oracle.latency_sigma=0.7"), 4),
    ("latency-load", "synthetic-crash",
     (*SHORT, "oracle.policy=cadence", "oracle.latency_model=load", "oracle.latency_ms=100",
      "oracle.latency_per_breach_ms=5", "oracle.latency_window_s=30"), 4),
    ("latency-uniform", "synthetic-crash",
     (*SHORT, "oracle.latency_model=uniform", "oracle.latency_ms=100", "oracle.latency_max_ms=3000"), 4),
    ("sources-outages-guards", "synthetic-crash",
     (*SHORT, "oracle.policy=cadence", "oracle.aggregation=pyth", "oracle.min_sources=2",
      'oracle.sources=[{name="a", noise_bps=3, confidence_bps=5, outages=[{start_s=650, duration_s=120}]}, '
      '{name="b", reference="mid", interval_ms=2000, delay_ms=300, confidence_bps=10, outage_rate_per_hour=4}, '
      '{name="c", reference="last", frozen=[{start_s=700, duration_s=60}], '
      "dislocations=[{start_s=800, duration_s=30, offset=-0.05}]}]",
      "oracle.guards.liquidation_max_age_s=5", "oracle.guards.max_confidence=0.002",
      "oracle.guards.max_mark_divergence=0.02"), 4),
    ("mark-binance-median", "synthetic-crash", (*SHORT, "mark.method=binance_median", "funding.interval_s=600"), 5),
    ("mark-ema-basis", "synthetic-crash", (*SHORT, "mark.method=ema_basis", "market_makers.anchor=last"), 5),
    ("feedback-mid", "synthetic-crash",
     (*SHORT, "oracle.source=mid", "market_makers.anchor=oracle", "population.holding_mean_s=600"), 5),
    ("entry-backstop", "synthetic-crash", (*SHORT, "population.entry=backstop", "market_makers.count=2"), 5),
    *[(f"venue-{v}", "synthetic-crash", (f'include=["venue/{v}"]', *VENUE), 2)
      for v in ("binance-usdm", "bitmex", "drift", "dydx-v4", "hyperliquid")],
    *[(f"two-markets-{mode}", "synthetic-crash",
       (*TWO_MARKETS, f"population.margin_mode={mode}", "population.legs=[1.0, -1.0]"), 6)
      for mode in ("isolated", "cross", "portfolio")],
    ("two-markets-portfolio-concentrated", "synthetic-crash",
     (*TWO_MARKETS, "population.margin_mode=portfolio", "population.legs=[1.0, 0.5]"), 6),
    ("two-markets-es", "synthetic-crash",
     (*TWO_MARKETS, "population.margin_mode=portfolio", "population.legs=[1.0, -0.5]", "portfolio.method=es",
      "portfolio.es_window=50", "portfolio.es_step_s=10", "portfolio.es_tail=3"), 6),
    ("collateral-depeg", "synthetic-crash", DEPEG, 7),
    ("fork-execution", "synthetic-crash",
     (*SHORT, "fork.at_s=650", 'fork.set={"liquidation.execution"="bankruptcy", "oracle.latency_ms"=3000}'), 8),
    ("fork-oracle-blocks", "synthetic-crash",
     (*SHORT, "fork.at_s=500", 'fork.set={"oracle.deviation"=0.001, "oracle.heartbeat_s"=30, '
      '"liquidation.max_per_block"=2, "liquidation.detection_latency_ms"=200}'), 8),
    *[(f"{day}-window", day, CRASH_WINDOW, 1)
      for day in ("black-thursday-2020", "may-19-2021", "ftx-2022", "august-5-2024", "october-10-2025")],
    ("btcusdt-2020-03-12-1000", "btcusdt-2020-03-12-1000", ("population.accounts=3000",), 0),
    ("options-crash-short", "options-crash", OPTIONS, 0),
    ("coin-margined-short", "coin-margined-crash", COIN, 0),
    ("dynamic-margin-short", "synthetic-crash", DYNAMIC, 0),
]  # fmt: skip


def _on_tape(name: str) -> bool:
    scenario = load_scenario(SCENARIOS / f"{name}.toml")
    return all((DATA / f).is_file() for f in scenario.price.files) and bool(scenario.price.files)


def key(case_id: str, name: str) -> str:
    """Return the record's key: the case, and for a scenario on a tape whether the tape was found."""
    scenario = load_scenario(SCENARIOS / f"{name}.toml")
    if scenario.price.model != "tape":
        return case_id
    return f"{case_id}@{'tape' if _on_tape(name) else 'hourly'}"


def head(name: str, overrides: tuple[str, ...], seed: int) -> str:
    """Return the head hash of a case's run."""
    summary, _sink = run_in_memory(load_scenario(SCENARIOS / f"{name}.toml", list(overrides)), seed, DATA)
    return summary.head_hash


@pytest.mark.parametrize(("case_id", "name", "overrides", "seed"), CASES, ids=[c[0] for c in CASES])
def test_head_hash_is_the_recorded_one(case_id, name, overrides, seed):
    recorded = json.loads(RECORD.read_text())
    k = key(case_id, name)
    if k not in recorded:  # a tape without an hourly path needs the data directory
        pytest.skip(f"{k}: no head recorded without the data directory")
    assert head(name, overrides, seed) == recorded[k]


def test_every_case_has_a_record():
    recorded = json.loads(RECORD.read_text())
    for case_id, _name, _overrides, _seed in CASES:
        assert any(k == case_id or k.startswith(f"{case_id}@") for k in recorded), case_id


if __name__ == "__main__":  # --record: (re)write the file from the current code
    if sys.argv[1:] != ["--record"]:
        raise SystemExit("usage: python -m tests.regression.test_head_hashes --record")
    recorded = json.loads(RECORD.read_text()) if RECORD.is_file() else {}
    for case_id, name, overrides, seed in CASES:
        try:
            recorded[key(case_id, name)] = head(name, overrides, seed)
        except DataError as e:  # a tape without an hourly fallback, and no data directory
            print(case_id, "not recorded:", e)
            continue
        print(case_id, recorded[key(case_id, name)])
    RECORD.write_text(json.dumps(dict(sorted(recorded.items())), indent=1) + "\n")
