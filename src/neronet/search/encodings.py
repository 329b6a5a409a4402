"""Encodings: what a candidate is, and how a search makes and changes one.

A strategy selects; an encoding varies. The strategy base
(:class:`neronet.search.base.Strategy`) builds the run's :class:`Variation` for the
encoding ``search.encoding`` names (unset: the strategy's ``default_encoding``)
and every strategy draws its candidates through it, so a strategy written once
searches every encoding it does not refuse (``Strategy.encodings``). Built in:
``grammar`` (NERO-Net's grammar genotype, :mod:`neronet.search.variation`) and
``ras`` (RAS's genome, :mod:`neronet.ras.variation`). A new encoding subclasses
:class:`Variation` and registers itself with ``@ENCODINGS.register("name")``.

A variation draws only from the generator it is given (the strategy's), in the
order the strategy asks: that keeps a search a deterministic function of its
seed and the outcomes it is told, which resume by replay relies on.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Protocol

import numpy as np

from neronet.registry import Registry
from neronet.spec import LearningSpec, NetworkSpec

if TYPE_CHECKING:
    from neronet.config import NeroConfig
    from neronet.genotype import Structure

TRAIN_LONGER = "train_longer"
"""The mutation name of a child that is its parent trained longer: the strategies let
it continue the parent's training (an encoding without such a mutation never names it)."""


class Genome(Protocol):
    """What a candidate carries: any representation the runner can store and decode.

    The runner, the store and replay use only this. ``to_json`` must be canonical
    (replay compares it to the stored text); ``decode`` raises GrammarError or
    InvalidArchitecture for a candidate that cannot become a network (recorded as an
    invalid individual, never trained).
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


class Variation(ABC):
    """One search's variation over one encoding: random genomes, mutants, parsing.

    Made once per strategy with the strategy's generator ``rng``; nothing else
    draws from it between the strategy's draws.
    """

    def __init__(self, config: NeroConfig, structure: Structure, rng: np.random.Generator) -> None:
        self.config = config
        self.structure = structure
        self.rng = rng

    @abstractmethod
    def random(self) -> Genome:
        """A fresh random genome at the default training time."""

    def initial(self, count: int) -> list[tuple[Genome, list[str]]]:
        """Generation 0 of an evolving strategy, each with the names of how it was made
        (here: ``count`` random genomes)."""
        return [(self.random(), ["random"]) for _ in range(count)]

    @abstractmethod
    def mutant(self, parent: Genome) -> tuple[Genome, list[str]]:
        """A mutant of ``parent`` and the names of the mutations applied (a child that
        trains longer names :data:`TRAIN_LONGER`)."""

    @abstractmethod
    def with_train_time(self, genome: Genome, train_time: float) -> Genome:
        """``genome`` asking for ``train_time`` of training, architecture unchanged."""

    @abstractmethod
    def parse(self, text: str) -> Genome:
        """The genome whose ``to_json()`` is ``text`` (a stored individual's)."""


ENCODINGS: Registry[type[Variation]] = Registry(
    "encoding", builtins=["neronet.search.variation", "neronet.ras.variation"]
)
