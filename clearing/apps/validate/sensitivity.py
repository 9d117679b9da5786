"""Which assumptions move each crash day the most: one at a time, each to a low and a high value (a tornado).

Every day runs once as it is (its base) and once per (assumption, value) with that one key
changed (`plan_sensitivity`; the same `run_day` as the validation, its log removed once
measured). For each day the assumptions are ranked by the swing of the liquidated share of
open interest (the larger of |share(value) - share(base)| over the two values, in points of
open interest) and, separately, by the largest shift of the peak minute; the fund's draw and the
ADL are shown beside them (the throughput's and the unwind pace's effect is there, not in the
share). `tornado_table` is the ranking as markdown, `tornado_plot` draws one bar chart per day.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clearing.apps.sweep.plan import Task
from clearing.apps.sweep.results import complete_rows
from clearing.apps.validate.metrics import DayMetrics, minutes_apart, share_in, utc_minute
from clearing.apps.validate.table import money
from clearing.errors import ConfigError
from clearing.log.verify import run_id_for
from clearing.scenario import load_scenario

if TYPE_CHECKING:
    from clearing.apps.validate import Reported


def parse_vary(options: list[str]) -> list[tuple[str, list[str]]]:
    """Return [(key, [low, high]), ...] from `--vary key=low,high` options.

    Raises:
        ConfigError: an option without "=" or without exactly two values, or a key given twice.
    """
    out: list[tuple[str, list[str]]] = []
    for option in options:
        key, sep, values = option.partition("=")
        parts = [v.strip() for v in values.split(",")] if sep else []
        if not key or len(parts) != 2 or not all(parts):
            raise ConfigError(f"--vary {option}: expected KEY=LOW,HIGH")
        if key in [k for k, _ in out]:
            raise ConfigError(f"--vary {key}: given twice")
        out.append((key, parts))
    return out


def plan_sensitivity(days: list[Reported], scenarios: Path, out: Path, seed: int, overrides: tuple[str, ...],
                     vary: list[tuple[str, list[str]]], data_dir: str | None) -> list[Task]:  # fmt: skip
    """Return each day's base task and one task per (key, value), the key changed alone; logs are not kept.

    Raises:
        ConfigError: a scenario file is missing, or a value does not validate (naming the key).
    """
    tasks = []
    for day in days:
        for key, value in [("", ""), *((k, v) for k, values in vary for v in values)]:
            changed = (*overrides, f"{key}={value}") if key else overrides
            scenario = load_scenario(scenarios / day.scenario, changed)
            name = f"{day.name}-{key}={value}" if key else f"{day.name}-base"
            params = (("day", day.name), ("key", key), ("value", value), ("keep_log", "no"))
            # keyed by the change too: a value equal to the scenario's own is a row of its own, not the base's
            tasks.append(Task(run_id_for(f"{scenario.hash()}|{name}", seed), params, 0, seed, scenario.model_dump_json(),
                              str(out / "logs" / f"{name}.sqlite"), data_dir))  # fmt: skip
    return tasks


def swings(days: list[Reported], out: Path, vary: list[tuple[str, list[str]]]) -> dict[str, list[dict[str, Any]]]:
    """Return, per day, each assumption's results at its two values beside the base, ranked by the share's swing.

    Raises:
        ConfigError: no day's base run is complete in `out`.
    """
    measured: dict[tuple[str, str, str], DayMetrics] = {}
    for row in complete_rows(out):
        p = json.loads(row["params"])
        measured[(p["day"], p["key"], p["value"])] = DayMetrics(**json.loads(row["metrics"]))
    ranked: dict[str, list[dict[str, Any]]] = {}
    for day in days:
        base = measured.get((day.name, "", ""))
        if base is None:
            continue
        share0 = share_in(base, day.share_window)
        rows: list[dict[str, Any]] = []
        for key, values in vary:
            runs = [measured.get((day.name, key, v)) for v in values]
            if any(r is None for r in runs):
                continue
            shares = [share_in(r, day.share_window) for r in runs if r is not None]
            peaks = [minutes_apart(r.peak_utc, utc_minute(base.peak_utc)) if base.peak_utc else None for r in runs if r]
            rows.append({
                "key": key, "values": values, "shares": shares, "peaks": [r.peak_utc for r in runs if r],
                "share_swing": max(abs(s - share0) for s in shares), "peak_shift_min": max((p or 0.0) for p in peaks),
                "real_peak_apart": [minutes_apart(r.peak_utc, day.peak_utc) for r in runs if r],
                "fund_draw": [r.fund_draw for r in runs if r], "adl": [r.adl_notional for r in runs if r],
            })  # fmt: skip
        rows.sort(key=lambda r: (-r["share_swing"], r["key"]))
        ranked[day.name] = [{"key": "", "base_share": share0, "base_peak": base.peak_utc, "base_fund_draw": base.fund_draw,
                             "base_adl": base.adl_notional}, *rows]  # fmt: skip
    if not ranked:
        raise ConfigError(f"{out}: no day's base run is complete there")
    return ranked



def tornado_table(ranked: dict[str, list[dict[str, Any]]]) -> str:
    """Return the ranking as markdown: per day, each assumption's share and peak at its low and high value."""
    lines = []
    for day, (base, *rows) in ranked.items():
        lines += [
            f"**{day}**: base share {base['base_share'] * 100:.2f} %, peak {base['base_peak'][5:].replace('T', ' ')}, "
            f"fund draw {money(base.get('base_fund_draw', 0.0))}, ADL {money(base.get('base_adl', 0.0))}",
            "",
            "| rank | assumption | low -> share, peak | high -> share, peak | share swing | peak shift "
            "| fund draw, ADL: low / high |",
            "|---|---|---|---|---|---|---|",
        ]
        for rank, r in enumerate(rows, 1):
            cells = [f"{v} -> {s * 100:.2f} %, {p[11:16] or '-'}" for v, s, p in zip(r["values"], r["shares"], r["peaks"],
                                                                                    strict=True)]  # fmt: skip
            fund = " / ".join(f"{money(f)}, {money(a)}" for f, a in zip(r["fund_draw"], r["adl"], strict=True))
            lines.append(f"| {rank} | `{r['key']}` | {cells[0]} | {cells[1]} | {r['share_swing'] * 100:.2f} pts | "
                         f"{r['peak_shift_min']:.0f} min | {fund} |")  # fmt: skip
        lines.append("")
    return "\n".join(lines)


def tornado_plot(ranked: dict[str, list[dict[str, Any]]], out: Path) -> Path:
    """Draw one tornado per day (the share at each assumption's low and high value around the base) into one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    days = list(ranked)
    fig, axes = plt.subplots(1, len(days), figsize=(4.8 * len(days), 0.45 * max(len(r) for r in ranked.values()) + 1.8),
                             squeeze=False)  # fmt: skip
    for ax, day in zip(axes[0], days, strict=True):
        base, *rows = ranked[day]
        b = base["base_share"] * 100
        for y, r in enumerate(reversed(rows)):
            low, high = (s * 100 for s in r["shares"])
            ax.barh(y, low - b, left=b, color="tab:blue", height=0.6)
            ax.barh(y, high - b, left=b, color="tab:orange", height=0.6)
        ax.axvline(b, color="black", linewidth=0.8)
        ax.set_yticks(range(len(rows)), [r["key"].split(".", 1)[-1] for r in reversed(rows)])  # without the section
        ax.set_title(day)
        ax.set_xlabel("liquidated share of OI, %")
    fig.suptitle("One assumption at a time: blue its low value, orange its high value", fontsize=10)
    fig.tight_layout()
    path = out / "tornado.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
