"""`clearing validate`: crash days run and set beside the reported figures (on a small tape of our own here)."""

from __future__ import annotations

import json
import math
import sqlite3
from datetime import UTC, datetime

import pytest

from clearing.apps import validate
from clearing.apps.sweep.results import complete_rows
from clearing.apps.validate.metrics import day_metrics
from clearing.apps.validate.table import BEGIN, END, verdicts
from clearing.cli import main
from tests.conftest import ROOT

EPOCH_MS = 1_709_251_200_000  # 2024-03-01T00:00:00Z


def tape(path):
    # Three hours of 1-minute bars: calm, a 25 % fall from minute 60 to 75, then a partial recovery.
    rows = ["ts,open,high,low,close,volume"]
    price = 60_000.0
    for minute in range(180):
        step = -0.019 if 60 <= minute < 75 else 0.006 if 75 <= minute < 95 else 0.0002 * math.sin(minute)
        close = price * (1 + step)
        rows.append(f"{EPOCH_MS + minute * 60_000},{price:.1f},{max(price, close):.1f},{min(price, close):.1f},{close:.1f},1")
        price = close
    path.write_text("\n".join(rows) + "\n")


@pytest.fixture(scope="module")
def day(tmp_path_factory):
    where = tmp_path_factory.mktemp("validate")
    data, scenarios = where / "data", where / "scenarios"
    data.mkdir()
    scenarios.mkdir()
    tape(data / "tiny_1m.csv")
    text = (ROOT / "scenarios" / "synthetic-crash.toml").read_text()
    text = text.replace('model = "gbm"', 'model = "tape"\nfile = "tiny_1m.csv"\nkind = "bars"')
    scenario = scenarios / "tiny.toml"
    scenario.write_text(text.split("[[price.shocks]]")[0] + "[oracle]" + text.split("[oracle]")[1])
    reported = validate.Reported(
        name="2024-03-01", scenario="tiny.toml", peak_utc=datetime(2024, 3, 1, 1, 10, tzinfo=UTC), peak_basis="a guess [rep-2021-binance]",
        share=0.05, share_window=(datetime(2024, 3, 1, tzinfo=UTC), datetime(2024, 3, 2, tzinfo=UTC)), share_basis="b",
        fund_draw="not found", adl="not found",
    )  # fmt: skip
    overrides = ("duration_s=10800", "population.accounts=800", "population.entry=backstop", "population.entry_window_s=0",
                 "population.holding_mean_s=0", "checkpoint_interval_s=3600")  # fmt: skip
    out = where / "out"
    counts = validate.validate([reported], scenarios, out, 0, overrides, str(data), workers=1)
    return reported, out, data, scenarios, overrides, counts


