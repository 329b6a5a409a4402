"""RAS's three subpopulations: layers, blocks (DAGs of layers), models (DAGs of blocks).

Layers and blocks live in a :class:`RasPopulation` under stable integer ids and
are shared: a block refers to layers by id, a model to blocks by id, so one
good block can serve many models (the point of the paper's three levels).
Members are immutable and ids are never reused; a mutation adds a new member
rather than editing one, so every model keeps meaning what it meant. Models
are not stored here: the search keeps its model population itself and hands
the live ones to :meth:`RasPopulation.prune`.

All randomness comes from the ``numpy.random.Generator`` passed in, so a seed
fixes the whole population.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from neronet.ras.dag import Dag

FILTERS = (8, 16, 32, 64)
STRIDES = (1, 2)
KERNELS = (1, 3, 5)
UNITS = (64, 128, 256, 512)


@dataclass(frozen=True)
class Conv:
    """A convolution (same padding); the phenotype adds ReLU and BatchNorm after it."""

    filters: int
    kernel: int
    stride: int


@dataclass(frozen=True)
class Dense:
    """A fully connected layer; the phenotype adds ReLU and BatchNorm after it."""

    units: int


Layer = Conv | Dense
Block = Dag[int]
"""Layer ids of the population, wired as a DAG."""
Model = Dag[int]
"""Block ids of the population, wired as a DAG; the phenotype adds input and softmax."""


def random_layer(rng: np.random.Generator) -> Layer:
    """A conv or a dense layer (even odds) with parameters drawn from the paper's sets."""
    if rng.random() < 0.5:
        return Conv(
            filters=int(rng.choice(FILTERS)),
            kernel=int(rng.choice(KERNELS)),
            stride=int(rng.choice(STRIDES)),
        )
    return Dense(units=int(rng.choice(UNITS)))


def chain(nodes: Iterable[int]) -> Dag[int]:
    """``nodes`` wired one after another, the shape of every initial block and model."""
    items = tuple(nodes)
    return Dag(items, tuple((i, i + 1) for i in range(len(items) - 1)))


class RasPopulation:
    """The layer and block subpopulations, keyed by ids that are never reused."""

    def __init__(self) -> None:
        self.layers: dict[int, Layer] = {}
        self.blocks: dict[int, Block] = {}
        self._next_layer = 0
        self._next_block = 0

    def add_layer(self, layer: Layer) -> int:
        """Store ``layer`` as a new member and return its fresh id."""
        self._next_layer += 1
        self.layers[self._next_layer] = layer
        return self._next_layer

    def add_block(self, block: Block) -> int:
        """Store ``block`` as a new member and return its fresh id."""
        missing = [i for i in block.nodes if i not in self.layers]
        if missing:
            raise KeyError(f"block refers to layers {missing} that are not in the population")
        self._next_block += 1
        self.blocks[self._next_block] = block
        return self._next_block

    def layer_utility(self, models: Iterable[Model]) -> Counter[int]:
        """How many of ``models`` use each layer (the paper's layer utility)."""
        return Counter(
            layer
            for model in models
            for layer in {i for b in model.nodes for i in self.blocks[b].nodes}
        )

    def block_utility(self, models: Iterable[Model]) -> Counter[int]:
        """How many of ``models`` use each block (the paper's block utility)."""
        return Counter(block for model in models for block in set(model.nodes))

    def prune(self, live_models: Iterable[Model]) -> None:
        """Drop the layers and blocks no live model uses (zero utility)."""
        models = list(live_models)
        used_blocks = self.block_utility(models)
        used_layers = self.layer_utility(models)
        self.blocks = {i: b for i, b in self.blocks.items() if i in used_blocks}
        self.layers = {i: la for i, la in self.layers.items() if i in used_layers}

    def random_block(self, rng: np.random.Generator, layers: tuple[int, int]) -> int:
        """A new chain of U(layers) new random layers; returns its id."""
        count = int(rng.integers(layers[0], layers[1] + 1))
        return self.add_block(chain(self.add_layer(random_layer(rng)) for _ in range(count)))

    def random_model(
        self, rng: np.random.Generator, blocks: tuple[int, int], layers: tuple[int, int]
    ) -> Model:
        """A chain of U(blocks) new random blocks of U(layers) layers each."""
        count = int(rng.integers(blocks[0], blocks[1] + 1))
        return chain(self.random_block(rng, layers) for _ in range(count))


def initial_population(
    rng: np.random.Generator,
    models: int = 25,
    blocks: tuple[int, int] = (2, 5),
    layers: tuple[int, int] = (2, 5),
) -> tuple[RasPopulation, list[Model]]:
    """The paper's start: ``models`` random models of U(blocks) blocks of U(layers) layers
    (bounds inclusive), every layer and block a new member."""
    population = RasPopulation()
    return population, [population.random_model(rng, blocks, layers) for _ in range(models)]
