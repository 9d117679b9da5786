"""`clearing report`'s page as a person meets it: opened from disk in a real headless Chromium.

Debian's chromium, driven by Playwright (never `playwright install`, which downloads a
browser): the page loads offline with no console error and no request but its own file,
every Plotly panel draws every trace, the time panels share one UTC axis (zooming one zooms
all, each y axis fitted to what is in view), hovering tells the value with separators, and
the headline numbers come first.
Skipped only when there is no Chromium: /usr/bin/chromium, or the binary $CHROMIUM names.
"""

import json
import os
import re
import shutil
from decimal import Decimal

import pytest

from clearing.cli import main
from tests.cli.test_cli import CRASH, SMALL


def _chromium() -> str | None:
    for name in (os.environ.get("CHROMIUM"), "/usr/bin/chromium"):
        found = name and shutil.which(name)
        if found:
            return found
    return None


CHROMIUM = _chromium()
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no Chromium to test the report page in: apt-get install chromium, or set CHROMIUM to its binary"
)

# The small synthetic crash: one market whose mark is its oracle price, 86 liquidations of one generation,
# a fund that only grew; no ADL, no bad debt. Each panel's title and traces, in order.
PANELS = {
    "Prices: BTCUSDT-PERP (index, oracle, mark, last trade)": ["last trade", "mark = oracle", "index"],
    "Basis to the index: BTCUSDT-PERP": ["last trade − index", "oracle = mark − index"],
    "Oracle age: how old the delivered oracle price is (since its observation), at each sample": ["BTCUSDT-PERP"],
    "Liquidated notional per minute, by cascade generation": ["generation 0"],
    "Liquidations per minute": ["liquidations"],
    "Insurance fund": ["balance = equity with its positions"],
    "Open interest: long notional at the mark": ["BTCUSDT-PERP"],
    "Liquidation backlog: the most accounts queued in each minute": ["most queued"],
}


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    folder = tmp_path_factory.mktemp("browser")
    log, page = folder / "small.sqlite", folder / "small.html"
    assert main(["run", CRASH, "--seed", "4", "--out", str(log), *SMALL, "--json"]) == 0
    assert main(["report", str(log), "--out", str(page), "--json"]) == 0
    return page


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def opened(report, browser):
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    problems, requests = [], []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"failed request: {r.url}"))
    page.on("request", lambda r: requests.append(r.url))
    page.route(re.compile(r"^(https?|wss?)://"), lambda route: route.abort())  # never the network, whatever the page asks
    page.goto(report.as_uri())
    try:
        page.wait_for_function("document.querySelectorAll('.js-plotly-plot svg.main-svg').length >= 2 * 3", timeout=15_000)
    except PlaywrightTimeout:
        pytest.fail(f"the panels were not drawn within 15 s; {problems or 'no error in the console'}")
    yield page, problems, requests
    page.close()


def test_the_page_loads_offline_without_an_error(opened, report):
    _page, problems, requests = opened
    assert problems == []
    assert requests == [report.as_uri()]  # its own file, nothing else: plotly.js is inline


def test_every_panel_draws_every_trace(opened):
    page = opened[0]
    graphs = page.evaluate("""() => [...document.querySelectorAll('.js-plotly-plot')].map(gd => ({
        id: gd.id, svgs: gd.querySelectorAll('svg.main-svg').length, traces: gd.data.map(t => t.name),
        drawn: gd.querySelectorAll('.scatterlayer .trace, .barlayer .trace').length,
        titles: gd.layout.annotations.map(a => a.text), points: gd.calcdata.map(c => c.length)}))""")
    assert [g["id"] for g in graphs] == ["time-panels", "cascade-panels"]
    time_panels, cascades = graphs
    assert [t for t in time_panels["titles"] if not t.startswith("configured latency")] == list(PANELS)
    assert time_panels["traces"] == [name for names in PANELS.values() for name in names]
    for graph in graphs:
        assert graph["svgs"] >= 3 and graph["drawn"] == len(graph["traces"]) and min(graph["points"]) > 0
    assert cascades["titles"] == ["Liquidations per generation", "Liquidated notional per generation (USDT)"]


