"""The ``ras`` encoding: RAS genomes for any strategy (NSGA-II, random search, aging, ...).

A genome is a :class:`~neronet.ras.RasGenotype` (the model by value). RAS's own
niching search (strategy ``ras``) keeps the paper's shared layer and block
populations across its clusters and prunes them; the other strategies have no
clusters, so here a genome is varied within its own layers and blocks
(:meth:`RasGenotype.population_of`): ``ras.mutations`` random mutations of the
paper's 13, the swaps and additions drawing from the parent's members. A random
genome is a chain of ``ras.blocks_per_model`` blocks of ``ras.layers_per_block``
layers, as RAS's initial models; every genome trains with RAS's fixed recipe
(``ras.training``: :class:`~neronet.search.ras_settings.RasTraining`) for at most
``search.default_train_time`` and builds under ``ras.dense`` / ``ras.head``. The NSGA-Net
seed is the grammar's: generation 0 is random genomes whatever ``search.initial``.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from neronet.config import NeroConfig
from neronet.genotype import Structure
from neronet.ras.encoding import RasGenotype
from neronet.ras.genome import RasPopulation
from neronet.ras.mutations import mutate
from neronet.search.encodings import ENCODINGS, Genome, Variation
from neronet.search.ras_settings import RasConfig


@ENCODINGS.register("ras")
class RasVariation(Variation):
    """RAS genomes varied one by one, each within its own layers and blocks."""

    def __init__(self, config: NeroConfig, structure: Structure, rng: np.random.Generator) -> None:
        super().__init__(config, structure, rng)
        self.ras = RasConfig.of(config.sections)
        self.learning = self.ras.training.learning()

    def random(self) -> RasGenotype:
        population = RasPopulation()
        model = population.random_model(
            self.rng, self.ras.blocks_per_model, self.ras.layers_per_block
        )
        return RasGenotype.resolve(
            model,
            population,
            self.config.search.default_train_time,
            self.learning,
            self.ras.dense,
            self.ras.head,
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
        mutant = RasGenotype.resolve(
            child, population, genome.train_time, genome.learning, genome.dense, genome.head
        )
        return mutant, names

    def with_train_time(self, genome: Genome, train_time: float) -> Genome:
        return replace(_ras(genome), train_time=float(train_time))

    def parse(self, text: str) -> RasGenotype:
        return RasGenotype.from_json(text)


def _ras(genome: Genome) -> RasGenotype:
    if not isinstance(genome, RasGenotype):
        raise TypeError(f"the ras encoding varies RasGenotypes, not {type(genome).__name__}")
    return genome
