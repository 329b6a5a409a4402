"""Anytime curves of an experiment's searches: the best search-time fitness found so far
against the training spent, per method, median and interquartile band across its runs.

Every individual of every run is scored on one yardstick, NERO-Net's fitness after its
warm-up (the weighted HRS of clean and FGSM accuracy, a masking-flagged individual
credited its PGD accuracy): each method's own fitness is not comparable across methods
(accuracy-only's is clean accuracy; NERO-Net's is clean accuracy during its warm-up).
Individuals are taken in id order (the order the strategy asked for them); a cache hit
costs nothing, a warm-started child only its extra epochs. A run's value at budget x is
its best among the individuals it had finished within x epochs (or generations): a run
that spent less than x in all keeps its final best, a run that had finished nothing yet
has no value (the band covers the runs that have one).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from neronet.evaluation.objectives import nero_net_fitness
from neronet.store import RunStore

YARDSTICK = "NERO-Net fitness after warm-up (weighted HRS of clean and FGSM accuracy)"


@dataclass(frozen=True)
class Step:
    """One individual of a run: its generation, the epochs the run had trained once it was
    done, and the best yardstick fitness of the run up to and including it."""

    individual: int
    generation: int
    epochs: int
    best: float


@dataclass(frozen=True)
class Trajectory:
    method: str
    run: int
    steps: tuple[Step, ...]


@dataclass(frozen=True)
class Final:
    """Where a run ended: the epochs its search spent and its final best's accuracy after
    retraining, under the strongest attack the experiment ran (AutoAttack where it ran):
    what the search's curve bought, on the same budget axis."""

    method: str
    epochs: int
    accuracy: float


def trajectory(method: str, run: int, run_dir: Path) -> Trajectory:
    """A run's best-so-far yardstick fitness after each of its individuals."""
    store = RunStore.open(run_dir, readonly=True)
    try:
        config = store.config()
        rows = sorted(store.individuals(), key=lambda row: row.id)
    finally:
        store.close()
    steps, spent, best = [], 0, -math.inf
    for row in rows:
        spent += 0 if row.cache_of is not None else row.epochs or 0
        best = max(best, nero_net_fitness(config, row.status, row.metrics))
        steps.append(Step(row.id, row.generation, spent, best))
    return Trajectory(method, run, tuple(steps))


def _at(step: Step, axis: str) -> float:
    """Where ``step`` lies on ``axis``: epochs trained, or its generation."""
    return float(step.epochs if axis == "epochs" else step.generation)


def best_within(t: Trajectory, axis: str, x: float) -> float:
    """The run's best among individuals done within ``x`` epochs or generations (NaN: none)."""
    done = [s.best for s in t.steps if _at(s, axis) <= x]
    return done[-1] if done else math.nan


@dataclass(frozen=True)
class Band:
    """A method's curve: at each x, the median and quartiles over the runs with a value."""

    x: tuple[float, ...]
    median: tuple[float, ...]
    low: tuple[float, ...]
    high: tuple[float, ...]
    runs: tuple[int, ...]


def band(trajectories: Sequence[Trajectory], axis: str) -> Band:
    """Median and interquartile range across runs at every x where some run changes."""
    xs = sorted({_at(s, axis) for t in trajectories for s in t.steps})
    columns = []
    for x in xs:
        values = np.array([best_within(t, axis, x) for t in trajectories])
        values = values[~np.isnan(values)]
        columns.append((x, *np.percentile(values, [50, 25, 75]), len(values)))
    x, median, low, high, runs = zip(*columns, strict=True) if columns else ((),) * 5
    return Band(x, median, low, high, tuple(int(n) for n in runs))


def anytime_csv(trajectories: Sequence[Trajectory]) -> str:
    """One row per individual of every run: the data behind the curves."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["method", "run", "individual", "generation", "epochs_trained", "best_fitness"])
    for t in trajectories:
        for s in t.steps:
            cells = (s.individual, s.generation, s.epochs, f"{s.best:.6f}")
            writer.writerow([t.method, t.run, *cells])
    return buffer.getvalue()


def anytime_figure(
    methods: Sequence[str],
    trajectories: Sequence[Trajectory],
    finals: Sequence[Final] = (),
    attack: str = "",
) -> Figure:
    """Two panels, against epochs trained (a step per individual) and against generations
    (a point per generation end): per method the median best-so-far fitness across runs,
    the interquartile range shaded; with ``finals`` a third: each run's retrained final
    best under ``attack`` against the epochs its search spent (a point per run, and per
    method the median with its interquartile range as a cross)."""
    panels = 3 if finals else 2
    fig = Figure(figsize=(5.0 * panels, 4.2), layout="constrained")
    for panel, (axis, label) in enumerate(
        (("epochs", "training epochs spent by the search"), ("generation", "generation"))
    ):
        ax = fig.add_subplot(1, panels, panel + 1)
        ax.grid(True, alpha=0.3)
        step = "post" if axis == "epochs" else None
        for method in methods:
            b = band([t for t in trajectories if t.method == method], axis)
            if step:
                (line,) = ax.step(b.x, b.median, where=step, label=method)
            else:
                (line,) = ax.plot(b.x, b.median, "o-", label=method)
                ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.fill_between(b.x, b.low, b.high, step=step, alpha=0.2, color=line.get_color())
        ax.set_xlabel(label)
        ax.set_ylabel("best NERO-Net fitness so far")
    if finals:
        _finals_panel(fig.add_subplot(1, panels, panels), methods, finals, attack)
    fig.axes[0].legend()
    fig.suptitle("anytime curves: median and interquartile range over runs")
    return fig


def _finals_panel(ax: Axes, methods: Sequence[str], finals: Sequence[Final], attack: str) -> None:
    ax.grid(True, alpha=0.3)
    for i, method in enumerate(methods):
        mine = [f for f in finals if f.method == method]
        if not mine:
            continue
        color = f"C{i}"  # the curves' colour of this method (the same cycle, the same order)
        epochs = np.array([f.epochs for f in mine], dtype=float)
        accuracy = 100 * np.array([f.accuracy for f in mine])
        ax.plot(epochs, accuracy, "o", color=color, alpha=0.5, markersize=4)
        (ex_low, ex_mid, ex_high), (ac_low, ac_mid, ac_high) = (
            np.percentile(v, [25, 50, 75]) for v in (epochs, accuracy)
        )
        ax.errorbar(
            [ex_mid],
            [ac_mid],
            xerr=[[ex_mid - ex_low], [ex_high - ex_mid]],
            yerr=[[ac_mid - ac_low], [ac_high - ac_mid]],
            color=color,
            marker="s",
            capsize=3,
        )
    ax.set_xlabel("training epochs spent by the search")
    ax.set_ylabel(f"retrained final best: {attack} accuracy (%)")
