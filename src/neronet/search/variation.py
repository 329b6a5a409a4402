"""The ``grammar`` encoding: NERO-Net's genotype, its mutants and its initial population.

Shared so that every strategy draws grammar candidates the same way from the
same settings (``search.initial``, ``search.mutation``, the training times): a
comparison between strategies is then a comparison of selection alone.
"""

from __future__ import annotations

import copy

import numpy as np

from neronet.config import NeroConfig, SearchConfig
from neronet.genotype import Genotype, Structure
from neronet.mutation import mutate
from neronet.search.encodings import ENCODINGS, Genome, Variation
from neronet.seeds import nsga_net


def with_train_time(genotype: Genotype, seconds: float) -> Genotype:
    """A copy of ``genotype`` that trains for ``seconds`` (architecture unchanged)."""
    child = copy.deepcopy(genotype)
    child.train_time = float(seconds)
    return child


def seed_genotype(
    search: SearchConfig, structure: Structure, rng: np.random.Generator
) -> Genotype | None:
    """The NSGA-Net seed at the default training time (``search.initial: seed``), else None.

    Its learning unit is drawn from the strategy's ``rng`` (``search.seed_learning:
    random``, the paper keeps the random initialisation of the other outer-level units)
    or is 0.1's fixed SGD 0.1 (``fixed``). Strategies build it when they are made, not at
    the first ask(), so a seed the grammar cannot express is reported before the run
    directory exists.
    """
    if search.initial != "seed":
        return None
    learning_rng = rng if search.seed_learning == "random" else None
    return with_train_time(nsga_net(structure, rng=learning_rng), search.default_train_time)


def mutant(
    parent: Genotype,
    structure: Structure,
    search: SearchConfig,
    rng: np.random.Generator,
    *,
    initial: bool = False,
) -> tuple[Genotype, list[str]]:
    """A mutant of ``parent`` and the operators applied (Table 1 rates)."""
    rates = search.mutation
    if initial:  # an initial "mutant" that only trains longer (from scratch) is no mutant
        rates = rates.model_copy(update={"train_longer": 0.0})
    return mutate(
        parent,
        structure,
        rates,
        rng,
        default_train_time=search.default_train_time,
        max_train_time=search.max_train_time,
    )


@ENCODINGS.register("grammar")
class GrammarVariation(Variation):
    """Grammar genotypes over the run's structure (Table 1's mutations, the NSGA-Net seed).

    The seed is drawn at the first :meth:`initial`, from the strategy's generator, and
    checked (without drawing) when the variation is made: a seed the grammar cannot
    express is reported before the run directory exists, and a strategy that never
    asks for an initial population (random search) draws nothing for it.
    """

    def __init__(self, config: NeroConfig, structure: Structure, rng: np.random.Generator) -> None:
        super().__init__(config, structure, rng)
        self.search = config.search
        if self.search.initial == "seed":
            nsga_net(structure)

    def random(self) -> Genotype:
        return Genotype.random(self.structure, self.rng, train_time=self.search.default_train_time)

    def initial(self, count: int) -> list[tuple[Genome, list[str]]]:
        """The seed and ``count - 1`` mutants of it (``search.initial: seed``), else
        ``count`` random genotypes."""
        seed = seed_genotype(self.search, self.structure, self.rng)
        if seed is None:
            return super().initial(count)
        out: list[tuple[Genome, list[str]]] = [(seed, ["seed"])]
        for _ in range(1, count):
            child, names = mutant(seed, self.structure, self.search, self.rng, initial=True)
            out.append((child, ["seed", *names]))
        return out

    def mutant(self, parent: Genome) -> tuple[Genome, list[str]]:
        return mutant(_genotype(parent), self.structure, self.search, self.rng)

    def with_train_time(self, genome: Genome, train_time: float) -> Genome:
        return with_train_time(_genotype(genome), train_time)

    def parse(self, text: str) -> Genotype:
        return Genotype.from_json(text, self.structure)


def _genotype(genome: Genome) -> Genotype:
    if not isinstance(genome, Genotype):
        raise TypeError(f"the grammar encoding varies Genotypes, not {type(genome).__name__}")
    return genome
