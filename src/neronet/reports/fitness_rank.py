"""Whether the search's fitness ranks the networks the searches chose by their robustness.

Why: a survey asks whether the search-time fitness ranks architectures drawn from the
whole search space; a search only ever acts on its ranking of the good ones, since its
best is its top candidate. The method comparison holds exactly those: every run's best,
with the fitness it had at search time (on one yardstick, NERO-Net's) and its robustness
after retraining. Their Kendall tau says whether the fitness still orders robustness
among the candidates a search ends on; near 0 with a survey's tau clearly above it, the
fitness sorts the search space coarsely but cannot pick among its top.

A run's best retrains on that run's own images, and the methods' runs of one seed that
end on one architecture retrain it once (the memo): such runs are one point, not
several, or agreement between methods would pass for agreement between fitness and
robustness.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING

from neronet.reports.document import Section, Table
from neronet.reports.statistics import MIN_INTERVAL_PAIRS, kendall_interval

if TYPE_CHECKING:
    from neronet.reports.experiment import MethodTable, SearchRecord

MIN_BESTS = 3
"""Distinct bests the section needs: fewer make a tau of one or two pairs."""


def distinct_bests(
    table: MethodTable, searches: Mapping[tuple[str, int], SearchRecord], attack: str
) -> list[tuple[float, float, float]]:
    """Per distinct (run, architecture), the first of its runs' (yardstick fitness,
    accuracy under ``attack``, parameters; nan where unknown); runs without the fitness
    or the accuracy are left out, a run of unknown architecture is its own point."""
    found: dict[tuple[int, str], tuple[float, float, float]] = {}
    for r in table.results:
        search = searches.get((r.method, r.run))
        if search is None or search.nero_net_fitness is None or attack not in r.accuracy:
            continue
        key = (r.run, r.architecture or f"{r.method} run {r.run}")
        size = math.nan if r.parameters is None else float(r.parameters)
        found.setdefault(key, (search.nero_net_fitness, r.accuracy[attack], size))
    return list(found.values())


def fitness_rank_section(
    table: MethodTable, searches: Mapping[tuple[str, int], SearchRecord], yardstick: str
) -> Section | None:
    """The section: the yardstick fitness's and the parameter count's Kendall tau with
    the retrained bests' accuracy under the strongest attack; None with fewer than
    :data:`MIN_BESTS` distinct bests."""
    attack = table.strongest()
    bests = distinct_bests(table, searches, attack)
    if len(bests) < MIN_BESTS:
        return None
    fitness, accuracy, sizes = (list(column) for column in zip(*bests, strict=True))
    rows = tuple(
        (name, str(tau.n), tau.text())
        for name, tau in (
            ("search-time fitness", kendall_interval(fitness, accuracy)),
            ("parameters", kendall_interval(sizes, accuracy)),
        )
    )
    return Section(
        "Does the search's fitness rank the bests?",
        (
            f"Over the runs' bests, the {yardstick} each had at search time (every method "
            f"on this one yardstick) against its {attack} accuracy after retraining, and "
            "the bests' parameter count against the same: Kendall tau-b with a bootstrap "
            f"95 % interval (2,000 resamples; none below {MIN_INTERVAL_PAIRS} bests). "
            f"{len(bests)} distinct bests of {len(table.results)} runs: the runs of one "
            "seed that end on one architecture retrain it once and are one point. Each best "
            "is its search's top candidate, so this asks whether the fitness orders "
            "robustness among the networks searches end on; a survey of the search space "
            "asks it of the whole space, where the spread is wider and a tau comes easier.",
            Table(("signal", "bests", "Kendall tau [95 % CI]"), rows),
        ),
    )
