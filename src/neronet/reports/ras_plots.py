"""A RAS run's counterparts of the paper's Figures 3 and 4, and its final spectra.

Drawn from a :class:`~neronet.reports.ras_data.RasSeries` on plain Agg
Figures, like every report figure (see :mod:`neronet.reports.plots`).
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from neronet.ras import FEATURES
from neronet.reports.plots import to_percent
from neronet.reports.ras_data import RasSeries

STRUCTURE = (
    ("blocks", "blocks"),
    ("layers", "layers"),
    ("connections_per_block", "connections per block"),
)
"""The architecture means drawn, as (RasGeneration field, axis label)."""


def _per_generation(ax: Axes, title: str, ylabel: str) -> None:
    """Integer generation ticks, labels and a light grid: what every RAS panel shares."""
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("generation")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)


def _nan(value: float | None) -> float:
    return math.nan if value is None else value


def ras_accuracy_figure(series: RasSeries) -> Figure:
    """Mean clean accuracy per generation, of all evaluated and of the representatives
    (the paper's Figure 3)."""
    fig = Figure(figsize=(7.0, 4.2), layout="constrained")
    ax = fig.add_subplot()
    gens = [g.generation for g in series.generations]
    ax.plot(
        gens,
        [to_percent(g.members_accuracy) for g in series.generations],
        "s--",
        color="tab:orange",
        markersize=3,
        label="evaluated individuals (mean)",
    )
    ax.plot(
        gens,
        [to_percent(g.representatives_accuracy) for g in series.generations],
        "o-",
        color="tab:blue",
        markersize=4,
        label="representatives (mean)",
    )
    _per_generation(ax, "Mean clean accuracy per generation", "clean accuracy (%)")
    ax.legend(loc="best", fontsize=8)
    return fig


def ras_structure_figure(series: RasSeries) -> Figure:
    """Mean blocks, layers and connections per block of the representatives per generation
    (the paper's Figure 4); one panel each, since their ranges differ tenfold."""
    fig = Figure(figsize=(10.5, 3.6), layout="constrained")
    gens = [g.generation for g in series.generations]
    for ax, (field, label) in zip(fig.subplots(1, len(STRUCTURE)), STRUCTURE, strict=True):
        ax.plot(gens, [_nan(getattr(g, field)) for g in series.generations], "o-", markersize=4)
        _per_generation(ax, f"mean {label}", label)
    fig.suptitle("Architecture of the representatives per generation")
    return fig


def ras_spectrum_figure(series: RasSeries) -> Figure:
    """The final representatives' spectra as a heat map with the counts written in.

    Colour is scaled per feature (a column over its largest count), as niching scales
    features before comparing them: layers run to dozens and blocks to a few, so one
    colour scale would show only the layer columns.
    """
    counts = np.array([row.counts for row in series.spectra], dtype=float)
    peak = counts.max(axis=0)
    shade = counts / np.where(peak > 0, peak, 1.0)
    fig = Figure(
        figsize=(8.0, 1.6 + 0.35 * len(series.spectra)),
        layout="constrained",
    )
    ax = fig.add_subplot()
    ax.imshow(shade, cmap="Blues", vmin=0.0, vmax=1.4, aspect="auto")
    for (i, j), value in np.ndenumerate(counts):
        ax.text(j, i, str(int(value)), ha="center", va="center", fontsize=8)
    ax.set_xticks(range(len(FEATURES)), [f.replace("_", " ") for f in FEATURES])
    ax.tick_params(axis="x", labelrotation=35)
    ax.set_yticks(range(len(series.spectra)), [f"{row.id} ({row.key})" for row in series.spectra])
    ax.set_ylabel("representative")
    ax.set_title("Spectrum of the final representatives")
    return fig
