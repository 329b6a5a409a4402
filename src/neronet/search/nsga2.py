"""NSGA-II (Deb et al. 2002) over the grammar's mutations: a Pareto search.

Settings: ``search.initial_size`` is the population size (mu),
``search.offspring`` the offspring per generation (lambda), ``search.generations``
the generations (0 is the initial population: the seed and mutants of it, or
random individuals, as for the (1+lambda)). Variation is mutation only
(Table 1's operators): each child mutates a parent chosen by binary tournament
on (front, crowding distance) over the current population; a child that
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

from dataclasses import dataclass

import numpy as np

from neronet.config import NeroConfig
from neronet.evaluation.objectives import Objective
from neronet.evaluation.result import Outcome
from neronet.genotype import Genotype, Structure
from neronet.search import pareto
from neronet.search.base import Candidate, GenerationSummary, Strategy, in_order
from neronet.search.strategies import STRATEGIES
from neronet.search.variation import TRAIN_LONGER, initial_population, mutant, seed_genotype


@dataclass(frozen=True)
class _Member:
    candidate: Candidate
    outcome: Outcome

    @property
    def id(self) -> int:
        return self.candidate.id


@STRATEGIES.register("nsga2")
class NSGA2(Strategy):
    """NSGA-II with mutation-only variation, deterministic given the seed and outcomes."""

    vector_objectives = True

    def __init__(self, config: NeroConfig, structure: Structure, objective: Objective) -> None:
        super().__init__(objective)
        self._search = config.search
        self._structure = structure
        self._rng = np.random.default_rng(np.random.SeedSequence([config.seed, 0x25A2]))
        self._generation = 0
        self._next_id = 0
        self._population: list[_Member] = []
        self._pending: list[Candidate] = []
        self._seed = seed_genotype(self._search, structure, self._rng)

    @property
    def finished(self) -> bool:
        return self._generation >= self._search.generations

    @property
    def planned(self) -> int:
        return self._search.initial_size + (self._search.generations - 1) * self._search.offspring

    def _costs(self, members: list[_Member]) -> np.ndarray:
        return pareto.costs_of([self.fitness(m.outcome) for m in members])

    # -------------------------------------------------------------------- ask
    def ask(self) -> list[Candidate]:
        if self.finished:
            return []
        if not self._pending:
            if self._generation == 0:
                made = initial_population(self._search, self._structure, self._rng, self._seed)
                self._pending = [
                    self._candidate("i", slot, genotype, None, names)
                    for slot, (genotype, names) in enumerate(made)
                ]
            else:
                self._pending = self._offspring()
        return list(self._pending)

    def _candidate(
        self, role: str, slot: int, genotype: Genotype, parent: _Member | None, names: list[str]
    ) -> Candidate:
        cid = self._next_id
        self._next_id += 1
        budget = float(genotype.train_time)
        warm = None
        if parent is not None and TRAIN_LONGER in names and parent.outcome.status == "ok":
            warm = parent.id
            budget = max(budget - float(parent.candidate.genotype.train_time), 0.0)
        return Candidate(
            id=cid,
            key=f"g{self._generation}/{role}{slot}",
            generation=self._generation,
            genotype=genotype,
            parent_id=None if parent is None else parent.id,
            mutations=tuple(names),
            budget=budget,
            warm_start_from=warm,
        )

    def _offspring(self) -> list[Candidate]:
        population = self._population
        rank, crowding = pareto.rank_and_crowding(self._costs(population))
        keys = [(rank[k], -crowding[k], m.id) for k, m in enumerate(population)]
        out = []
        for slot in range(self._search.offspring):
            size = len(population)
            pair = self._rng.choice(size, 2, replace=False) if size > 1 else (0, 0)
            parent = population[min((int(k) for k in pair), key=keys.__getitem__)]
            child, names = mutant(
                parent.candidate.genotype, self._structure, self._search, self._rng
            )
            out.append(self._candidate("o", slot, child, parent, names))
        return out

    # ------------------------------------------------------------------- tell
    def tell(self, outcomes: list[Outcome]) -> GenerationSummary:
        told = in_order(self._pending, outcomes)
        combined = self._population + [
            _Member(c, o) for c, o in zip(self._pending, told, strict=True)
        ]
        self._pending = []
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
        summary = GenerationSummary(
            generation=self._generation,
            elites=tuple(elites),
            best_fitness=best,
            mean_fitness=mean,
            info=self.objective.end_generation([fitness[i] for i in ids]),
            members=tuple(survivors),
        )
        self._generation += 1
        return summary
