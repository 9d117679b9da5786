"""A sweep's results store: DIR/results.sqlite (table `runs`, a row per run), its CSV copy and the manifest's name.

A row holds the run's parameters, replication, seed, config hash (`run_id`), status and
error, the stored metrics, the log's path and the summary as JSON. The table is the sweep's
memory: a run whose row is complete is not run again.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import sqlite_utils

RESULTS = "results.sqlite"
MANIFEST = "sweep.json"
# The metrics plotted against each swept parameter, with their axis labels.
PLOTTED = {
    "bad_debt": "bad debt (quote)",
    "liquidations": "liquidations",
    "insurance_fund_min": "insurance fund minimum (quote)",
    "adl_notional": "ADL notional (quote)",
}
# Summary fields stored per run: exact decimal strings become REAL columns for queries and
# plots (the exact values stay in the run's log and in the `summary` JSON column).
METRICS = (
    "events", "margin_breaches", "liquidations", "liquidated_notional", "bad_debt", "insurance_fund_min",
    "insurance_fund_end", "insurance_paid", "adl_events", "adl_notional", "socialised_loss", "max_liquidation_backlog",
    "max_queue_wait_s", "oracle_lag_at_liquidation_mean_s", "oracle_lag_at_liquidation_max_s",
)  # fmt: skip


def open_results(out: Path) -> sqlite_utils.Database:
    """Open (creating) DIR/results.sqlite."""
    return sqlite_utils.Database(out / RESULTS)


def complete_rows(out: Path) -> list[dict[str, Any]]:
    """Return the rows of the complete runs in DIR/results.sqlite (none when it has no table yet)."""
    db = open_results(out)
    try:
        if "runs" not in db.table_names():
            return []
        return list(db.query("SELECT * FROM runs WHERE status = 'complete' ORDER BY params, replication"))
    finally:
        db.close()


def done_ids(db: sqlite_utils.Database) -> set[str]:
    """Return the config hashes of the runs already complete."""
    if "runs" not in db.table_names():
        return set()
    return {row["run_id"] for row in db.query("SELECT run_id FROM runs WHERE status = 'complete'")}


def write_csv(db: sqlite_utils.Database, path: Path) -> None:
    """Write the `runs` table (without the summary JSON) to `path`, atomically."""
    if "runs" not in db.table_names():
        return
    columns = [c.name for c in db["runs"].columns if c.name != "summary"]
    partial = path.with_name(path.name + ".partial")
    with partial.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        quoted = ", ".join(f'"{c}"' for c in columns)
        for row in db.execute(f"SELECT {quoted} FROM runs ORDER BY params, replication").fetchall():
            writer.writerow(row)
    partial.replace(path)


def summarise(out: Path, keys: Iterable[str]) -> list[dict[str, Any]]:
    """Return, per grid point, the mean of the plotted metrics over its complete runs."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in complete_rows(out):
        groups.setdefault(r["params"], []).append(r)
    table = []
    for params, runs in groups.items():
        p = json.loads(params)
        table.append({**{k: p.get(k, "") for k in keys}, "runs": len(runs),
                      **{m: float(np.mean([r[m] for r in runs])) for m in PLOTTED}})  # fmt: skip
    return sorted(table, key=lambda row: [order(str(row[k])) for k in keys])


def number(text: str) -> float | None:
    """Return `text` as a finite float, or None."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def swept_value(text: str) -> int | float | str:
    """Return a swept value as stored in its results column: a whole number as an integer, another number as a
    float, anything else as the text (so SQL sorts 60 before 3600; `params` keeps the text)."""
    value = number(text)
    if value is None:
        return text
    try:
        return int(text)
    except ValueError:
        return value


def order(text: str) -> tuple[bool, float, str]:
    """Return the sort key of a parameter value: numbers in numeric order, then other values in text order."""
    value = number(text)
    return (value is None, value or 0.0, text)
