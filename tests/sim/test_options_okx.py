"""BTC options priced on the OKX chain of 2025-10-10, fitted each minute; without the file, the synthetic surface."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from clearing.apps.run import run_in_memory
from clearing.errors import DataError
from clearing.scenario import load_scenario
from tests.builders import payloads
from tests.conftest import ROOT

DATA = Path(os.environ.get("CLEARING_DATA_DIR") or "/nonexistent")
CHAIN = "okx_btc_options_chain_1m_2025-10-10.csv"
OCT31 = 1_843_200  # 2025-10-31 08:00 UTC, seconds after 2025-10-10 00:00


def scenario(*more: str):
    option = ('markets=[{symbol="BTC-251031-100000-P", kind="option", underlying="BTCUSDT-PERP", option_type="put", '
              f'strike="100000", expiry_s={OCT31}, tick_size="5", lot_size="0.01", market_order_band="0.5"}}]')  # fmt: skip
    overrides = ["duration_s=600", "checkpoint_interval_s=300", "population.accounts=100", "population.legs=[1]",
                 "market_makers.depth_profile=''", option, 'volatility.model="okx"', *more]  # fmt: skip
    return load_scenario(ROOT / "scenarios" / "october-10-2025.toml", overrides)


@pytest.mark.skipif(not (DATA / CHAIN).is_file(), reason="needs CLEARING_DATA_DIR with the OKX chain of 2025-10-10")
def test_the_surface_is_the_chain_fitted_each_minute() -> None:
    summary, sink = run_in_memory(scenario(), 0, DATA)
    surfaces = payloads(sink, "volatility_surface_updated")
    assert [ts // 10**9 for _s, ts, _p in surfaces] == [0, 60, 120, 180, 240, 300, 360, 420, 480, 540]
    assert all(p["source"] == CHAIN for _s, _t, p in surfaces)
    assert surfaces[0][2]["expiries_ns"] == [OCT31 * 10**9, (OCT31 + 28 * 86_400) * 10**9]  # 31 Oct and 28 Nov
    marks = [p["price_ticks"] for _s, _t, p in payloads(sink, "mark_price_updated") if p["market"] == 1]
    assert marks and all(m >= 1 for m in marks)
    assert f"model value on BTCUSDT-PERP and the okx surface ({CHAIN})" in summary.data_sources


def test_without_the_file_the_run_refuses_or_falls_back_to_the_synthetic_surface(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CLEARING_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)  # no ./data either: the tapes fall back to their hourly paths
    with pytest.raises(DataError, match=CHAIN):
        run_in_memory(scenario(), 0, tmp_path)
    summary, sink = run_in_memory(scenario("volatility.file_optional=true"), 0, tmp_path)
    assert {p["source"] for _s, _t, p in payloads(sink, "volatility_surface_updated")} == {"synthetic"}
    assert f"the synthetic surface ({CHAIN} not in the data directory)" in summary.data_sources
