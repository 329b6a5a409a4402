"""Random search: the baseline a search strategy has to beat, at the same budget.

Every generation draws fresh random genotypes from the run's encoding (the
grammar's ``Genotype.random`` over the run's structure, or random RAS genomes;
default training time), as many as the (1+lambda) evaluates:
``search.initial_size`` in generation 0, then ``search.offspring`` (plus one
where the (1+lambda) re-evaluates its parent, ``search.reevaluate_parent``) per
generation, so both spend the same number of trainings and their reports line
up generation by generation. Nothing is learnt from the outcomes except which
individual is best so far: the elites are the best individual evaluated up to
now under the objective's current state (ties: the earliest), or for a vector
objective the first front of everything evaluated so far (ordered as in
:func:`neronet.search.pareto.front_order`).
"""

from __future__ import annotations

import numpy as np

from neronet.config import NeroConfig
from neronet.evaluation.objectives import Objective
from neronet.evaluation.result import Outcome
from neronet.genotype import Structure
from neronet.search import pareto
from neronet.search.base import Candidate, GenerationSummary, Member, Strategy
from neronet.search.strategies import STRATEGIES


@STRATEGIES.register("random")
class RandomSearch(Strategy):
    """Random genotypes under the (1+lambda)'s budget; deterministic given the seed."""

    vector_objectives = True
    salt = 0xA11D0

    def __init__(self, config: NeroConfig, structure: Structure, objective: Objective) -> None:
        super().__init__(config, structure, objective)
        self._seen: list[Outcome] = []

    @property
    def planned(self) -> int:
        return self._search.evaluations

    def _size(self, generation: int) -> int:
        """Candidates of ``generation``: what the (1+lambda) evaluates in it."""
        if generation == 0:
            return self._search.initial_size
        return self._search.children

    def _propose(self) -> list[Candidate]:
        return [
            self._candidate(f"r{slot}", self.variation.random(), None, ["random"])
            for slot in range(self._size(self._generation))
        ]

    def _select(self, batch: list[Member]) -> GenerationSummary:
        self._seen.extend(m.outcome for m in batch)
        elites = self._best_so_far()
        fitness = {o.id: self.fitness(o) for o in self._seen}
        members = [m.id for m in batch]
        best, mean = self.objective.summary(
            [fitness[i] for i in elites], [fitness[i] for i in members]
        )
        return GenerationSummary(
            generation=self._generation,
            elites=tuple(elites),
            best_fitness=best,
            mean_fitness=mean,
            info=self.objective.end_generation([fitness[i] for i in members]),
            members=tuple(members + [i for i in elites if i not in members]),
        )

    def _best_so_far(self) -> list[int]:
        """The best individual so far (a scalar objective) or the front so far (a vector one)."""
        ids = [o.id for o in self._seen]
        costs = pareto.costs_of([self.fitness(o) for o in self._seen])
        if self.objective.scalar:
            return [ids[int(np.argmin(costs[:, 0]))]]  # the first of equals: the earliest
        return pareto.front_order(costs, ids)
