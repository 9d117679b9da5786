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


def kind_code(kind: str) -> str:
    """Return SQL of a kind's code in a log's `kinds` table (for a row's `kind` column)."""
    return f"(SELECT code FROM kinds WHERE kind = '{kind}')"


def bumped(kind: str, field: str, by: int = 1) -> str:
    """Return SQL of a `kind` row's payload with `field` (an integer) raised by `by`."""
    i = schema.ev.PAYLOAD_FIELDS[kind].index(field)
    return f"json_set(payload, '$[{i}]', json_extract(payload, '$[{i}]') + {by})"


def rechain(conn: sqlite3.Connection) -> bytes:
    """Recompute every row's stored hash and the header's head (as a buggy writer would); return the head."""
    run_id, scenario_hash, seed = conn.execute("SELECT run_id, scenario_hash, seed FROM runs").fetchone()
    head = schema.genesis_hash(run_id, scenario_hash, seed)
    rows = conn.execute(f"SELECT seq, version, {schema.canonical_sql()} FROM events ORDER BY seq").fetchall()
    for seq, version, payload in rows:
        head = schema.chain_hash(head, seq, version, payload.encode())
        conn.execute("UPDATE events SET hash = ? WHERE seq = ?", (head[: schema.ROW_HASH_BYTES], seq))
    conn.execute("UPDATE runs SET head_hash = ?", (head.hex(),))
    return head
