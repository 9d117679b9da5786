"""A study's plot: DIR/pareto.png, the objective against each constrained metric, with the Pareto front and the bound."""

from __future__ import annotations

from pathlib import Path

from clearing.apps.optimise.metrics import Constraint, Objective
from clearing.apps.optimise.study import Trial, pareto_front


def plot(out: Path, trials: list[Trial], objective: Objective, constraints: list[Constraint]) -> Path | None:
    """Draw the study's trials into DIR/pareto.png (written whole, then renamed); None when no trial completed.

    One panel per constrained metric: each complete trial at (objective, its worst run),
    feasible ones filled, the Pareto front joined, the bound dashed, the best feasible trial
    starred. Without constraints: the objective by trial, the best so far joined.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    complete = [t for t in trials if t.objective is not None]
    if not complete:
        return None
    panels = max(1, len(constraints))
    fig, axes = plt.subplots(1, panels, figsize=(6.5 * panels, 5), constrained_layout=True, squeeze=False)
    front = pareto_front(complete, objective.maximise)
    best = front[0] if front else None
    if not constraints:
        ax = axes[0][0]
        xs = [t.number for t in complete]
        ys = [t.objective for t in complete]
        ax.scatter(xs, ys, s=18, label="trial")
        running, line = None, []
        for y in ys:
            assert y is not None
            running = y if running is None else (max(running, y) if objective.maximise else min(running, y))
            line.append(running)
        ax.plot(xs, line, color="C3", label="best so far")
        ax.set_xlabel("trial")
        ax.set_ylabel(objective.metric)
        ax.legend(fontsize=8)
    for ax, c in zip(axes[0], constraints, strict=False):
        for feasible, style in ((False, {"marker": "x", "color": "0.6", "label": "bound broken"}),
                                (True, {"marker": "o", "color": "C0", "label": "bound held"})):  # fmt: skip
            points = [(t.objective, t.worst[c.metric]) for t in complete if t.feasible == feasible]
            if points:
                ax.scatter([p[0] for p in points], [p[1] for p in points], s=20, **style)  # type: ignore[arg-type]
        if front:
            ax.plot([t.objective for t in front], [t.worst[c.metric] for t in front], color="C3", label="Pareto front")
        if best is not None:
            ax.scatter([best.objective], [best.worst[c.metric]], marker="*", s=220, color="C3", zorder=5,
                       label=f"best: trial {best.number}")  # fmt: skip
        ax.axhline(c.bound, color="k", linestyle="--", linewidth=1, label=f"bound {c.describe()}")
        ax.set_xlabel(f"{objective.metric} (mean over runs, {'max' if objective.maximise else 'min'})")
        ax.set_ylabel(f"{c.metric} (worst run)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"{len(complete)} trials; {len(front)} on the Pareto front", fontsize=10)
    path = out / "pareto.png"
    partial = path.with_name("pareto.partial.png")
    fig.savefig(partial, dpi=110)
    plt.close(fig)
    partial.replace(path)
    return path
