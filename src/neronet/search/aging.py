"""Regularized (aging) evolution (Real et al. 2019, "Regularized Evolution for Image
Classifier Architecture Search"): the NAS baseline NAS-Bench and NARes report.

A population of ``search.initial_size`` individuals (generation 0: the seed and
mutants of it, or random genotypes, as every strategy draws them) evolves in
cycles: a tournament samples ``search.sample_size`` members uniformly without
replacement, the fittest of them is the parent, its mutant joins the population,
and the *oldest* member leaves, whatever its fitness. Aging is the
regularisation: a network survives only by being re-discovered through its
descendants, so a lucky measurement cannot hold the search (the (1+lambda)
retrains its parent for the same reason).

Batched for the executors and for an equal budget: a generation asks as many
children as the (1+lambda) evaluates in one (``search.offspring``, plus one
when it re-evaluates its parent), each from its own tournament on the population
as it stood; they join in order. The elites are the best individual evaluated so
far (the paper reports the best model in the history), ties to the earliest.
A child made by the train-longer mutation continues its parent's training.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from neronet.config import NeroConfig
from neronet.evaluation.objectives import Objective
from neronet.evaluation.result import Outcome
from neronet.genotype import Genotype, Structure
from neronet.search.base import Candidate, GenerationSummary, Strategy, in_order
from neronet.search.strategies import STRATEGIES
from neronet.search.variation import TRAIN_LONGER, initial_population, mutant, seed_genotype


@STRATEGIES.register("aging")
class AgingEvolution(Strategy):
    """Regularized evolution; deterministic given the seed and the outcomes told."""

    def __init__(self, config: NeroConfig, structure: Structure, objective: Objective) -> None:
        super().__init__(objective)
        self._search = config.search
        self._structure = structure
        self._rng = np.random.default_rng(np.random.SeedSequence([config.seed, 0xA61E5]))
        self._seed = seed_genotype(self._search, structure, self._rng)
        self._generation = 0
        self._next_id = 0
        self._pending: list[Candidate] = []
        self._population: deque[tuple[Candidate, Outcome]] = deque()
        self._seen: list[Outcome] = []

    @property
    def finished(self) -> bool:
        return self._generation >= self._search.generations

    @property
    def planned(self) -> int:
        per_generation = self._search.offspring + int(self._search.reevaluate_parent)
        return self._search.initial_size + (self._search.generations - 1) * per_generation

    def ask(self) -> list[Candidate]:
        if self.finished:
            return []
        if not self._pending:
            if self._generation == 0:
                made = initial_population(self._search, self._structure, self._rng, self._seed)
                self._pending = [
                    self._candidate(f"i{slot}", genotype, None, names)
                    for slot, (genotype, names) in enumerate(made)
                ]
            else:
                children = self._search.offspring + int(self._search.reevaluate_parent)
                self._pending = [self._child(slot) for slot in range(children)]
        return list(self._pending)

    def _candidate(
        self,
        role: str,
        genotype: Genotype,
        parent: tuple[Candidate, Outcome] | None,
        names: list[str],
    ) -> Candidate:
        cid = self._next_id
        self._next_id += 1
        budget = float(genotype.train_time)
        warm = None
        if parent is not None and TRAIN_LONGER in names and parent[1].status == "ok":
            warm = parent[0].id
            budget = max(budget - float(parent[0].genotype.train_time), 0.0)
        return Candidate(
            id=cid,
            key=f"g{self._generation}/{role}",
            generation=self._generation,
            genotype=genotype,
            parent_id=None if parent is None else parent[0].id,
            mutations=tuple(names),
            budget=budget,
            warm_start_from=warm,
        )

    def _child(self, slot: int) -> Candidate:
        """A mutant of the fittest of a tournament (ties: the older member)."""
        members = list(self._population)
        size = min(self._search.sample_size, len(members))
        drawn = sorted(self._rng.choice(len(members), size=size, replace=False).tolist())
        scores = [float(self.fitness(members[i][1])) for i in drawn]
        parent = members[drawn[int(np.argmax(scores))]]
        genotype, names = mutant(parent[0].genotype, self._structure, self._search, self._rng)
        return self._candidate(f"a{slot}", genotype, parent, names)

    def tell(self, outcomes: list[Outcome]) -> GenerationSummary:
        batch = in_order(self._pending, outcomes)
        for cand, outcome in zip(self._pending, batch, strict=True):
            self._population.append((cand, outcome))
            if len(self._population) > self._search.initial_size:
                self._population.popleft()  # the oldest dies, however fit
        self._pending = []
        self._seen.extend(batch)
        fitness = {o.id: float(self.fitness(o)) for o in self._seen}
        best = max(self._seen, key=lambda o: (fitness[o.id], -o.id)).id
        members = [o.id for o in batch]
        best_fitness, mean = self.objective.summary([fitness[best]], [fitness[i] for i in members])
        summary = GenerationSummary(
            generation=self._generation,
            elites=(best,),
            best_fitness=best_fitness,
            mean_fitness=mean,
            info=self.objective.end_generation([fitness[i] for i in members]),
            members=tuple(members + ([best] if best not in members else [])),
        )
        self._generation += 1
        return summary
