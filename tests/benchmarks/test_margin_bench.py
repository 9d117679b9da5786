"""`clearing margin` speed: a 200-position multi-asset options book under every model; Monte Carlo ES.

Targets (issue 15): the whole analysis of the book (isolated, cross, SPAN, grid and ES by the
engine with each position's marginal requirement, historical VaR/ES with attribution, the
Greeks) in under a second; Monte Carlo ES with attribution over 10^5 correlated paths in a
few seconds. The book: four perpetuals and 49 options on each (7 expiries x 7 strikes), one
position in each market, generated with its scenario and a day of synthetic 1-minute bars per
underlying (the size of a crash-day tape).
"""

from __future__ import annotations

import numpy as np
import pytest

from clearing.apps.margin import analyse, load_book
from clearing.apps.margin.var import monte_carlo_returns, position_pnl, tail_measure

UNDERLYINGS = (("BTC", 60_000, "0.1", "0.001"), ("ETH", 3_000, "0.01", "0.01"), ("SOL", 150, "0.01", "0.1"),
               ("XRP", 0.6, "0.0001", "10"))  # fmt: skip
EXPIRIES_D = (1, 3, 7, 14, 30, 60, 90)
MONEYNESS = (0.8, 0.9, 0.95, 1.0, 1.05, 1.1, 1.2)


def _scenario() -> str:
    first = UNDERLYINGS[0]
    out = [
        'name = "bench-book"\nepoch = "2024-03-01T00:00:00Z"\nduration_s = 3600\n',
        f'[market]\nsymbol = "{first[0]}-PERP"\ntick_size = "{first[2]}"\nlot_size = "{first[3]}"\nquote_decimals = 6\n',
        f'[price]\nmodel = "gbm"\ninitial = "{first[1]}"\n',
    ]
    for i, (name, price, tick, lot) in enumerate(UNDERLYINGS):
        if i:
            out.append(f'[[markets]]\nsymbol = "{name}-PERP"\ntick_size = "{tick}"\nlot_size = "{lot}"\n'
                       f'[markets.price]\ninitial = "{price}"\n')  # fmt: skip
        for days in EXPIRIES_D:
            for m in MONEYNESS:
                strike = float(price) * m
                strike_text = f"{strike:.4f}".rstrip("0").rstrip(".")
                kind = "put" if m < 1 else "call"
                out.append(
                    f'[[markets]]\nsymbol = "{name}-{days}D-{strike_text}-{kind[0].upper()}"\nkind = "option"\n'
                    f'underlying = "{name}-PERP"\noption_type = "{kind}"\nstrike = "{strike_text}"\nexpiry_s = {days * 86400}\n'
                    f'tick_size = "{tick}"\nlot_size = "{lot}"\n'
                )  # fmt: skip
    return "\n".join(out)


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench-book")
    (root / "scenario.toml").write_text(_scenario())
    rng = np.random.default_rng(0)
    lines = ['scenario = "scenario.toml"', 'cash = "10000000"', "[history]", "horizon_minutes = 60", "[history.files]"]
    positions = []
    for name, price, tick, _lot in UNDERLYINGS:
        path = root / f"{name.lower()}.csv"
        closes = float(price) * np.exp(np.cumsum(rng.normal(0, 0.001, 1440)))  # a day of minutes, as a crash-day tape
        decimals = len(tick.split(".")[1]) if "." in tick else 0
        rows = [f"{1_709_251_200_000 + 60_000 * i},{c:.{decimals}f},{c:.{decimals}f},{c:.{decimals}f},{c:.{decimals}f},1"
                for i, c in enumerate(closes)]  # fmt: skip
        path.write_text("ts,open,high,low,close,volume\n" + "\n".join(rows) + "\n")
        lines.append(f'"{name}-PERP" = ["{path.name}"]')
        positions.append((f"{name}-PERP", 1))
        for days in EXPIRIES_D:
            for m in MONEYNESS:
                strike = f"{float(price) * m:.4f}".rstrip("0").rstrip(".")
                positions.append((f"{name}-{days}D-{strike}-{'P' if m < 1 else 'C'}", int(rng.integers(-5, 6)) or 1))
    lots = {name: lot for name, _p, _t, lot in UNDERLYINGS}
    body = "\n".join(lines) + "\n" + "".join(
        f'[[positions]]\nsymbol = "{s}"\nquantity = "{q * float(lots[s.split("-")[0]]):g}"\n' for s, q in positions
    )
    (root / "book.toml").write_text(body)
    return load_book(root / "book.toml", data_dir=root)


def test_the_whole_analysis_of_a_200_position_book(benchmark, book):
    assert len(book.held()) == 200
    result = benchmark.pedantic(analyse, args=(book, ("isolated", "cross", "span", "grid", "es", "var")), rounds=3)
    assert set(result.engine) == {"isolated", "cross", "span", "grid", "es"} and "historical" in result.tails


def test_monte_carlo_es_over_100000_correlated_paths(benchmark, book):
    from clearing.apps.margin.book import MonteCarloConfig

    n = len(UNDERLYINGS)
    correlation = tuple(tuple(1.0 if i == j else 0.7 for j in range(n)) for i in range(n))
    mc = MonteCarloConfig(underlyings=tuple(f"{u[0]}-PERP" for u in UNDERLYINGS), vols=(0.6, 0.75, 0.9, 0.9),
                          correlation=correlation, paths=100_000)  # fmt: skip
    with_mc = book._replace(monte_carlo=mc)

    def run():
        return tail_measure(position_pnl(with_mc, monte_carlo_returns(with_mc, 0)), 0.99)

    t = benchmark.pedantic(run, rounds=2)
    assert t.scenarios == 100_000 and t.es >= t.var


@pytest.mark.parametrize("model", ["cross", "grid"])
def test_time_to_liquidation_over_100_monte_carlo_paths_of_an_hour(benchmark, book, model):
    # The 200-position book along 100 correlated Monte Carlo paths, minute by minute for an hour: the cost of the
    # distribution of its time to liquidation (`clearing margin --stress` with [stress] paths), per model.
    from clearing.apps.margin.book import MonteCarloConfig
    from clearing.apps.margin.stress import distribution, monte_carlo_path

    n = len(UNDERLYINGS)
    correlation = tuple(tuple(1.0 if i == j else 0.7 for j in range(n)) for i in range(n))
    mc = MonteCarloConfig(underlyings=tuple(f"{u[0]}-PERP" for u in UNDERLYINGS), vols=(0.6, 0.75, 0.9, 0.9),
                          correlation=correlation)  # fmt: skip
    with_mc = book._replace(monte_carlo=mc)
    path = monte_carlo_path(with_mc, 100, 60, 0)
    d = benchmark.pedantic(distribution, args=(with_mc, path, model), rounds=1)
    assert d.liquidated_at.shape == (100,)
