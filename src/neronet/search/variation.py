"""The grammar's variation, as every strategy applies it: mutants and the initial population.

Shared so that the (1+lambda), NSGA-II and random search draw their
candidates the same way from the same settings (``search.initial``,
``search.mutation``, the training times): a comparison between strategies is
then a comparison of selection alone.
"""

from __future__ import annotations

import copy

import numpy as np

from neronet.config import SearchConfig
from neronet.genotype import Genotype, Structure
from neronet.mutation import mutate
from neronet.seeds import nsga_net

TRAIN_LONGER = "train_longer"
"""The mutation that continues the parent's training (the child warm-starts from it)."""


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


def initial_population(
    search: SearchConfig,
    structure: Structure,
    rng: np.random.Generator,
    seed: Genotype | None,
) -> list[tuple[Genotype, list[str]]]:
    """Generation 0: the seed and ``initial_size - 1`` mutants of it, or random individuals
    when there is no seed; each with the names of how it was made."""
    if seed is not None:
        out = [(seed, ["seed"])]
        for _ in range(1, search.initial_size):
            child, names = mutant(seed, structure, search, rng, initial=True)
            out.append((child, ["seed", *names]))
        return out
    return [
        (Genotype.random(structure, rng, train_time=search.default_train_time), ["random"])
        for _ in range(search.initial_size)
    ]
