"""Non-dominated sorting, crowding distance and hypervolume, on their published definitions.

Everything here *minimises* (pymoo's convention): a row of ``costs`` is one
point, a column one objective. neronet's objectives are higher-is-better, so
callers pass ``costs_of(fitnesses)`` (the negated fitness vectors).

Written here rather than imported from pymoo, and tested against pymoo on
random points (``tests/test_pareto.py``): resume by replay needs the selection
to be a fixed function of the outcomes, and a dependency upgrade that changed
how ties or duplicates are treated would make a stored run unresumable. The
definitions are those of Deb et al. 2002 (NSGA-II): fast non-dominated
sorting, and the crowding distance as pymoo computes it (extreme points
infinite, each objective's gap normalised by its range, summed and divided by
the number of objectives; an objective whose values are all equal adds
nothing). The hypervolume is exact (Lebesgue measure of the dominated region
up to a reference point), by slicing along the last objective.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Fitness = float | tuple[float, ...]


def costs_of(fitnesses: Sequence[Fitness]) -> np.ndarray:
    """Higher-is-better fitness values (scalars or tuples) as a minimisation matrix."""
    rows = [(f,) if isinstance(f, int | float) else tuple(f) for f in fitnesses]
    width = len(rows[0]) if rows else 1
    return -np.asarray(rows, dtype=float).reshape(len(rows), width)


def dominates(costs: np.ndarray) -> np.ndarray:
    """``d[i, j]``: point i is no worse than j everywhere and better somewhere."""
    a, b = costs[:, None, :], costs[None, :, :]
    return np.all(a <= b, axis=2) & np.any(a < b, axis=2)


def non_dominated_fronts(costs: np.ndarray) -> list[np.ndarray]:
    """Indices of each front, best front first, ascending within a front (Deb's sorting)."""
    beats = dominates(costs)
    dominated_by = beats.sum(axis=0)  # how many points dominate each point
    left = np.ones(len(costs), dtype=bool)
    fronts = []
    while left.any():
        front = np.flatnonzero(left & (dominated_by == 0))
        fronts.append(front)
        left[front] = False
        dominated_by = dominated_by - beats[front].sum(axis=0)
    return fronts


def ranks(costs: np.ndarray) -> np.ndarray:
    """Each point's front number (0: non-dominated)."""
    out = np.zeros(len(costs), dtype=int)
    for number, front in enumerate(non_dominated_fronts(costs)):
        out[front] = number
    return out


def crowding_distance(costs: np.ndarray) -> np.ndarray:
    """Crowding distance of the points of one front (larger: lonelier, kept first).

    Fronts of one or two points are all infinite. Points whose values are not
    finite (individuals that were not measured) only ever share a front with
    each other; their objectives have no range and add nothing.
    """
    n, m = costs.shape
    if n <= 2:
        return np.full(n, np.inf)
    order = np.argsort(costs, axis=0, kind="mergesort")
    ranked = costs[order, np.arange(m)]
    with np.errstate(invalid="ignore"):
        gaps = np.vstack([ranked, np.full(m, np.inf)]) - np.vstack([np.full(m, -np.inf), ranked])
        span = ranked[-1] - ranked[0]
        span[span == 0] = np.nan
        to_last, to_next = gaps[:-1] / span, gaps[1:] / span
    to_last[np.isnan(to_last)] = 0.0
    to_next[np.isnan(to_next)] = 0.0
    back = np.argsort(order, axis=0)
    columns = np.arange(m)
    return np.sum(to_last[back, columns] + to_next[back, columns], axis=1) / m


def rank_and_crowding(costs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each point's front number and its crowding distance within that front."""
    rank = np.zeros(len(costs), dtype=int)
    crowding = np.zeros(len(costs))
    for number, front in enumerate(non_dominated_fronts(costs)):
        rank[front] = number
        crowding[front] = crowding_distance(costs[front])
    return rank, crowding


def best_first(costs: np.ndarray, ids: Sequence[int]) -> list[int]:
    """``ids`` ordered by front, then crowding distance (larger first), then id."""
    rank, crowding = rank_and_crowding(costs)
    keys = sorted(range(len(ids)), key=lambda i: (rank[i], -crowding[i], ids[i]))
    return [ids[i] for i in keys]


def front_order(costs: np.ndarray, ids: Sequence[int]) -> list[int]:
    """The first front's ids, ordered by the first objective, then the next ones, then id
    (a front read as a table: its row 0 is the member best in the first objective)."""
    front = non_dominated_fronts(costs)[0]
    return [ids[i] for i in sorted(front, key=lambda i: (*costs[i], ids[i]))]


def hypervolume(costs: np.ndarray, reference: Sequence[float]) -> float:
    """Volume dominated by ``costs`` and bounded by ``reference`` (points beyond it add 0)."""
    ref = np.asarray(reference, dtype=float)
    inside = costs[np.all(costs < ref, axis=1)] if len(costs) else costs.reshape(0, len(ref))
    return _volume(inside, ref)


def _volume(points: np.ndarray, ref: np.ndarray) -> float:
    """Exact hypervolume of ``points`` (all strictly better than ``ref``) by slicing."""
    if len(points) == 0:
        return 0.0
    if points.shape[1] == 1:
        return float(ref[0] - points[:, 0].min())
    points = points[np.argsort(points[:, -1], kind="mergesort")]
    total = 0.0
    for i in range(len(points)):
        top = points[i + 1, -1] if i + 1 < len(points) else ref[-1]
        height = top - points[i, -1]
        if height > 0:
            total += height * _volume(points[: i + 1, :-1], ref[:-1])
    return total
