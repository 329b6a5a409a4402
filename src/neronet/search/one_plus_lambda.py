"""The (1+lambda) evolution strategy of Fast-DENSER, as NERO-Net configures it.

Generation 0 evaluates an initial population (the NSGA-Net seed plus mutants of
it, or random individuals). Every later generation evaluates ``offspring``
mutants of the parent and, as Fast-DENSER does, the parent again: trained from
scratch for its training time with a seed of its own, as a new individual of
the generation that no cache may serve (``search.reevaluate_parent``; off, the
parent keeps its first measurement for as long as it survives, so one lucky
FGSM measurement can hold the search). The fittest of parent + offspring
becomes the next parent (ties keep the parent, which is listed first). When the
winner trained longer than the default time, the comparison is made fair first: the previous parent
and the best default-time candidate continue training until they have had as
long, and the final choice is made among them (Fast-DENSER's rule).

Fitness is the objective's (NERO-Net's: clean accuracy during warm-up, then the
weighted HRS; see :mod:`neronet.evaluation.objectives`). It is always
recomputed from the stored metrics under the objective's current state, so a
parent carried across the warm-up switch is compared fairly with its offspring.
"""

from __future__ import annotations

import numpy as np

from neronet.config import NeroConfig
from neronet.evaluation.objectives import Objective
from neronet.genotype import Structure
from neronet.search.base import Candidate, GenerationSummary, Member, Strategy
from neronet.search.encodings import TRAIN_LONGER
from neronet.search.strategies import STRATEGIES

FAIR_RETRAIN = "fair_retrain"
REEVALUATE = "reevaluate"


def _continues(child: Member, parent: Member) -> bool:
    """Whether ``child`` is ``parent`` trained longer (same network, its weights continued)."""
    return child.candidate.parent_id == parent.id and TRAIN_LONGER in child.candidate.mutations


@STRATEGIES.register("one-plus-lambda")
class OnePlusLambda(Strategy):
    """Fast-DENSER / NERO-Net (1+lambda)-ES, deterministic given seed and outcomes."""

    salt = 0x5EA2C4

    def __init__(self, config: NeroConfig, structure: Structure, objective: Objective) -> None:
        super().__init__(config, structure, objective)
        self._phase = "initial"
        self._parent: Member | None = None
        self._population: list[Member] = []
        self._winner: Member | None = None
        self._fair: list[Member] = []

    @property
    def planned(self) -> int:
        return self._search.evaluations

    def _score(self, member: Member) -> float:
        return float(self.fitness(member.outcome))

    # -------------------------------------------------------------------- ask
    def _offspring(self) -> list[Candidate]:
        assert self._parent is not None
        parent = self._parent
        out = []
        if self._search.reevaluate_parent:
            out.append(
                self._candidate("p0", parent.genotype, parent, [REEVALUATE], cacheable=False)
            )
        out += [self._mutant(f"o{slot}", parent) for slot in range(self._search.offspring)]
        return out

    def _propose(self) -> list[Candidate]:
        if self._phase == "initial":
            return self._initial()
        if self._phase == "offspring":
            return self._offspring()
        raise RuntimeError(f"ask() called in phase {self._phase!r} with nothing pending")

    # ------------------------------------------------------------------- tell
    def _select(self, batch: list[Member]) -> GenerationSummary | None:
        if self._phase == "fair":
            self._fair = batch
            return self._finish_generation()
        members = batch
        if self._parent is not None and not self._search.reevaluate_parent:
            members = [self._parent, *batch]  # the parent competes with its old measurement
        self._population = members
        self._winner = self._fittest(self._population)
        self._pending = self._fair_candidates()
        if self._pending:
            self._phase = "fair"
            return None
        self._fair = []
        return self._finish_generation()

    def _not_parent(self, member: Member) -> bool:
        """False for the current parent, its re-evaluation and their fair retrains
        (sorts them first, so ties keep the parent)."""
        parent = self._parent
        if parent is None:
            return True
        if member is parent:
            return False
        mutations = member.candidate.mutations
        if REEVALUATE in mutations:
            return member.candidate.parent_id != parent.id
        if FAIR_RETRAIN in mutations:
            source = member.candidate.parent_id
            return not (source == parent.id or self._is_reevaluation(source))
        return True

    def _is_reevaluation(self, member_id: int | None) -> bool:
        return any(
            m.id == member_id and REEVALUATE in m.candidate.mutations for m in self._population
        )

    def _fittest(self, members: list[Member]) -> Member:
        scores = [self._score(m) for m in members]
        return members[int(np.argmax(scores))]

    def _fair_candidates(self) -> list[Candidate]:
        """Fast-DENSER's fair comparison when the winner trained longer than default."""
        winner = self._winner
        assert winner is not None
        if winner.train_time <= self._search.default_train_time:
            return []
        # A candidate the winner continues (the winner is its train-longer child) is
        # not retrained: that would repeat the winner's own training.
        shorter = [
            m
            for m in self._population
            if m is not winner and m.train_time < winner.train_time and not _continues(winner, m)
        ]
        chosen: list[Member] = []
        parent = next((m for m in self._population if not self._not_parent(m)), None)
        if parent is not None and parent in shorter:
            chosen.append(parent)
        least = min((m.train_time for m in shorter), default=None)
        defaults = [m for m in shorter if m.train_time == least and m.outcome.status == "ok"]
        if defaults:
            best = self._fittest(defaults)
            if best not in chosen:
                chosen.append(best)
        chosen = [m for m in chosen if m.outcome.status == "ok"]
        return [
            self._candidate(
                f"r{slot}",
                self.variation.with_train_time(m.genotype, winner.train_time),
                m,
                [FAIR_RETRAIN],
                warm_from=m,
            )
            for slot, m in enumerate(chosen)
        ]

    def _finish_generation(self) -> GenerationSummary:
        assert self._winner is not None
        # The parent, or its retrained copy, comes first: ties keep the parent.
        finalists = sorted([self._winner, *self._fair], key=self._not_parent)
        parent = self._fittest(finalists)
        scores = [self._score(m) for m in self._population]
        best = self._score(parent)
        summary = GenerationSummary(
            generation=self._generation,
            elites=(parent.id,),
            best_fitness=best,
            mean_fitness=float(np.mean(scores)),
            info=self.objective.end_generation(scores),  # after scoring: it may switch
            members=tuple(m.id for m in self._population + self._fair),
        )
        self._parent = parent
        self._winner = None
        self._fair = []
        self._population = []
        self._phase = "offspring"
        return summary
