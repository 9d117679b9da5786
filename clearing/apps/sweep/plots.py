"""A sweep's plots, in DIR: per swept parameter, its metrics against it, and their paired differences from a baseline.

`<key>.png`: each metric that varies (bad debt, liquidations, the fund's minimum, ADL, the
oracle's age at liquidation, liquidations per margin mode when the traders are in several)
against the parameter: one line per combination of the other parameters (the mean over
seeds), with the seeds as dots. A metric equal in every run is not drawn (the figure says so).

`<key>_paired.png`: every run of a grid point has a twin at the baseline value (the first
value `--grid` gave the parameter) with the same seed and the same other parameters; the
figure draws, per value, each seed's difference from its twin and their mean with a 95 %
interval (Student's t over the seeds). Sharing the seed removes the noise the seeds have in
common, so an effect consistent across seeds shows as an interval clear of zero even when
the min-max bands of the first figure overlap.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from clearing.apps.sweep.results import MANIFEST, PLOTTED, RESULTS, complete_rows, number, order
from clearing.errors import ConfigError

# The metrics drawn: the results' columns (`PLOTTED`) and the oracle's mean age at liquidation.
DRAWN = {**PLOTTED, "oracle_lag_at_liquidation_mean_s": "oracle age at liquidation, mean (s)"}


@dataclass(frozen=True)
class Sweep:
    """A sweep's complete runs and what was swept (from DIR/sweep.json and DIR/results.sqlite)."""

    out: Path
    manifest: dict[str, Any]
    keys: list[str]
    values: dict[str, list[str]]  # each key's values, in the order --grid gave them (the first is the baseline)
    rows: list[dict[str, Any]]


def load(out: Path) -> Sweep:
    """Read a sweep directory.

    Raises:
        ConfigError: not a sweep directory, or no complete run.
    """
    manifest_path, results = out / MANIFEST, out / RESULTS
    if not manifest_path.is_file() or not results.is_file():
        raise ConfigError(f"{out}: not a sweep directory (no {MANIFEST} or {RESULTS})")
    try:
        manifest = json.loads(manifest_path.read_text())
        grid = [(key, [str(v) for v in values]) for key, values in manifest["grid"]]
    except (ValueError, KeyError, TypeError) as e:
        raise ConfigError(f"{manifest_path}: unreadable sweep manifest ({e})") from None
    rows = complete_rows(out)
    if not rows:
        raise ConfigError(f"{results}: no complete run to plot")
    for r in rows:
        r["_params"] = json.loads(r["params"])
        r.update(_mode_metrics(r))
    return Sweep(out, manifest, [k for k, _ in grid], dict(grid), rows)


def _mode_metrics(row: dict[str, Any]) -> dict[str, float]:
    # Liquidations per margin mode, from the run's summary (present when the traders are in several modes).
    try:
        modes = json.loads(row.get("summary") or "{}").get("modes") or {}
    except ValueError:
        return {}
    return {f"liquidations_{mode}": float(m["liquidations"]) for mode, m in modes.items()}


def metrics(sweep: Sweep) -> dict[str, str]:
    """Return the metrics to draw (name -> axis label): `DRAWN` and per-mode liquidations, those that vary only."""
    names = dict(DRAWN)
    for mode in sorted({k.removeprefix("liquidations_") for r in sweep.rows for k in r if k.startswith("liquidations_")}):
        names[f"liquidations_{mode}"] = f"liquidations, {mode} margin"
    return names


def _varies(sweep: Sweep, metric: str) -> bool:
    values = {float(r[metric]) for r in sweep.rows if r.get(metric) is not None}
    return len(values) > 1


def plot(out: Path) -> list[Path]:
    """Draw, per swept parameter, its metrics and their paired differences into DIR; return the PNG paths.

    Raises:
        ConfigError: DIR has no sweep results.
    """
    import matplotlib

    matplotlib.use("Agg")
    sweep = load(out)
    drawn = metrics(sweep)
    varying = {m: label for m, label in drawn.items() if _varies(sweep, m)}
    constant = [label for m, label in drawn.items() if m not in varying]
    written = []
    for key in sweep.keys:
        if not varying:
            break
        written.append(_against(sweep, key, varying, constant))
        paired = _paired(sweep, key, varying)
        if paired is not None:
            written.append(paired)
    return written


def _grid(n: int) -> tuple[Any, Any]:
    import matplotlib.pyplot as plt

    cols = 2 if n > 1 else 1
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.6 * cols, 3.4 * rows + 0.6), constrained_layout=True, squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, axes.flat


def _positions(sweep: Sweep, key: str, xs: list[str]) -> tuple[list[float], bool]:
    numeric = all(number(x) is not None for x in sweep.values[key])
    ordered = sorted(sweep.values[key], key=order)
    return [float(number(x) or 0.0) if numeric else float(ordered.index(x)) for x in xs], numeric


def _axis(ax: Any, sweep: Sweep, key: str, numeric: bool) -> None:
    xs = sorted(sweep.values[key], key=order)
    if numeric and len(xs) > 2 and min(number(x) or 0 for x in xs) > 0 and (number(xs[-1]) or 1) / (number(xs[0]) or 1) >= 100:
        ax.set_xscale("log")
    if not numeric:
        ax.set_xticks(range(len(xs)), xs)
    ax.set_xlabel(key)
    ax.grid(alpha=0.3)


