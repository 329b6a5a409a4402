"""The strategy interface: ask for candidates, tell their outcomes.

A strategy is a deterministic function of its seed and the outcomes it is told:
that is what makes resume exact. The runner replays stored outcomes through a
fresh strategy (no training), reaching precisely the state the run had when it
stopped, then continues live. Strategies never touch the store or executors,
and never compute fitness: they are handed an :class:`Objective` and ask it.
Nor do they make genotypes: the run's encoding does (:mod:`neronet.search.encodings`),
so each strategy holds only its selection logic.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from neronet.evaluation.objectives import Fitness, Objective
from neronet.evaluation.result import Outcome
from neronet.search import pareto
from neronet.search.encodings import ENCODINGS, TRAIN_LONGER, Genome, Variation

if TYPE_CHECKING:
    from neronet.config import NeroConfig, SearchConfig
    from neronet.genotype import Structure


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
    genotype: Genome
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
    ``{"warmup": ..., "switched": ...}``). ``breeders`` are the individuals beyond the
    elites that the next generation may breed from (aging evolution: its living
    population): the store keeps their training states as it keeps the elites', so a
    train-longer child of any of them continues its parent's training.
    """

    generation: int
    elites: tuple[int, ...]
    best_fitness: float
    mean_fitness: float
    info: dict[str, Any] = field(default_factory=dict)
    members: tuple[int, ...] = field(default_factory=tuple)
    breeders: tuple[int, ...] = field(default_factory=tuple)


def in_order(pending: Sequence[Candidate], outcomes: Sequence[Outcome]) -> list[Outcome]:
    """The outcomes of ``pending``, in its order (a runner may finish them in any order);
    a missing one is a bug of the caller."""
    by_id = {o.id: o for o in outcomes}
    missing = [c.key for c in pending if c.id not in by_id]
    if missing:
        raise ValueError(f"tell() lacks outcomes for {missing}")
    return [by_id[c.id] for c in pending]


@dataclass(frozen=True, eq=False)
class Member:
    """An evaluated candidate: the record every strategy keeps of its population
    (compared by identity: one evaluation is one member)."""

    candidate: Candidate
    outcome: Outcome

    @property
    def id(self) -> int:
        return self.candidate.id

    @property
    def genotype(self) -> Genome:
        return self.candidate.genotype

    @property
    def train_time(self) -> float:
        return float(self.candidate.genotype.train_time)


class Strategy(ABC):
    """Ask/tell search strategy over an objective: the skeleton every strategy shares.

    The base owns what is not selection: the strategy's random stream
    (``SeedSequence([seed, salt])``, one ``salt`` per strategy, so two strategies
    with one run seed draw differently), the variation of the run's encoding (made
    with that stream), individual ids and keys, the pending batch, and the
    generation count that ends the search (``search.generations``). A subclass
    says what to ask next (:meth:`_propose`) and what to make of a batch's outcomes
    (:meth:`_select`); ``_select`` may queue more candidates of the same generation
    in ``self._pending`` and return None (a fair retrain, a redraw).

    ``vector_objectives``: whether the strategy can search a multi-objective
    objective (``Objective.scalar = False``). ``encodings``: the encodings it can
    search (None: every registered one); ``default_encoding`` the one it searches
    when ``search.encoding`` is unset. ``check_plugins`` refuses a combination
    outside these.
    """

    vector_objectives: bool = False
    encodings: ClassVar[tuple[str, ...] | None] = None
    default_encoding: ClassVar[str] = "grammar"
    salt: ClassVar[int]

    def __init__(self, config: NeroConfig, structure: Structure, objective: Objective) -> None:
        self.objective = objective
        self._search = config.search
        self._rng = np.random.default_rng(np.random.SeedSequence([config.seed, self.salt]))
        variation = ENCODINGS.get(self.encoding_for(config.search))
        self.variation: Variation = variation(config, structure, self._rng)
        self._generation = 0
        self._next_id = 0
        self._pending: list[Candidate] = []

    @classmethod
    def encoding_for(cls, search: SearchConfig) -> str:
        """The encoding this strategy searches under ``search`` (``search.encoding``, else
        the strategy's default)."""
        return search.encoding or cls.default_encoding

    # ------------------------------------------------------------------ state
    @property
    def finished(self) -> bool:
        """True when the search has nothing more to ask."""
        return self._generation >= self._search.generations

    @property
    def generation(self) -> int:
        """The generation being asked (0 first)."""
        return self._generation

    @property
    @abstractmethod
    def planned(self) -> int:
        """Individuals the whole search is expected to evaluate (for progress totals)."""

    # ------------------------------------------------------------- ask / tell
    def ask(self) -> list[Candidate]:
        """The next batch of candidates; they may be evaluated in any order or in parallel."""
        if self.finished:
            return []
        if not self._pending:
            self._pending = self._propose()
        return list(self._pending)

    def tell(self, outcomes: list[Outcome]) -> GenerationSummary | None:
        """Outcomes of the last batch; returns a summary when a generation is complete."""
        told = in_order(self._pending, outcomes)
        batch = [Member(c, o) for c, o in zip(self._pending, told, strict=True)]
        self._pending = []
        summary = self._select(batch)
        if summary is not None:
            self._generation += 1
        return summary

    @abstractmethod
    def _propose(self) -> list[Candidate]:
        """The next batch, when nothing is pending and the search is not finished."""

    @abstractmethod
    def _select(self, batch: list[Member]) -> GenerationSummary | None:
        """Take the outcomes of ``batch`` (in the order asked); the generation's summary
        once its selection is final, else None with more candidates in ``_pending``."""

    # ------------------------------------------------------------- candidates
    def _candidate(
        self,
        slot: str,
        genotype: Genome,
        parent: Member | None,
        mutations: Sequence[str],
        *,
        warm_from: Member | None = None,
        cacheable: bool = True,
    ) -> Candidate:
        """The next individual, keyed ``g<generation>/<slot>``. With ``warm_from`` (when it
        trained ok) it continues that member's training, so it costs only the time
        its genotype asks for beyond the member's."""
        cid = self._next_id
        self._next_id += 1
        budget = float(genotype.train_time)
        warm_id = None
        if warm_from is not None and warm_from.outcome.status == "ok":
            warm_id = warm_from.id
            budget = max(budget - warm_from.train_time, 0.0)
        return Candidate(
            id=cid,
            key=f"g{self._generation}/{slot}",
            generation=self._generation,
            genotype=genotype,
            parent_id=None if parent is None else parent.id,
            mutations=tuple(mutations),
            budget=budget,
            warm_start_from=warm_id,
            cacheable=cacheable,
        )

    def _initial(self) -> list[Candidate]:
        """Generation 0 of an evolving strategy: ``search.initial_size`` individuals from
        the encoding (keys ``i0``, ``i1``, ...)."""
        made = self.variation.initial(self._search.initial_size)
        return [
            self._candidate(f"i{slot}", genotype, None, names)
            for slot, (genotype, names) in enumerate(made)
        ]

    def _mutant(self, slot: str, parent: Member) -> Candidate:
        """A mutant of ``parent``; one that only trains longer continues its training."""
        child, names = self.variation.mutant(parent.genotype)
        warm = parent if TRAIN_LONGER in names else None
        return self._candidate(slot, child, parent, names, warm_from=warm)

    # ---------------------------------------------------------------- fitness
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
