"""NERO-Net's Figure 4 across runs: per-generation means with a std band.

Used by the study report (one set of runs, plus the best run and each run's
warm-up switch, as in the paper) and by ``neronet compare`` (several sets on
one figure). Plain Agg figures, as in :mod:`neronet.reports.plots`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from neronet.reports.data import RunData
from neronet.reports.plots import SWITCH_COLOR
from neronet.reports.study_data import Curve, best_fitness, curve, parent_metric

COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown")

Group = tuple[str, Sequence[RunData]]
"""A label and the runs averaged under it."""


def _axes(title: str, ylabel: str) -> tuple[Figure, Axes]:
    fig = Figure(figsize=(7.0, 4.2), layout="constrained")
    ax = fig.add_subplot()
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("generation")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    return fig, ax


def band(
    ax: Axes, c: Curve, label: str, color: str, *, scale: float = 1.0, style: str = "o-"
) -> None:
    """The mean as a line, mean ± std shaded."""
    x = np.array(c.generations)
    mean, std = scale * np.array(c.mean), scale * np.array(c.std)
    ax.plot(x, mean, style, color=color, markersize=4, label=label)
    ax.fill_between(x, mean - std, mean + std, color=color, alpha=0.18, linewidth=0)


def fitness_figure(
    groups: Sequence[Group],
    *,
    best: tuple[str, RunData] | None = None,
    switches: Sequence[tuple[str, int]] = (),
) -> Figure:
    """Best fitness per generation, mean ± std over each group's runs (Figure 4(a)).

    ``best`` draws one run's own curve beside the mean; ``switches`` marks, per
    run, the first generation whose fitness is the weighted HRS.
    """
    fig, ax = _axes("Best fitness per generation", "fitness of the generation's best")
    for k, (label, runs) in enumerate(groups):
        band(ax, curve(runs, best_fitness), label, COLORS[k % len(COLORS)])
    if best is not None:
        label, run = best
        gens = [g.row.generation for g in run.generations]
        ax.plot(gens, [best_fitness(g) for g in run.generations], "k--", lw=1.2, label=label)
    by_generation: dict[int, list[str]] = {}
    for name, first_hrs in switches:
        by_generation.setdefault(first_hrs, []).append(name)
    for k, (first_hrs, names) in enumerate(sorted(by_generation.items())):
        ax.axvline(
            first_hrs,
            color=SWITCH_COLOR,
            linestyle=":",
            linewidth=1.5,
            label="first weighted-HRS generation" if k == 0 else None,
        )
        ax.text(
            first_hrs,
            0.02,
            " " + ", ".join(names),
            transform=ax.get_xaxis_transform(),
            color=SWITCH_COLOR,
            fontsize=7,
            rotation=90,
            va="bottom",
        )
    ax.legend(loc="best", fontsize=8)
    return fig


def accuracy_figure(groups: Sequence[Group]) -> Figure:
    """Clean and FGSM accuracy of each generation's best, mean ± std (Figure 4(b))."""
    fig, ax = _axes("Accuracy of each generation's best", "accuracy (%)")
    for k, (label, runs) in enumerate(groups):
        several = len(groups) > 1  # then a colour is a group, the line style the metric
        color = COLORS[k % len(COLORS)]
        prefix = f"{label}: " if several else ""
        clean = parent_metric("clean_accuracy")
        fgsm = parent_metric("adversarial_accuracy")
        band(ax, curve(runs, clean), f"{prefix}clean", color, scale=100)
        band(
            ax,
            curve(runs, fgsm),
            f"{prefix}FGSM (cond.)",
            color if several else "tab:green",
            scale=100,
            style="^--",
        )
    ax.set_ylim(0, 100)
    ax.legend(loc="best", fontsize=8)
    return fig
