"""Shared fixtures: small scenarios, hypothesis profiles."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from clearing.log import schema
from clearing.scenario import Scenario, load_scenario

settings.register_profile("default", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci", deadline=None, max_examples=200, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci" if os.environ.get("CI") else "default")

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"


def small_scenario(**overrides: object) -> Scenario:
    """The synthetic crash, shrunk to 600 accounts and 40 simulated minutes."""
    base = load_scenario(SCENARIOS / "synthetic-crash.toml").model_dump()
    base.update(duration_s=2400, checkpoint_interval_s=300)
    base["population"].update(accounts=600, entry_window_s=300)
    base["price"]["shocks"] = [
        {"start_s": 900, "duration_s": 300, "change": -0.3},
        {"start_s": 1200, "duration_s": 600, "change": 0.15},
    ]
    for key, value in overrides.items():
        node = base
        *path, last = key.split("__")
        for part in path:
            node = node[part]
        node[last] = value
    return Scenario.model_validate(base)


@pytest.fixture
def scenario() -> Scenario:
    return small_scenario()


@contextmanager
def tampering(path: Path) -> Iterator[sqlite3.Connection]:
    """Open a log as an attacker would: triggers dropped, edits made, triggers put back."""
    conn = sqlite3.connect(path)
    for name in schema.TRIGGER_NAMES:
        conn.execute(f"DROP TRIGGER {name}")
    yield conn
    for sql in schema.TRIGGERS_SQL:
        conn.execute(sql)
    conn.commit()
    conn.close()