def test_the_day_is_measured_from_its_log(day):
    reported, out, data, _scenarios, _overrides, counts = day
    assert counts == {"total": 1, "skipped": 0, "complete": 1, "failed": 0}
    log = out / "logs" / "2024-03-01.sqlite"
    m = day_metrics(log, data)
    with sqlite3.connect(f"file:{log}?mode=ro", uri=True) as conn:
        rows = conn.execute("SELECT ts_ns, notional FROM liquidation_completed").fetchall()
        trades = conn.execute("SELECT buyer, seller, lots FROM trade_executed WHERE ts_ns = 0").fetchall()
    per_minute: dict[int, int] = {}
    for ts, notional in rows:
        per_minute[ts // 60_000_000_000] = per_minute.get(ts // 60_000_000_000, 0) + notional
    peak = max(per_minute, key=lambda k: (per_minute[k], -k))
    assert m.peak_utc == f"2024-03-01T{peak // 60:02d}:{peak % 60:02d}Z" and m.peak_notional == per_minute[peak] / 10**6
    assert m.liquidations == len(rows) and m.liquidated_notional == sum(n for _t, n in rows) / 10**6
    held: dict[int, int] = {}
    for buyer, seller, lots in trades:
        held[buyer] = held.get(buyer, 0) + lots
        held[seller] = held.get(seller, 0) - lots
    longs = sum(q for q in held.values() if q > 0)
    # every long lot at the first price: 600,000 ticks of 0.1 x 100 quote minor units per lot and tick
    assert m.open_interest * 10**6 == longs * 600_000 * 100
    assert m.liquidated_share == pytest.approx(m.liquidated_notional / m.open_interest)
    assert 0 <= m.mark_error_mean <= m.mark_error_max < 0.05
    assert validate.share_in(m, reported.share_window) == pytest.approx(m.liquidated_share)


def test_the_table_sets_each_figure_beside_the_reported_one_and_counts_the_targets(day, tmp_path):
    reported, out, *_ = day
    pairs = validate.results([reported], out)
    table = validate.markdown(pairs)
    m = pairs[0][1]
    apart = validate.minutes_apart(m.peak_utc, reported.peak_utc)
    (peak_ok, share_ok), = verdicts(pairs)
    assert peak_ok == (apart <= 15) and share_ok == (0.5 <= m.liquidated_share / 0.05 <= 2)
    assert f"| 2024-03-01 | {m.peak_utc[5:].replace('T', ' ').replace('Z', '')} (" in table
    assert f"{m.liquidated_share * 100:.2f} %" in table and "5.00 %" in table
    assert "a guess [rep-2021-binance](references.md#rep-2021-binance)" in table  # a source id links its entry
    assert f"on {int(peak_ok)} of 1 days" in table
    doc = tmp_path / "validation.md"
    doc.write_text(f"# Validation\n\nbefore\n\n{BEGIN}\nold\n{END}\n\nafter\n")
    validate.update_doc(doc, table)
    assert doc.read_text() == f"# Validation\n\nbefore\n\n{BEGIN}\n{table}{END}\n\nafter\n"


def test_a_second_validation_resumes_and_another_one_is_refused(day):
    reported, out, data, scenarios, overrides, _counts = day
    again = validate.validate([reported], scenarios, out, 0, overrides, str(data), workers=1)
    assert again == {"total": 1, "skipped": 1, "complete": 0, "failed": 0}
    with pytest.raises(validate.ConfigError, match="holds a validation with other seed"):
        validate.validate([reported], scenarios, out, 1, overrides, str(data), workers=1)


def test_the_command_writes_the_table_and_check_exits_1_on_a_miss(day, tmp_path, capsys, monkeypatch):
    reported, out, data, scenarios, overrides, _counts = day
    monkeypatch.setattr(validate, "load_reported", lambda: [reported])
    args = ["--data-dir", str(data), "validate", "--scenarios", str(scenarios), "--out", str(out), "--progress", "never",
            *[x for o in overrides for x in ("--set", o)]]  # fmt: skip
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert (out / "validation.md").read_text() in printed
    missed = not all(verdicts(validate.results([reported], out))[0])
    assert main([*args, "--check"]) == (1 if missed else 0)
    capsys.readouterr()
    assert main([*args, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["runs"]["skipped"] == 1 and [d["day"] for d in shown["days"]] == [reported.name]
    day0 = shown["days"][0]
    assert day0["reported"] == reported.model_dump(mode="json") and day0["simulated"]["liquidations"] > 0
    assert (day0["peak_within_target"] and day0["share_within_target"]) == (not missed)


@pytest.mark.parametrize(("extra", "message"), [
    (["--days", "1999-01-01"], "--days 1999-01-01: not a crash day; known: 2020-03-12, 2021-05-19"),
    (["--scenarios", "/nonexistent"], "--scenarios /nonexistent: no such folder"),
    (["--doc", "/nonexistent.md"], "--doc /nonexistent.md: no such file"),
    (["--workers", "0"], "--workers 0: expected at least 1"),
])  # fmt: skip
def test_bad_input_is_one_line_exit_2_and_nothing_written(extra, message, tmp_path, capsys):
    out = tmp_path / "v"
    assert main(["validate", "--out", str(out), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and not out.exists()


def test_the_reported_figures_name_their_sources_in_the_references():
    references = (ROOT / "docs" / "references.md").read_text()
    days = validate.load_reported()
    assert [d.name for d in days] == ["2020-03-12", "2021-05-19", "2022-11-08", "2024-08-05", "2025-10-10"]
    for d in days:
        assert (ROOT / "scenarios" / d.scenario).is_file()
        for text in (d.peak_basis, d.share_basis, d.fund_draw, d.adl):
            for cited in __import__("re").findall(r"\[([a-z0-9-]+)\]", text):
                assert f"### [{cited}]" in references, f"{d.name}: [{cited}] is not in docs/references.md"
    assert json.loads(json.dumps([d.model_dump(mode="json") for d in days]))  # plain data


def test_a_sensitivity_study_ranks_the_assumptions_by_the_swing_they_cause(day, tmp_path, capsys, monkeypatch):
    reported, _out, data, scenarios, overrides, _counts = day
    monkeypatch.setattr(validate, "load_reported", lambda: [reported])
    out = tmp_path / "s"
    args = ["--data-dir", str(data), "validate", "--scenarios", str(scenarios), "--out", str(out), "--progress", "never",
            *[x for o in overrides for x in ("--set", o)], "--vary", "population.long_fraction=0.2,0.9",
            "--vary", "population.notional_median=4000,5000", "--workers", "2"]  # fmt: skip
    assert main(args) == 0
    printed = capsys.readouterr().out
    from clearing.apps.validate import sensitivity

    ranked = sensitivity.swings([reported], out, sensitivity.parse_vary(["population.long_fraction=0.2,0.9",
                                                                          "population.notional_median=4000,5000"]))
    base, *rows = ranked["2024-03-01"]
    assert [r["share_swing"] for r in rows] == sorted((r["share_swing"] for r in rows), reverse=True)
    assert rows[0]["key"] == "population.long_fraction"  # the long share moves a long crash far more than a 20 % size change
    assert printed.startswith("validate: 5 runs (1 day(s) x (1 + 2 x 2))") and "| 1 | `population.long_fraction` |" in printed
    assert (out / "tornado.png").stat().st_size > 1000 and (out / "sensitivity.md").read_text() in printed
    # The fund's draw and the ADL of each run stand beside its share (the throughput and unwind keys move those).
    measured = {json.loads(r["params"])["value"]: json.loads(r["metrics"]) for r in complete_rows(out)}
    assert rows[0]["adl"] == [measured[v]["adl_notional"] for v in ("0.2", "0.9")] and "fund draw, ADL: low / high" in printed
    assert base["base_fund_draw"] == measured[""]["fund_draw"]
    assert not list((out / "logs").glob("*.sqlite*"))  # measured, then removed
    assert base["base_share"] == pytest.approx(validate.share_in(validate.results([reported], _out)[0][1],
                                                                 reported.share_window))  # fmt: skip
    assert main([*args, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["ranked"] == json.loads(json.dumps(ranked)) and shown["runs"]["skipped"] == 5


@pytest.mark.parametrize("option", ["population.long_fraction", "population.long_fraction=0.2", "x=1,2,3", "=1,2"])
def test_a_bad_vary_is_one_line_exit_2(option, tmp_path, capsys):
    assert main(["validate", "--out", str(tmp_path / "v"), "--vary", option]) == 2
    assert "expected KEY=LOW,HIGH" in capsys.readouterr().err


def test_a_missing_tape_or_doc_block_is_refused_before_anything_runs(day, tmp_path, capsys, monkeypatch):
    reported, _out, _data, scenarios, overrides, _counts = day
    monkeypatch.setattr(validate, "load_reported", lambda: [reported])
    empty = tmp_path / "empty"
    empty.mkdir()
    out = tmp_path / "v"
    base = ["validate", "--scenarios", str(scenarios), "--out", str(out), *[x for o in overrides for x in ("--set", o)]]
    assert main(["--data-dir", str(empty), *base]) == 2
    assert "tiny_1m.csv" in capsys.readouterr().err and not out.exists()
    doc = tmp_path / "d.md"
    doc.write_text("no block here\n")
    assert main(["--data-dir", str(_data), *base, "--doc", str(doc)]) == 2
    assert "no block between" in capsys.readouterr().err and not out.exists()
