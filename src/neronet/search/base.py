"""The strategy interface: ask for candidates, tell their outcomes.

A strategy is a deterministic function of its seed and the outcomes it is told:
that is what makes resume exact. The runner replays stored outcomes through a
fresh strategy (no training), reaching precisely the state the run had when it
stopped, then continues live. Strategies never touch the store or executors,
and never compute fitness: they are handed an :class:`Objective` and ask it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from neronet.evaluation.objectives import Fitness, Objective
from neronet.evaluation.result import Outcome
from neronet.search import pareto
from neronet.spec import LearningSpec, NetworkSpec


class Encoding(Protocol):
    """What a candidate carries: any representation the runner can store and decode.

    NERO-Net's :class:`~neronet.genotype.Genotype` (grammar derivations) and RAS's
    resolved model are two; the runner, the store and replay use only this.
    ``to_json`` must be canonical (replay compares it to the stored text);
    ``decode`` raises GrammarError or InvalidArchitecture for a candidate that
    cannot become a network (recorded as an invalid individual, never trained).
    """

    @property
    def train_time(self) -> float:
        """Training this candidate asks for, in the run's budget unit (the stored
        ``train_time``; seconds unless ``search.budget`` says otherwise)."""
        ...

    def to_json(self) -> str: ...

    def decode(
        self, input_shape: tuple[int, int, int], num_classes: int
    ) -> tuple[NetworkSpec, LearningSpec]: ...


@dataclass(frozen=True)
class Candidate:
    """A genotype the strategy wants evaluated.

    ``key`` names the candidate's place in the search ("g3/o1": generation 3,
    offspring 1) and is stable across resumes; ``id`` is the individual id.
    ``budget`` is the training to spend now, in the run's budget unit
    (``search.budget``: seconds, epochs or images): the whole ``train_time`` for
    a fresh start, or the extra amount when continuing from ``warm_start_from``.
    ``cacheable``: whether an earlier evaluation of the same architecture and
    training may stand in for this one (False for a deliberate re-evaluation).
    """

    id: int
    key: str
    generation: int
    genotype: Encoding
    parent_id: int | None
    mutations: tuple[str, ...]
    budget: float
    warm_start_from: int | None = None
    cacheable: bool = True


@dataclass(frozen=True)
class GenerationSummary:
    """Emitted by a strategy when a generation's selection is final.

    ``elites`` are the individuals the strategy carries forward, best first
    (the (1+lambda) parent; a niche's representatives; a Pareto set): the
    store keeps their weights, and the last generation's first elite is the
    run's "best". ``best_fitness`` / ``mean_fitness`` are floats for every
    objective: ``Objective.summary`` of the elites and members (a scalar
    objective: the first elite's fitness and the members' mean; ``pareto``: the
    hypervolume of the front and the members' mean hypervolume). ``info`` holds
    strategy/objective facts for the record (e.g. NERO-Net's
    ``{"warmup": ..., "switched": ...}``).
    """

    generation: int
    elites: tuple[int, ...]
    best_fitness: float
    mean_fitness: float
    info: dict[str, Any] = field(default_factory=dict)
    members: tuple[int, ...] = field(default_factory=tuple)


def in_order(pending: Sequence[Candidate], outcomes: Sequence[Outcome]) -> list[Outcome]:
    """The outcomes of ``pending``, in its order (a runner may finish them in any order);
    a missing one is a bug of the caller."""
    by_id = {o.id: o for o in outcomes}
    missing = [c.key for c in pending if c.id not in by_id]
    if missing:
        raise ValueError(f"tell() lacks outcomes for {missing}")
    return [by_id[c.id] for c in pending]


class Strategy(ABC):
    """Ask/tell search strategy over an objective.

    ``vector_objectives``: whether the strategy can search a multi-objective
    objective (``Objective.scalar = False``); config validation refuses the
    combination otherwise.
    """

    vector_objectives: bool = False

    def __init__(self, objective: Objective) -> None:
        self.objective = objective

    @property
    @abstractmethod
    def finished(self) -> bool:
        """True when the search has nothing more to ask."""

    @abstractmethod
    def ask(self) -> list[Candidate]:
        """The next batch of candidates; they may be evaluated in any order or in parallel."""

    @abstractmethod
    def tell(self, outcomes: list[Outcome]) -> GenerationSummary | None:
        """Outcomes of the last batch; returns a summary when a generation is complete."""

    @property
    @abstractmethod
    def planned(self) -> int:
        """Individuals the whole search is expected to evaluate (for progress totals)."""

    def fitness(self, outcome: Outcome) -> Fitness:
        """The outcome's fitness under the objective's current state."""
        return self.objective.fitness(outcome)

    def best_first(self, outcomes: Sequence[Outcome]) -> list[int]:
        """Ids of ``outcomes`` from best to worst (ties by id): the keep policy's ranking.

        Scalar objectives rank by fitness; vector ones by front, then crowding
        distance (NSGA-II's order: the lonelier of two equally good points first).
        """
        if not self.objective.scalar:
            costs = pareto.costs_of([self.fitness(o) for o in outcomes])
            return pareto.best_first(costs, [o.id for o in outcomes])
        return [o.id for o in sorted(outcomes, key=lambda o: (-float(self.fitness(o)), o.id))]