def test_the_time_panels_share_one_utc_axis_and_zoom_together(opened):
    page = opened[0]
    axes = page.evaluate("""() => { const l = document.getElementById('time-panels')._fullLayout;
        return Object.keys(l).filter(k => /^xaxis\\d*$/.test(k)).map(k => [l[k].type, l[k].matches || null, l[k].range]); }""")
    assert len(axes) == len(PANELS) and {t for t, _m, _r in axes} == {"date"}
    assert len({m for _t, m, _r in axes if m}) == 1 and sum(m is None for _t, m, _r in axes) == 1  # all match one
    assert {tuple(r) for _t, _m, r in axes} == {("2024-03-01 00:00:00", "2024-03-01 00:25:00")}  # the run, in UTC
    prices = "document.getElementById('time-panels')._fullLayout.yaxis.range"
    whole = page.evaluate(f"() => {prices}")
    zoom = ["2024-03-01 00:10:00", "2024-03-01 00:12:00"]
    page.evaluate(f"() => Plotly.relayout('time-panels', {{'xaxis3.range': {json.dumps(zoom)}}})")
    ranges = page.evaluate("""() => { const l = document.getElementById('time-panels')._fullLayout;
        return Object.keys(l).filter(k => /^xaxis\\d*$/.test(k)).map(k => l[k].range); }""")
    assert ranges == [zoom] * len(PANELS)
    fitted = page.evaluate(f"() => {prices}")  # the y axes fitted to what is in view: 60,000 down to 57,000-odd
    assert whole[0] < 50_000 < fitted[0] < fitted[1] < whole[1]
    page.dblclick("#time-panels .nsewdrag[data-subplot='xy']")  # back to the whole run
    page.wait_for_function("document.getElementById('time-panels')._fullLayout.xaxis5.range[1] === '2024-03-01 00:25:00'")
    assert page.evaluate(f"() => {prices}") == pytest.approx(whole)


def test_hovering_tells_the_time_and_the_values_with_separators(opened):
    page = opened[0]
    drag = page.locator("#time-panels .nsewdrag[data-subplot='xy']")
    drag.scroll_into_view_if_needed()
    box = drag.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.45, box["y"] + box["height"] / 2)
    page.wait_for_function("document.querySelector('#time-panels .hoverlayer').textContent.includes('UTC')")
    text = page.evaluate("() => document.querySelector('#time-panels .hoverlayer').textContent")
    assert "2024-03-01 00:1" in text and "index: 5" in text and "mark = oracle: 5" in text and "," in text


def test_the_headline_numbers_come_first_with_separators(opened, report, capsys):
    page = opened[0]
    log = report.with_suffix(".sqlite")
    capsys.readouterr()
    assert main(["replay", str(log), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    cards = page.evaluate("() => [...document.querySelectorAll('.headline .card')].map(c => [c.id, c.innerText])")
    assert [key for key, _text in cards] == ["h-liquidated", "h-bad-debt", "h-fund-draw", "h-adl", "h-peak-minute"]
    text = dict(cards)
    assert f"{Decimal(summary['liquidated_notional']):,.2f} USDT" in text["h-liquidated"]
    assert f"{summary['liquidations']} liquidations" in text["h-liquidated"] and "," in text["h-liquidated"]
    assert "0.00 USDT" in text["h-bad-debt"] and "0.00 USDT" in text["h-adl"]
    assert "UTC" in text["h-peak-minute"] and "2024-03-01: " in text["h-peak-minute"]
    top = page.evaluate("() => document.querySelector('.headline').getBoundingClientRect().top + window.scrollY")
    bottom = page.evaluate("() => document.querySelector('.provenance').getBoundingClientRect().top + window.scrollY")
    body = page.inner_text("body")
    assert top < 200 < bottom and body.index(summary["head_hash"]) > body.index("Provenance")
