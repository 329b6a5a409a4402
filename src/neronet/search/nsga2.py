"""NSGA-II (Deb et al. 2002) over the encoding's mutations: a Pareto search.

Settings: ``search.initial_size`` is the population size (mu),
``search.offspring`` the offspring per generation (lambda), ``search.generations``
the generations (0 is the initial population: the seed and mutants of it, or
random individuals, as for the (1+lambda)). Variation is mutation only (the
encoding's: Table 1's operators for the grammar): each child mutates a parent
chosen by binary tournament on (front, crowding distance) over the current
population; a child that
trains longer continues from its parent's training state when the run still
holds it (else it trains from scratch for its whole time). Survival: parents
and children are sorted into non-dominated fronts and the best mu by
(front, crowding distance, id) survive. Fitness is always recomputed under the
objective's current state, so a scalar objective (a 1-objective front:
NSGA-II becomes a (mu+lambda) GA) works as well, NERO-Net's warm-up included.

A generation's elites are its first front, ordered by the first objective,
then the next ones (:func:`neronet.search.pareto.front_order`); its
``best_fitness`` / ``mean_fitness`` are the objective's summary (for
``pareto``: the hypervolume of the front and the members' mean hypervolume).
"""

from __future__ import annotations

import numpy as np

from neronet.config import NeroConfig
from neronet.evaluation.objectives import Objective
from neronet.genotype import Structure
from neronet.search import pareto
from neronet.search.base import Candidate, GenerationSummary, Member, Strategy
from neronet.search.strategies import STRATEGIES


@STRATEGIES.register("nsga2")
class NSGA2(Strategy):
    """NSGA-II with mutation-only variation, deterministic given the seed and outcomes."""

    vector_objectives = True
    salt = 0x25A2

    def __init__(self, config: NeroConfig, structure: Structure, objective: Objective) -> None:
        super().__init__(config, structure, objective)
        self._population: list[Member] = []

    @property
    def planned(self) -> int:
        return self._search.initial_size + (self._search.generations - 1) * self._search.offspring

    def _costs(self, members: list[Member]) -> np.ndarray:
        return pareto.costs_of([self.fitness(m.outcome) for m in members])

    # -------------------------------------------------------------------- ask
    def _propose(self) -> list[Candidate]:
        return self._initial() if self._generation == 0 else self._offspring()

    def _offspring(self) -> list[Candidate]:
        population = self._population
        rank, crowding = pareto.rank_and_crowding(self._costs(population))
        keys = [(rank[k], -crowding[k], m.id) for k, m in enumerate(population)]
        out = []
        for slot in range(self._search.offspring):
            size = len(population)
            pair = self._rng.choice(size, 2, replace=False) if size > 1 else (0, 0)
            parent = population[min((int(k) for k in pair), key=keys.__getitem__)]
            out.append(self._mutant(f"o{slot}", parent))
        return out

    # ------------------------------------------------------------------- tell
    def _select(self, batch: list[Member]) -> GenerationSummary:
        combined = self._population + batch
        by_id = {m.id: m for m in combined}
        ids = [m.id for m in combined]
        costs = self._costs(combined)
        survivors = sorted(pareto.best_first(costs, ids)[: self._search.initial_size])
        self._population = [by_id[i] for i in survivors]
        # the survivors' first front: all of the first front unless it outnumbers mu
        elites = pareto.front_order(self._costs(self._population), survivors)
        fitness = {m.id: self.fitness(m.outcome) for m in combined}
        best, mean = self.objective.summary(
            [fitness[i] for i in elites], [fitness[i] for i in survivors]
        )
        return GenerationSummary(
            generation=self._generation,
            elites=tuple(elites),
            best_fitness=best,
            mean_fitness=mean,
            info=self.objective.end_generation([fitness[i] for i in ids]),
            members=tuple(survivors),
        )