def _save(fig: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    partial = path.with_name(path.name + ".partial.png")
    fig.savefig(partial, dpi=110)
    plt.close(fig)
    partial.replace(path)
    return path


def _against(sweep: Sweep, key: str, varying: dict[str, str], constant: list[str]) -> Path:
    others = [k for k in sweep.keys if k != key]
    series: dict[tuple[str, ...], dict[str, list[dict[str, Any]]]] = {}
    for r in sweep.rows:
        p = r["_params"]
        series.setdefault(tuple(p.get(k, "") for k in others), {}).setdefault(p[key], []).append(r)
    fig, axes = _grid(len(varying))
    numeric = False
    for ax, (metric, label) in zip(axes, varying.items(), strict=False):
        for combo, points in sorted(series.items(), key=lambda item: [order(v) for v in item[0]]):
            xs = sorted(points, key=order)
            pos, numeric = _positions(sweep, key, xs)
            values = [[float(r[metric]) for r in points[x] if r.get(metric) is not None] for x in xs]
            name = ", ".join(f"{k}={v}" for k, v in zip(others, combo, strict=True)) or "mean over seeds"
            line = ax.plot(pos, [float(np.mean(v)) if v else np.nan for v in values], marker="o", label=name)[0]
            for p_, v in zip(pos, values, strict=True):
                ax.scatter([p_] * len(v), v, s=9, color=line.get_color(), alpha=0.5)
        ax.set_ylabel(label)
        _axis(ax, sweep, key, numeric)
    seeds = max(len(v) for s in series.values() for v in s.values())
    note = f"; the same in every run: {', '.join(constant)}" if constant else ""
    fig.suptitle(f"{Path(sweep.manifest.get('scenario', '')).name}: metrics against {key} "
                 f"(line: mean over {seeds} seed(s), dots: seeds){note}", fontsize=9)  # fmt: skip
    if others or len(series) > 1:
        axes[0].legend(fontsize=7)
    return _save(fig, sweep.out / f"{key.replace('.', '_')}.png")


def paired_differences(sweep: Sweep, key: str, metric: str) -> dict[str, list[float]]:
    """Return, per value of `key` other than the baseline, each run's metric minus its twin's at the baseline.

    A run's twin has the baseline value of `key` and the same seed and other parameters; runs
    without a complete twin are left out.
    """
    baseline = sweep.values[key][0]
    others = [k for k in sweep.keys if k != key]

    def twin_key(r: dict[str, Any]) -> tuple[Any, ...]:
        return (r["seed"], *(r["_params"].get(k, "") for k in others))

    base = {twin_key(r): float(r[metric]) for r in sweep.rows if r["_params"].get(key) == baseline and r.get(metric) is not None}
    out: dict[str, list[float]] = {}
    for r in sweep.rows:
        value = r["_params"].get(key)
        twin = base.get(twin_key(r))
        if value != baseline and twin is not None and r.get(metric) is not None:
            out.setdefault(value, []).append(float(r[metric]) - twin)
    return out


def _interval(diffs: list[float]) -> float:
    # Half-width of the 95 % interval of the mean difference (Student's t); 0 with one seed.
    if len(diffs) < 2:
        return 0.0
    from scipy.stats import t

    return float(t.ppf(0.975, len(diffs) - 1) * np.std(diffs, ddof=1) / np.sqrt(len(diffs)))


def _paired(sweep: Sweep, key: str, varying: dict[str, str]) -> Path | None:
    baseline = sweep.values[key][0]
    panels = {m: label for m, label in varying.items() if any(paired_differences(sweep, key, m).values())}
    if not panels or len(sweep.values[key]) < 2:
        return None
    fig, axes = _grid(len(panels))
    for ax, (metric, label) in zip(axes, panels.items(), strict=False):
        diffs = paired_differences(sweep, key, metric)
        xs = sorted(diffs, key=order)
        pos, numeric = _positions(sweep, key, xs)
        means = [float(np.mean(diffs[x])) for x in xs]
        ax.errorbar(pos, means, yerr=[_interval(diffs[x]) for x in xs], fmt="o-", capsize=4, label="mean, 95 % interval")
        for p_, x in zip(pos, xs, strict=True):
            ax.scatter([p_] * len(diffs[x]), diffs[x], s=9, alpha=0.5, color="grey")
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set_ylabel(f"{label}\nminus at {key}={baseline}")
        _axis(ax, sweep, key, numeric)
    seeds = max(len(v) for m in panels for v in paired_differences(sweep, key, m).values())
    fig.suptitle(f"{Path(sweep.manifest.get('scenario', '')).name}: each run minus its twin at {key}={baseline} "
                 f"(same seed and other settings; up to {seeds} pairs a value, grey: each pair)", fontsize=9)  # fmt: skip
    axes[0].legend(fontsize=7)
    return _save(fig, sweep.out / f"{key.replace('.', '_')}_paired.png")
