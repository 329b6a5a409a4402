"""The ``ras`` encoding: RAS genomes for any strategy (NSGA-II, random search, aging, ...).

A genome is a :class:`~neronet.ras.RasGenotype` (the model by value). RAS's own
niching search (strategy ``ras``) keeps the paper's shared layer and block
populations across its clusters and prunes them; the other strategies have no
clusters, so here a genome is varied within its own layers and blocks
(:meth:`RasGenotype.population_of`): ``ras.mutations`` random mutations of the
paper's 13, the swaps and additions drawing from the parent's members. A random
genome is a chain of ``ras.blocks_per_model`` blocks of ``ras.layers_per_block``
layers, as RAS's initial models; every genome trains with RAS's fixed recipe
(:data:`~neronet.ras.RAS_LEARNING`, early stopping after ``ras.patience`` epochs
without a gain of ``ras.min_delta``) for ``search.default_train_time``. The NSGA-Net
seed is the grammar's: generation 0 is random genomes whatever ``search.initial``.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from neronet.config import NeroConfig
from neronet.genotype import Structure
from neronet.ras.encoding import RAS_LEARNING, RasGenotype
from neronet.ras.genome import RasPopulation
from neronet.ras.mutations import mutate
from neronet.search.encodings import ENCODINGS, Genome, Variation
from neronet.search.ras_settings import RasConfig
from neronet.spec import LearningSpec


def ras_learning(ras: RasConfig) -> LearningSpec:
    """RAS's training recipe with the run's early stopping, on the full training split."""
    return replace(RAS_LEARNING, early_stop=ras.patience, min_delta=ras.min_delta)


@ENCODINGS.register("ras")
class RasVariation(Variation):
    """RAS genomes varied one by one, each within its own layers and blocks."""

    def __init__(self, config: NeroConfig, structure: Structure, rng: np.random.Generator) -> None:
        super().__init__(config, structure, rng)
        self.ras = RasConfig.of(config.sections)
        self.learning = ras_learning(self.ras)

    def random(self) -> RasGenotype:
        population = RasPopulation()
        model = population.random_model(
            self.rng, self.ras.blocks_per_model, self.ras.layers_per_block
        )
        return RasGenotype.resolve(
            model, population, self.config.search.default_train_time, self.learning
        )

    def mutant(self, parent: Genome) -> tuple[Genome, list[str]]:
        genome = _ras(parent)
        population, model = genome.population_of()
        child, names = mutate(
            model,
            population,
            self.rng,
            self.ras.mutations,
            layer_cap=self.ras.layer_cap,
            block_cap=self.ras.block_cap,
        )
        return RasGenotype.resolve(child, population, genome.train_time, genome.learning), names

    def with_train_time(self, genome: Genome, train_time: float) -> Genome:
        return replace(_ras(genome), train_time=float(train_time))

    def parse(self, text: str) -> RasGenotype:
        return RasGenotype.from_json(text)


def _ras(genome: Genome) -> RasGenotype:
    if not isinstance(genome, RasGenotype):
        raise TypeError(f"the ras encoding varies RasGenotypes, not {type(genome).__name__}")
    return genome
