"""RAS's 13 mutations: each makes a new model and new members, never edits the old ones."""

from __future__ import annotations

from dataclasses import fields

import numpy as np
import pytest
from helpers_ras import small_world

from neronet.ras import (
    MUTATIONS,
    Conv,
    Dense,
    RasPopulation,
    applicable,
    apply_mutation,
    initial_population,
    mutate,
)
from neronet.ras.dag import Dag
from neronet.ras.genome import Model

LAYER_LEVEL = {"change_kernel", "change_filters", "change_units", "swap_layer"}
BLOCK_LEVEL = {
    "add_layer",
    "remove_layer",
    "add_layer_connection",
    "remove_layer_connection",
    "swap_block",
}


def _mutated(name: str, seed: int = 0):
    """(population, parent, child, layers before, blocks before) after mutation ``name``."""
    population, model = small_world()
    layers, blocks = dict(population.layers), dict(population.blocks)
    child = apply_mutation(name, model, population, np.random.default_rng(seed))
    assert model == small_world()[1], "the parent model changed"
    assert all(population.layers[i] == layer for i, layer in layers.items())
    assert all(population.blocks[i] == block for i, block in blocks.items())
    return population, model, child, layers, blocks


def _new_block(population: RasPopulation, model: Model, child: Model, blocks) -> tuple:
    """The one block position the child changed: (old block, new block); the new one is new."""
    changed = [b for b in range(len(model.nodes)) if model.nodes[b] != child.nodes[b]]
    assert len(changed) == 1 and child.edges == model.edges
    new_id = child.nodes[changed[0]]
    assert new_id not in blocks and len(population.blocks) == len(blocks) + 1
    return population.blocks[model.nodes[changed[0]]], population.blocks[new_id]


@pytest.mark.parametrize(
    ("name", "field", "kind"),
    [
        ("change_kernel", "kernel", Conv),
        ("change_filters", "filters", Conv),
        ("change_units", "units", Dense),
    ],
)
@pytest.mark.parametrize("seed", range(4))
def test_change_layer_adds_a_layer_differing_in_one_field(name, field, kind, seed) -> None:
    population, model, child, layers, blocks = _mutated(name, seed)
    old, new = _new_block(population, model, child, blocks)
    (index,) = [i for i in range(len(old.nodes)) if old.nodes[i] != new.nodes[i]]
    assert new.edges == old.edges and new.nodes[index] not in layers
    assert len(population.layers) == len(layers) + 1
    before, after = population.layers[old.nodes[index]], population.layers[new.nodes[index]]
    assert isinstance(before, kind) and isinstance(after, kind)
    for f in fields(kind):
        assert (getattr(before, f.name) != getattr(after, f.name)) == (f.name == field)


def test_swap_layer_reuses_another_member() -> None:
    population, model, child, layers, blocks = _mutated("swap_layer")
    old, new = _new_block(population, model, child, blocks)
    (index,) = [i for i in range(len(old.nodes)) if old.nodes[i] != new.nodes[i]]
    assert new.nodes[index] in layers and population.layers == layers


@pytest.mark.parametrize("seed", range(6))
def test_add_and_remove_layer(seed: int) -> None:
    population, model, child, layers, blocks = _mutated("add_layer", seed)
    old, new = _new_block(population, model, child, blocks)
    assert len(new.nodes) == len(old.nodes) + 1 and population.layers == layers
    assert set(new.nodes) <= set(layers)
    population, model, child, layers, blocks = _mutated("remove_layer", seed)
    old, new = _new_block(population, model, child, blocks)
    assert len(new.nodes) == len(old.nodes) - 1 and population.layers == layers


@pytest.mark.parametrize(
    ("name", "step"), [("add_layer_connection", 1), ("remove_layer_connection", -1)]
)
def test_layer_connections(name: str, step: int) -> None:
    population, model, child, _, blocks = _mutated(name)
    old, new = _new_block(population, model, child, blocks)
    assert new.nodes == old.nodes and len(new.edges) == len(old.edges) + step
    smaller, larger = (old, new) if step > 0 else (new, old)
    assert set(smaller.edges) < set(larger.edges)


def test_swap_block_reuses_another_member() -> None:
    population, model, child, _, blocks = _mutated("swap_block")
    assert population.blocks == blocks and child.edges == model.edges
    (position,) = [b for b in range(3) if model.nodes[b] != child.nodes[b]]
    assert child.nodes[position] in blocks


@pytest.mark.parametrize("seed", range(4))
def test_add_and_remove_block(seed: int) -> None:
    population, model, child, layers, blocks = _mutated("add_block", seed)
    assert len(child.nodes) == 4 and set(child.nodes) <= set(blocks)
    assert population.blocks == blocks and population.layers == layers
    assert len(child.edges) >= len(model.edges)  # the new block is wired in
    population, model, child, _, blocks = _mutated("remove_block", seed)
    assert len(child.nodes) == 2 and population.blocks == blocks


@pytest.mark.parametrize(
    ("name", "step"), [("add_block_connection", 1), ("remove_block_connection", -1)]
)
def test_block_connections(name: str, step: int) -> None:
    population, model, child, _, blocks = _mutated(name)
    assert child.nodes == model.nodes and len(child.edges) == len(model.edges) + step
    assert population.blocks == blocks


def test_removing_a_node_bridges_its_predecessors_to_its_successors() -> None:
    assert Dag((7, 8, 9), ((0, 1), (1, 2))).removed(1) == Dag((7, 9), ((0, 1),))


def test_mutations_that_cannot_act_are_not_offered() -> None:
    population = RasPopulation()
    block = population.add_block(Dag((population.add_layer(Conv(8, 3, 1)),)))
    model = Dag((block,))
    assert applicable(model, population) == [
        "change_kernel",
        "change_filters",
        "add_layer",
        "add_block",
    ]
    with pytest.raises(ValueError, match="change_units cannot act"):
        apply_mutation("change_units", model, population, np.random.default_rng(0))
    _, names = mutate(model, population, np.random.default_rng(0), count=20)
    assert len(names) == 20 and set(names) <= set(MUTATIONS)


def test_over_the_caps_only_swaps_are_offered() -> None:
    population, model = small_world()  # 3 layers, 2 blocks
    everything = applicable(model, population)
    assert set(everything) == set(MUTATIONS)
    capped = applicable(model, population, layer_cap=2, block_cap=1)
    assert set(capped) == set(MUTATIONS) - (LAYER_LEVEL | BLOCK_LEVEL) | {
        "swap_layer",
        "swap_block",
    }
    only_layers = applicable(model, population, layer_cap=2)
    assert set(only_layers) == set(MUTATIONS) - LAYER_LEVEL | {"swap_layer"}
    _, names = mutate(
        model, population, np.random.default_rng(1), count=60, layer_cap=2, block_cap=1
    )
    assert not set(names) & (LAYER_LEVEL | BLOCK_LEVEL) - {"swap_layer", "swap_block"}
    assert {"swap_layer", "swap_block"} <= set(names)


def test_mutate_is_deterministic_and_grows_the_population_only() -> None:
    def run(seed: int):
        rng = np.random.default_rng(seed)
        population, models = initial_population(rng, models=4)
        children = [mutate(m, population, rng, layer_cap=10**6, block_cap=10**6) for m in models]
        return population.layers, population.blocks, children

    first, second = run(5), run(5)
    assert first == second and first != run(6)
    assert all(len(names) == 5 for _, names in first[2])
