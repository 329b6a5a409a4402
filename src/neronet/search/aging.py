"""Regularized (aging) evolution (Real et al. 2019, "Regularized Evolution for Image
Classifier Architecture Search"): the NAS baseline NAS-Bench and NARes report.

A population of at most ``search.population`` individuals (P) evolves in cycles:
a tournament samples ``search.sample_size`` members (S) uniformly without
replacement, the fittest of them is the parent, its mutant joins the population,
and once the population is full the *oldest* member leaves, whatever its
fitness. Aging is the regularisation: a network survives only by being
re-discovered through its descendants, so a lucky measurement cannot hold the
search (the (1+lambda) retrains its parent for the same reason).

Batched for the executors and for an equal budget: generation 0 is the other
strategies' (``search.initial_size`` individuals: the seed and mutants of it, or
random genotypes, as the encoding draws them, where the paper starts from P random
ones), and every later generation asks as many children as the (1+lambda)
evaluates in one (``search.offspring``, plus one when it re-evaluates its
parent), each from its own tournament on the population as it stood; they join
in order. P must exceed a generation's children, or each generation would
replace the whole population and aging would tell no member from another (unset:
``initial_size`` plus one generation's children). The elites are the best
individual evaluated so far (the paper reports the best model in the history),
ties to the earliest. Children come from the variation every strategy shares
(Fast-DENSER's operators at their rates, not the paper's one mutation per child),
so the contenders differ in selection alone; a child made by the train-longer
mutation continues its parent's training, which the store keeps for every living
member (``GenerationSummary.breeders``).
"""

from __future__ import annotations

from collections import deque

import numpy as np

from neronet.config import NeroConfig
from neronet.evaluation.objectives import Objective
from neronet.evaluation.result import Outcome
from neronet.genotype import Structure
from neronet.search.base import Candidate, GenerationSummary, Member, Strategy
from neronet.search.strategies import STRATEGIES


@STRATEGIES.register("aging")
class AgingEvolution(Strategy):
    """Regularized evolution; deterministic given the seed and the outcomes told."""

    salt = 0xA61E5

    def __init__(self, config: NeroConfig, structure: Structure, objective: Objective) -> None:
        super().__init__(config, structure, objective)
        self._population: deque[Member] = deque()
        self._seen: list[Outcome] = []
        self._size = self._search.population or self._search.initial_size + self._search.children

    @property
    def planned(self) -> int:
        return self._search.evaluations

    def _propose(self) -> list[Candidate]:
        if self._generation == 0:
            return self._initial()
        return [self._child(slot) for slot in range(self._search.children)]

    def _child(self, slot: int) -> Candidate:
        """A mutant of the fittest of a tournament (ties: the older member)."""
        members = list(self._population)
        size = min(self._search.sample_size, len(members))
        drawn = sorted(self._rng.choice(len(members), size=size, replace=False).tolist())
        scores = [float(self.fitness(members[i].outcome)) for i in drawn]
        return self._mutant(f"a{slot}", members[drawn[int(np.argmax(scores))]])

    def _select(self, batch: list[Member]) -> GenerationSummary:
        for member in batch:
            self._population.append(member)
            if len(self._population) > self._size:
                self._population.popleft()  # the oldest dies, however fit
        self._seen.extend(m.outcome for m in batch)
        fitness = {o.id: float(self.fitness(o)) for o in self._seen}
        best = max(self._seen, key=lambda o: (fitness[o.id], -o.id)).id
        members = [m.id for m in batch]
        best_fitness, mean = self.objective.summary([fitness[best]], [fitness[i] for i in members])
        return GenerationSummary(
            generation=self._generation,
            elites=(best,),
            best_fitness=best_fitness,
            mean_fitness=mean,
            info=self.objective.end_generation([fitness[i] for i in members]),
            members=tuple(members + ([best] if best not in members else [])),
            breeders=tuple(m.id for m in self._population),
        )
