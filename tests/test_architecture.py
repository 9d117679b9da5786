"""The pure core imports no simulation, storage or logging library."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "clearing"
CORE = [
    "units", "rng", "events", "state", "margin", "oracle", "prices", "liquidation", "population", "invariants",
    "scenario", "errors", "book", "funding", "mark", "tapes", "risk",
    "agents/market_maker", "agents/noise", "agents/arbitrageur",
    "reducers/checks", "reducers/ledger", "reducers/orders", "reducers/prices", "reducers/funding", "reducers/collateral",
    "reducers/margin",
]  # fmt: skip
FORBIDDEN = {"simpy", "sqlite3", "sqlite_utils", "structlog"}


def imported(path):
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("module", CORE)
def test_core_module_is_pure(module):
    assert not imported(PACKAGE / f"{module}.py") & FORBIDDEN


def test_only_the_cli_configures_logging():
    for path in PACKAGE.rglob("*.py"):
        if path.name != "cli.py":
            assert "structlog.configure" not in path.read_text(), path


def test_no_global_or_clock_randomness():
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text()
        for bad in ("np.random.seed", "random.seed", "default_rng()", "time.time(", "datetime.now("):
            assert bad not in text, f"{path}: {bad}"
