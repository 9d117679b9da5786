"""`clearing serve`: a log in Datasette, read-only, with its units, descriptions and the studies' queries.

`metadata(path)` is Datasette's metadata for one log: a title from the run's header, a
description of every view and of its columns' units (from `clearing.events.fields` and
`clearing.log.schema`), and canned queries for the three studies (a crash day's peak minutes
and the fund's low; the oracle's age at liquidation; liquidations downstream of liquidation
fills). `serve` starts Datasette on it in immutable mode (the file is opened read-only and
never written), on 127.0.0.1 unless told otherwise. Datasette is an optional extra.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from clearing import events as ev
from clearing.errors import ConfigError
from clearing.events import fields as units
from clearing.log import schema
from clearing.log.reader import EventLogReader

_COLUMNS = {
    "seq": "the event's sequence number (its place in the hash chain)",
    "ts_ns": "simulated time of the event, ns since the run's epoch",
    "time_utc": "the event's time, UTC (ISO-8601, to the millisecond)",
    "causes": "JSON list of the seqs of the events that caused this one",
    "market": "market number (0, 1, ... in listing order)",
    "symbol": "the market's symbol",
    "account": "account number",
    "quantity": "size in the base asset (lots x lot size), signed where the lots are",
    "lag_ns": "delivery latency: time the exchange saw the price minus its source time, ns",
    "lag_s": "delivery latency, seconds",
}

QUERIES = {
    "peak_liquidation_minutes": {
        "title": "Crash replay: the ten minutes with the most liquidated notional",
        "sql": "SELECT minute_utc, symbol, liquidations, round(notional_quote, 2) AS notional_quote, "
               "insurance_paid, bad_debt FROM liquidations_per_minute ORDER BY notional DESC LIMIT 10",
    },
    "insurance_fund_low": {
        "title": "Crash replay: the insurance fund's start, low and end (quote)",
        "sql": "SELECT (SELECT balance_quote FROM insurance_fund_path ORDER BY seq LIMIT 1) AS first_balance, "
               "min(balance_quote) AS low, (SELECT time_utc FROM insurance_fund_path ORDER BY balance, seq LIMIT 1) "
               "AS low_at, (SELECT balance_quote FROM insurance_fund_path ORDER BY seq DESC LIMIT 1) AS end_balance "
               "FROM insurance_fund_path",
    },
    "who_was_liquidated": {
        "title": "Crash replay: every liquidation with its time, size, notional and bad debt",
        "sql": "SELECT time_utc, account, symbol, quantity, round(notional_quote, 2) AS notional_quote, "
               "fee_quote, insurance_paid_quote, bad_debt_quote FROM liquidations ORDER BY seq",
    },
    "oracle_age_at_liquidation": {
        "title": "Oracle sensitivity: how old the oracle price was at each liquidation, by minute",
        "sql": "SELECT substr(time_utc, 1, 16) AS minute, count(*) AS liquidations, round(avg(oracle_age_s), 3) "
               "AS mean_age_s, max(oracle_age_s) AS max_age_s FROM liquidation_oracle_lag GROUP BY minute ORDER BY minute",
    },
    "liquidations_downstream_of_liquidation_fills": {
        "title": "Cascades: margin breaches whose causes lead back (within 6 links) to a liquidation's fill",
        "sql": "WITH RECURSIVE up(breach, seq, depth) AS ("
               "SELECT b.seq, j.value, 1 FROM margin_breached AS b, json_each(b.causes) AS j "
               "UNION SELECT up.breach, j.value, up.depth + 1 FROM up JOIN events AS e ON e.seq = up.seq, "
               "json_each(e.causes) AS j WHERE up.depth < 6 AND NOT EXISTS (SELECT 1 FROM trade_executed AS t "
               "WHERE t.seq = e.seq)) "
               "SELECT count(DISTINCT up.breach) AS breaches_after_liquidation_fills, "
               "(SELECT count(*) FROM margin_breached) AS breaches FROM up JOIN trade_executed AS t ON t.seq = up.seq "
               "WHERE t.liquidation",
    },
}


def _column_description(kind: str | None, name: str) -> str | None:
    if name in _COLUMNS:
        return _COLUMNS[name]
    if name.endswith("_quote"):
        return f"{name.removesuffix('_quote')} in quote units (REAL; the integer column holds the exact minor units)"
    if name.endswith("_utc"):
        return "UTC time (ISO-8601)"
    if name.endswith("_ticks"):
        return "price in ticks of the market's tick size (exact integer)"
    if name.endswith("_ppm") or name.endswith("_ppb"):
        return f"a rate in parts per {'million' if name.endswith('_ppm') else 'billion'}"
    if name in units.MONEY:
        if kind is not None and (kind, name) in units.SETTLED:
            return "money in minor units of the market's settlement money (quote, or an inverse market's coin)"
        if kind is not None and (kind, name) in units.IN_ASSET:
            return "an amount of the collateral asset, in its minor units"
        return "money in quote minor units (exact integer)"
    if name.endswith("_ns"):
        return "nanoseconds"
    if name == "lots":
        return "size in lots (signed where the event's side is in the sign)"
    return None


def metadata(path: Path | str) -> dict[str, Any]:
    """Return Datasette's metadata for the log at `path` (read from its header and views)."""
    with EventLogReader(path) as reader:
        h = reader.header
        views = [r[0] for r in reader.conn.execute("SELECT name FROM sqlite_master WHERE type = 'view' ORDER BY name")]
        tables: dict[str, Any] = {}
        for view in views:
            names = [d[0] for d in reader.conn.execute(f'SELECT * FROM "{view}" LIMIT 0').description]
            kind = schema.VIEW_ALIASES.get(view, view)
            kind = kind if kind in ev.KINDS else None
            doc = (ev.KINDS[kind].__doc__ or "").strip().split("\n")[0] if kind else ""
            if view in schema.ANALYSIS_VIEWS:
                doc = f"analysis view: {view.replace('_', ' ')} (docs/events.md, 'SQL views')"
            columns = {n: d for n in names if (d := _column_description(kind, n)) is not None}
            tables[view] = {"description": doc or f"the {kind or view} events", "columns": columns}
        tables["events"] = {"description": "the append-only, hash-chained event log: one row per event",
                            "columns": {"payload": "the event as canonical JSON", "hash": "sha256 chain hash"}}
        tables["runs"] = {"description": "the run's header: scenario, seed, status, head hash"}
        if reader.layout >= schema.SNAPSHOTS_LAYOUT:  # binary state for `replay --until`, not for reading
            tables["snapshots"] = {"hidden": True, "description": "state snapshots at checkpoints (decision 0030)"}
    name = Path(path).stem
    return {
        "title": f"clearing: {h.scenario_name} (seed {h.seed}, run {h.run_id})",
        "description": f"Event log of a {h.status} run from {h.epoch_utc}: {h.events or 0:,} events. Read-only.",
        "databases": {name: {"tables": tables, "queries": QUERIES}},
    }


def serve(path: Path | str, host: str = "127.0.0.1", port: int = 8001, extra: tuple[str, ...] = ()) -> int:
    """Run Datasette on the log at `path`, read-only, until it is stopped; return its exit code."""
    try:
        import datasette  # noqa: F401
    except ImportError:
        raise ConfigError("clearing serve needs Datasette: pip install 'clearing-sim[serve]'") from None
    path = Path(path)
    meta = metadata(path)  # also checks that the file is a clearing log
    with tempfile.TemporaryDirectory(prefix="clearing-serve-") as tmp:
        meta_path = Path(tmp) / "metadata.json"
        meta_path.write_text(json.dumps(meta, indent=1))
        command = [sys.executable, "-m", "datasette", "serve", "-i", str(path), "--metadata", str(meta_path),
                   "--host", host, "--port", str(port), "--setting", "sql_time_limit_ms", "20000", *extra]  # fmt: skip
        process = subprocess.Popen(command, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        try:
            return process.wait()
        except KeyboardInterrupt:
            process.terminate()
            process.wait()
            raise
