"""The run's counterpart of NERO-Net's Figure 4: fitness and accuracy per generation.

Figures are plain :class:`matplotlib.figure.Figure` objects drawn on an Agg
canvas, never pyplot: no global figure registry to leak into, no backend switch
that would surprise a caller who uses pyplot interactively, nothing to close.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from neronet.reports.data import RunData
from neronet.reports.metrics import view
from neronet.store import atomic_write

DPI = 120
SWITCH_COLOR = "tab:red"


def save(fig: Figure, path: Path) -> Path:
    """Render ``fig`` with Agg to a PNG at ``path``, replaced whole (a kill or a second
    report writing at the same moment never leaves half a picture)."""
    FigureCanvasAgg(fig)
    png = io.BytesIO()
    fig.savefig(png, format="png", dpi=DPI)
    atomic_write(path, png.getvalue())
    return path


def to_percent(value: float | None) -> float:
    """An accuracy share as a percentage; NaN (a gap in the line) where it is unknown."""
    return math.nan if value is None else 100.0 * value


def _generation_axes(data: RunData, title: str, ylabel: str) -> tuple[Figure, Axes]:
    """Axes over the finished generations with the warm-up shaded and the switch marked
    (objectives without a warm-up get neither).

    As in the paper, the dotted line sits on the first generation whose
    fitness is the weighted HRS, i.e. one after the generation whose population
    mean reached tau.
    """
    fig = Figure(figsize=(7.0, 4.2), layout="constrained")
    ax = fig.add_subplot()
    last = data.generations[-1].row.generation
    switch = data.switch_generation
    first_hrs = None if switch is None else switch + 1
    right = last if first_hrs is None else max(last, first_hrs)
    warmup_end = right + 0.5 if first_hrs is None else first_hrs
    if data.has_warmup:
        ax.axvspan(
            -0.5, warmup_end, color="0.92", zorder=0, label="warm-up: fitness = clean accuracy"
        )
    if first_hrs is not None:
        ax.axvline(
            first_hrs,
            color=SWITCH_COLOR,
            linestyle=":",
            linewidth=2,
            label=f"weighted HRS from generation {first_hrs}",
        )
        ax.text(
            first_hrs,
            0.97,
            " weighted HRS \u2192",
            transform=ax.get_xaxis_transform(),
            color=SWITCH_COLOR,
            va="top",
            ha="left",
            fontsize=9,
        )
    ax.set_xlim(-0.5, right + 0.5)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("generation")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    return fig, ax


def fitness_figure(data: RunData) -> Figure:
    """Best (parent) and population-mean fitness per generation (Figure 4, left)."""
    fig, ax = _generation_axes(data, "Fitness per generation", "fitness")
    gens = [g.row.generation for g in data.generations]
    ax.plot(
        gens,
        [g.row.best_fitness for g in data.generations],
        "o-",
        color="tab:blue",
        markersize=4,
        label=data.best_label,
    )
    ax.plot(
        gens,
        [g.row.mean_fitness for g in data.generations],
        "s--",
        color="tab:orange",
        markersize=3,
        label="population mean",
    )
    ax.legend(loc="best", fontsize=8)
    return fig


def accuracy_figure(data: RunData) -> Figure:
    """Clean and FGSM accuracy of each generation's parent (Figure 4, right)."""
    fig, ax = _generation_axes(data, "Accuracy of each generation's parent", "accuracy (%)")
    gens = [g.row.generation for g in data.generations]
    parents = [g.parent for g in data.generations]
    ax.plot(
        gens,
        [to_percent(p.metric("clean_accuracy")) for p in parents],
        "o-",
        color="tab:blue",
        markersize=4,
        label="clean",
    )
    ax.plot(
        gens,
        [to_percent(p.metric("adversarial_accuracy")) for p in parents],
        "^-",
        color="tab:green",
        markersize=4,
        label="FGSM (conditional on clean-correct)",
    )
    ax.plot(
        gens,
        [to_percent(p.metric("overall_adversarial_accuracy")) for p in parents],
        ":",
        color="tab:green",
        alpha=0.7,
        label="FGSM (overall)",
    )
    ax.set_ylim(0, 100)
    ax.legend(loc="best", fontsize=8)
    return fig


def hypervolume_figure(data: RunData) -> Figure:
    """A Pareto search's progress: the hypervolume of each generation's front, and the
    mean hypervolume of its members each on its own (``fitness.pareto``'s box)."""
    fig = Figure(figsize=(7.0, 4.2), layout="constrained")
    ax = fig.add_subplot()
    gens = [g.row.generation for g in data.generations]
    ax.plot(gens, [g.row.best_fitness for g in data.generations], "o-", label="front")
    ax.plot(
        gens,
        [g.row.mean_fitness for g in data.generations],
        "s--",
        markersize=3,
        label="members (mean, each alone)",
    )
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("generation")
    ax.set_ylabel("hypervolume (share of the reference box)")
    ax.set_title("Hypervolume per generation")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    return fig


def front_figure(data: RunData) -> Figure:
    """Each generation's front projected on the first two objectives (later: lighter,
    the last one large). Points only: a projection of a front is not a curve."""
    assert data.components is not None
    x_name, y_name = (data.components * 2)[:2]  # one objective: plotted against itself
    fig = Figure(figsize=(7.0, 5.0), layout="constrained")
    ax = fig.add_subplot()
    colors = colormaps["viridis"]
    last = max(len(data.generations) - 1, 1)
    for g in data.generations:
        points = [
            (m.metric(x_name), m.metric(y_name))
            for m in data.front(g)
            if m.metric(x_name) is not None and m.metric(y_name) is not None
        ]
        if not points:
            continue
        final = g is data.generations[-1]
        ax.scatter(
            *zip(*points, strict=True),
            color=colors(g.row.generation / last),
            s=40 if final else 12,
            edgecolors="black" if final else "none",
            alpha=1.0 if final else 0.6,
            label=f"generation {g.row.generation}" if final or g.row.generation == 0 else None,
            zorder=3 if final else 2,
        )
    ax.set_xlabel(view(x_name).label)
    ax.set_ylabel(view(y_name).label)
    ax.set_title("Pareto front per generation (first two objectives)")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    return fig
