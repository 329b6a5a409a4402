"""The strategy interface: ask for candidates, tell their outcomes.

A strategy is a deterministic function of its seed and the outcomes it is told:
that is what makes resume exact. The runner replays stored outcomes through a
fresh strategy (no training), reaching precisely the state the run had when it
stopped, then continues live. Strategies never touch the store or executors.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from neronet.genotype import Genotype


@dataclass(frozen=True)
class Candidate:
    """A genotype the strategy wants evaluated.

    ``key`` names the candidate's place in the search ("g3/o1": generation 3,
    offspring 1) and is stable across resumes; ``id`` is the individual id.
    ``budget_s`` is the training time to spend now: the whole ``train_time`` for
    a fresh start, or the extra time when continuing from ``warm_start_from``.
    """

    id: int
    key: str
    generation: int
    genotype: Genotype
    parent_id: int | None
    mutations: tuple[str, ...]
    budget_s: float
    warm_start_from: int | None = None


@dataclass(frozen=True)
class Outcome:
    """What the strategy needs to know about an evaluated candidate."""

    id: int
    status: str
    clean_accuracy: float
    adversarial_accuracy: float


@dataclass(frozen=True)
class GenerationSummary:
    """Emitted by a strategy when a generation's selection is final."""

    generation: int
    parent_id: int
    best_fitness: float
    mean_fitness: float
    warmup: bool
    switched: bool
    members: tuple[int, ...] = field(default_factory=tuple)


class Strategy(ABC):
    """Ask/tell search strategy."""

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

    @abstractmethod
    def fitness(self, outcome: Outcome) -> float:
        """The fitness of an outcome under the strategy's current objective."""

    @property
    @abstractmethod
    def warmup(self) -> bool:
        """Whether the search is still in the warm-up objective (clean accuracy only)."""
