"""A sweep's plots: each plotted metric against each swept parameter, one PNG per parameter in DIR."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from clearing.apps.sweep.results import MANIFEST, PLOTTED, RESULTS, complete_rows, number, order
from clearing.errors import ConfigError


def plot(out: Path) -> list[Path]:
    """Draw each plotted metric against each swept parameter into DIR; return the PNG paths.

    For each parameter: one line per combination of the other parameters (the mean over
    seeds), with the band from the lowest to the highest seed and the seeds as dots.

    Raises:
        ConfigError: DIR has no sweep results.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    manifest_path, results = out / MANIFEST, out / RESULTS
    if not manifest_path.is_file() or not results.is_file():
        raise ConfigError(f"{out}: not a sweep directory (no {MANIFEST} or {RESULTS})")
    try:
        manifest = json.loads(manifest_path.read_text())
        keys = [key for key, _values in manifest["grid"]]
    except (ValueError, KeyError, TypeError) as e:
        raise ConfigError(f"{manifest_path}: unreadable sweep manifest ({e})") from None
    rows = complete_rows(out)
    if not rows:
        raise ConfigError(f"{results}: no complete run to plot")
    written = []
    for key in keys:
        others = [k for k in keys if k != key]
        series: dict[tuple[str, ...], dict[str, list[dict[str, Any]]]] = {}
        for r in rows:
            params = json.loads(r["params"])
            if key not in params:
                continue
            series.setdefault(tuple(params.get(k, "") for k in others), {}).setdefault(params[key], []).append(r)
        if not series:
            continue
        xs_all = sorted({x for s in series.values() for x in s}, key=order)
        numeric = all(number(x) is not None for x in xs_all)
        fig, axes = plt.subplots(2, 2, figsize=(11, 7.5), constrained_layout=True)
        for ax, (metric, label) in zip(axes.flat, PLOTTED.items(), strict=True):
            for combo, points in sorted(series.items(), key=lambda item: [order(v) for v in item[0]]):
                xs = [x for x in xs_all if x in points]
                pos = [number(x) if numeric else xs_all.index(x) for x in xs]
                values = [[float(r[metric]) for r in points[x]] for x in xs]
                name = ", ".join(f"{k}={v}" for k, v in zip(others, combo, strict=True)) or "mean over seeds"
                line = ax.plot(pos, [float(np.mean(v)) for v in values], marker="o", label=name)[0]
                ax.fill_between(pos, [min(v) for v in values], [max(v) for v in values], color=line.get_color(), alpha=0.15)
                for p, v in zip(pos, values, strict=True):
                    ax.scatter([p] * len(v), v, s=8, color=line.get_color(), alpha=0.5)
            if numeric and min(number(x) or 0 for x in xs_all) > 0 and len(xs_all) > 2:
                lo, hi = number(xs_all[0]) or 1, number(xs_all[-1]) or 1
                if hi / lo >= 100:
                    ax.set_xscale("log")
            if not numeric:
                ax.set_xticks(range(len(xs_all)), xs_all)
            ax.set_xlabel(key)
            ax.set_ylabel(label)
            ax.grid(alpha=0.3)
        seeds = max(len(v) for s in series.values() for v in s.values())
        fig.suptitle(f"{Path(manifest.get('scenario', '')).name}: metrics against {key} "
                     f"(line: mean; band: min-max over {seeds} seed(s))", fontsize=10)  # fmt: skip
        handles, labels = axes.flat[0].get_legend_handles_labels()
        if len(labels) > 1 or others:
            axes.flat[0].legend(handles, labels, fontsize=7)
        path = out / f"{key.replace('.', '_')}.png"
        partial = path.with_name(path.name + ".partial.png")
        fig.savefig(partial, dpi=110)
        plt.close(fig)
        partial.replace(path)
        written.append(path)
    return written
