"""`clearing report`, `clearing cascades` and the run's progress bar, as a user meets them."""

import json
import re
import shutil
from decimal import Decimal

import pytest

from clearing.cli import main
from tests.cli.test_cli import CRASH, SMALL, clearing
from tests.conftest import bumped, kind_code, tampering


@pytest.fixture(scope="module")
def log(tmp_path_factory):
    path = tmp_path_factory.mktemp("report") / "small.sqlite"
    assert main(["run", CRASH, "--seed", "4", "--out", str(path), *SMALL]) == 0
    return path


def test_report_writes_one_self_contained_html_file(log, tmp_path, capsys):
    capsys.readouterr()
    out = tmp_path / "r.html"
    assert main(["report", str(log), "--out", str(out), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    page = out.read_text()
    # plotly.js inline, once; nothing loaded from anywhere (the browser test opens it offline too).
    scripts = re.findall(r"<script[^>]*>(.*?)</script>", page, re.S)
    assert len(scripts) == 3 and len(scripts[0]) > 3_000_000 and all("Plotly.newPlot(" in s for s in scripts[1:])
    markup = re.sub(r"<script[^>]*>.*?</script>", "<script></script>", page, flags=re.S)
    assert not re.search(r"\bsrc=|<link\b|@import|https?:", markup) and "<img" not in markup  # no static images left
    panels = re.findall(r'<div id="([a-z-]+)" class="plotly-graph-div"', page)
    assert panels == ["time-panels", "cascade-panels"]
    # The headline first, with thousands separators; hashes only in the provenance at the bottom.
    liquidated = f"{Decimal(shown['liquidated_notional']):,.2f}"
    assert "," in liquidated and page.index(liquidated) < page.index("<h2>Scenario</h2>") < page.index('id="time-panels"')
    assert main(["verify", str(log), "--json"]) == 0
    head = json.loads(capsys.readouterr().out)["head_hash"]
    assert page.index(head) > page.index("<h2>Provenance</h2>") and page.count(head) == 1
    assert f"{shown['liquidations']:,} liquidations" in page and shown["report"] == str(out)
    fund = shown["insurance_fund_path"]
    assert fund["start"] == 250_000.0 and fund["min"] <= fund["end"] and not list(tmp_path.glob("*.partial"))


def test_the_report_leaves_out_what_is_zero_throughout_and_says_so(log, tmp_path, capsys):
    out = tmp_path / "r.html"
    assert main(["report", str(log), "--out", str(out), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    page = out.read_text()
    assert shown["adl_notional"] == shown["bad_debt"] == "0.000000"  # the small crash: the fund absorbed everything
    assert "Zero throughout, so not drawn: " in page and "ADL notional, bad debt." in page
    assert "Auto-deleveraging and bad debt" not in page
    for title in ("Prices: BTCUSDT-PERP", "Basis to the index: BTCUSDT-PERP", "Oracle age", "by cascade generation",
                  "Insurance fund", "Open interest"):  # fmt: skip
        assert title in page
    # The scenario's settings: the oracle section of the header's scenario, in words.
    assert "push on a 0.5 % move or a 3600 s heartbeat" in page and "2,000 ms" in page


def test_report_agrees_with_replay_and_cascades(log, tmp_path, capsys):
    capsys.readouterr()
    assert main(["replay", str(log), "--json"]) == 0
    replayed = json.loads(capsys.readouterr().out)
    assert main(["report", str(log), "--out", str(tmp_path / "r.html"), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert main(["cascades", str(log), "--json"]) == 0
    cascades = json.loads(capsys.readouterr().out)
    assert shown["liquidations"] == replayed["liquidations"] == cascades["totals"]["liquidations"]
    assert shown["cascades"] == cascades["totals"]
    # The fund's minimum is exact (the lowest balance after any event), not the lowest sample.
    assert shown["insurance_fund_path"]["min"] == float(replayed["insurance_fund_min"])
    # The synthetic crash's mark is the oracle's index price: no liquidation moves it.
    assert cascades["totals"]["cascade_depth"] == 0 and {x["generation"] for x in cascades["liquidations"]} == {0}


def test_report_refuses_a_missing_directory_in_one_line(log):
    result = clearing("report", str(log), "--out", "/nonexistent/dir/r.html")
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "no such directory" in result.stderr


def test_run_shows_a_progress_bar_when_asked(tmp_path):
    result = clearing("run", CRASH, "--out", str(tmp_path / "p.sqlite"), "--progress", "always", *SMALL)
    assert result.returncode == 0 and "1,500 / 1,500 sim s" in result.stderr
    quiet = clearing("run", CRASH, "--out", str(tmp_path / "q.sqlite"), *SMALL)  # not a terminal: no bar
    assert quiet.returncode == 0 and "sim s" not in quiet.stderr


def test_cascades_prints_the_largest_cascade_and_writes_dot(log, tmp_path, capsys):
    capsys.readouterr()
    dot = tmp_path / "c.dot"
    assert main(["cascades", str(log), "--dot", str(dot), "--dot-limit", "5"]) == 0
    out = capsys.readouterr().out
    assert "largest_cascade " in out and "liquidation_fall_share" in out and f"dot{' ' * 27}{dot}" in out
    text = dot.read_text()
    assert text.splitlines()[-1] == "}" and "digraph cascades {" in text and not list(tmp_path.glob("*.partial"))
    assert 0 < len(re.findall(r"^\s*L\d+ \[label=", text, re.M)) <= 5 and "// left out:" in text
    assert main(["cascades", str(log), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert set(shown) == {"totals", "largest_cascade", "price_moves", "markets", "contagion", "generations_by_market", "liquidations"}
    assert shown["totals"]["liquidation_fall_share"] == 0.0  # the mark is the index's oracle price


def test_cascades_refuses_a_bad_dot_path_in_one_line(log):
    result = clearing("cascades", str(log), "--dot", "/nonexistent/dir/c.dot")
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "no such directory" in result.stderr


def test_the_fund_minimum_is_the_summary_s_also_for_an_unseeded_fund(tmp_path, capsys):
    log = tmp_path / "unseeded.sqlite"
    assert main(["run", CRASH, "--seed", "4", "--out", str(log), *SMALL, "--set", "insurance_fund.initial=0"]) == 0
    capsys.readouterr()
    assert main(["report", str(log), "--out", str(tmp_path / "r.html"), "--json"]) == 0
    fund = json.loads(capsys.readouterr().out)["insurance_fund_path"]
    assert fund["start"] == 0.0 and fund["min"] == 0.0 and fund["min_at_s"] == 0.0 and fund["end"] >= 0.0


@pytest.fixture(scope="module")
def tampered(log, tmp_path_factory):
    # One liquidation fill's lots edited, the chain left as it was: what an edit by hand leaves.
    bad = tmp_path_factory.mktemp("tampered") / "tampered.sqlite"
    shutil.copy(log, bad)
    with tampering(bad) as conn:
        seq = conn.execute(
            f"SELECT min(seq) FROM events WHERE kind = {kind_code('trade_executed')} AND payload LIKE '%,true,%'"
        ).fetchone()[0]
        conn.execute(f"UPDATE events SET payload = {bumped('trade_executed', 'lots')} WHERE seq = ?", (seq,))
    return bad, seq


@pytest.mark.parametrize("command", ["replay", "report", "cascades", "diff"])
def test_a_tampered_log_is_refused_by_every_view_in_one_line_exit_1(log, tampered, tmp_path, command):
    bad, seq = tampered
    args = {
        "replay": ["replay", str(bad)],
        "report": ["report", str(bad), "--out", str(tmp_path / "r.html")],
        "cascades": ["cascades", str(bad), "--dot", str(tmp_path / "c.dot")],
        "diff": ["diff", str(log), str(bad)],
    }[command]
    result = clearing(*args)
    assert result.returncode == 1, result.stderr
    assert result.stderr == f"clearing: verification failed: {bad}: seq {seq}: hash chain broken; run `clearing verify`\n"
    assert result.stdout == "" and not list(tmp_path.iterdir())  # no report, no DOT file, not even a partial one


def test_a_complete_log_cut_short_is_refused_by_report_and_cascades(log, tmp_path, capsys):
    cut = tmp_path / "cut.sqlite"
    shutil.copy(log, cut)
    with tampering(cut) as conn:
        conn.execute("DELETE FROM events WHERE seq > (SELECT max(seq) - 3 FROM events)")
    for args in (["report", str(cut), "--out", str(tmp_path / "r.html")], ["cascades", str(cut)]):
        capsys.readouterr()
        assert main(args) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "the header records" in err
    assert not (tmp_path / "r.html").exists()


def test_the_report_compares_margin_modes_and_portfolio_types_in_tables(tmp_path, capsys):
    from tests.conftest import ROOT

    path = tmp_path / "types.sqlite"
    scenario = str(ROOT / "scenarios" / "option-portfolios.toml")
    overrides = ["--set", "duration_s=1800", "--set", "population.accounts=90", "--set", "checkpoint_interval_s=900",
                 "--set", "population.margin_modes={cross=0.5, portfolio=0.5}"]  # fmt: skip
    assert main(["run", scenario, "--seed", "1", "--out", str(path), *overrides]) == 0
    capsys.readouterr()
    assert main(["report", str(path), "--out", str(tmp_path / "r.html"), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    page = (tmp_path / "r.html").read_text()
    assert "<h2>By margin mode</h2>" in page and "<h2>By portfolio type</h2>" in page
    for name, counts in shown["strategies"].items():
        assert f"<th>{name}</th>" in page and counts["traders"] > 0
    assert set(shown["modes"]) == {"cross", "portfolio"} and "{&#x27;" not in page  # no dict printed raw in a cell
