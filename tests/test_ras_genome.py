"""RAS populations: the random start, utilities and pruning of unused members."""

from __future__ import annotations

import numpy as np
from helpers_ras import small_world

from neronet.ras import initial_population
from neronet.ras.dag import Dag


def test_initial_population_follows_the_ranges_and_is_seeded() -> None:
    population, models = initial_population(np.random.default_rng(3), models=6, blocks=(2, 3))
    assert len(models) == 6
    for model in models:
        assert 2 <= len(model.nodes) <= 3
        assert model.edges == tuple((i, i + 1) for i in range(len(model.nodes) - 1))
        assert all(2 <= len(population.blocks[b].nodes) <= 5 for b in model.nodes)
    again, same = initial_population(np.random.default_rng(3), models=6, blocks=(2, 3))
    assert (population.layers, population.blocks, models) == (again.layers, again.blocks, same)


def test_utility_counts_models_not_uses() -> None:
    population, model = small_world()  # block 1 serves twice, layer 2 in both blocks
    other = Dag((2,))
    assert population.block_utility([model, other]) == {1: 1, 2: 2}
    assert population.layer_utility([model, other]) == {1: 1, 2: 2, 3: 2}


def test_prune_drops_members_no_live_model_uses() -> None:
    population, models = initial_population(np.random.default_rng(0), models=5)
    live = models[:2]
    population.prune(live)
    assert set(population.blocks) == {b for m in live for b in m.nodes}
    assert set(population.layers) == {i for b in population.blocks.values() for i in b.nodes}
    fresh = population.add_layer(population.layers[min(population.layers)])
    assert fresh > max(i for i in population.layers if i != fresh)  # ids are never reused
