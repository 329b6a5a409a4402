"""The paper's 13 mutations (a-m), at layer, block and model level.

Every mutation returns a NEW model and adds what it changed to the population
as new members (a changed layer becomes a new layer inside a new block; a
changed block a new block), so the parent, and every other model sharing its
layers and blocks, stays as it was. Nothing is ever edited in place.

Applicability. Each mutation lists the concrete places it can act on in a
model (e.g. change kernel: every conv layer of every block; remove layer:
every block with more than one layer; add block connection: every missing
forward edge) and one place is drawn uniformly. A mutation with no place
(change units in an all-conv model, remove from a one-layer block, ...) is
simply not offered: :func:`mutate` draws each step uniformly among the
mutations applicable at that step, which is the same as redrawing until one
applies, without the loop. ``add_block`` always applies, so a step never fails.

Population caps (paper, section 5.2): while the layer population holds more
than ``layer_cap`` members, ``swap_layer`` is the only layer mutation offered;
while the block population holds more than ``block_cap``, ``swap_block`` is the
only block mutation offered. Swaps reuse members instead of creating layers,
which lets the pruning of unused members shrink the population again. The
sizes compared with the caps are ``sizes`` when given: the search passes the
population's sizes at the start of the generation, so the cap is a property of
the population, the same for every child of the generation, and not of how
many members the children made before it created.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from neronet.ras.dag import Dag
from neronet.ras.genome import FILTERS, KERNELS, UNITS, Block, Conv, Dense, Model, RasPopulation

Target = Any
"""Where a mutation acts: a (block, layer) position, a block position, an edge, ..."""


@dataclass(frozen=True)
class Mutation:
    """One operator: the places it can act on, and how it acts on one of them."""

    name: str
    level: str  # "layer", "block" or "model": which population cap restricts it
    targets: Callable[[Model, RasPopulation], list[Target]]
    act: Callable[[Model, RasPopulation, np.random.Generator, Target], Model]


def _block(model: Model, population: RasPopulation, position: int) -> Block:
    return population.blocks[model.nodes[position]]


def _with_block(model: Model, population: RasPopulation, position: int, block: Block) -> Model:
    """``model`` with the block at ``position`` replaced by ``block``, added as a new member."""
    return model.with_node(position, population.add_block(block))


def _pick(rng: np.random.Generator, options: list[int]) -> int:
    return options[int(rng.integers(len(options)))]


# --- layer mutations ---------------------------------------------------------------------------


def _layer_slots(kind: type | None) -> Callable[[Model, RasPopulation], list[Target]]:
    """Targets: every (block position, layer position) holding a layer of ``kind`` (any if None)."""

    def targets(model: Model, population: RasPopulation) -> list[Target]:
        return [
            (b, index)
            for b in range(len(model.nodes))
            for index, layer in enumerate(_block(model, population, b).nodes)
            if kind is None or isinstance(population.layers[layer], kind)
        ]

    return targets


def _set_layer(model: Model, population: RasPopulation, slot: Target, layer: int) -> Model:
    b, index = slot
    return _with_block(model, population, b, _block(model, population, b).with_node(index, layer))


def _change(
    field: str, options: tuple[int, ...]
) -> Callable[[Model, RasPopulation, np.random.Generator, Target], Model]:
    """Act: a new layer equal to the target except ``field``, set to another of ``options``."""

    def act(
        model: Model, population: RasPopulation, rng: np.random.Generator, slot: Target
    ) -> Model:
        b, index = slot
        layer = population.layers[_block(model, population, b).nodes[index]]
        value = _pick(rng, [o for o in options if o != getattr(layer, field)])
        new = population.add_layer(replace(layer, **{field: value}))
        return _set_layer(model, population, slot, new)

    return act


def _swap_layer_targets(model: Model, population: RasPopulation) -> list[Target]:
    return _layer_slots(None)(model, population) if len(population.layers) > 1 else []


def _swap_layer(
    model: Model, population: RasPopulation, rng: np.random.Generator, slot: Target
) -> Model:
    b, index = slot
    current = _block(model, population, b).nodes[index]
    other = _pick(rng, [i for i in population.layers if i != current])
    return _set_layer(model, population, slot, other)


# --- block mutations ---------------------------------------------------------------------------


def _all_blocks(model: Model, population: RasPopulation) -> list[Target]:
    return list(range(len(model.nodes)))


def _add_layer(
    model: Model, population: RasPopulation, rng: np.random.Generator, b: Target
) -> Model:
    """A random member of the layer population joins the block (see ``Dag.inserted``)."""
    layer = _pick(rng, list(population.layers))
    return _with_block(model, population, b, _block(model, population, b).inserted(layer, rng))


def _remove_layer_targets(model: Model, population: RasPopulation) -> list[Target]:
    return [b for b in range(len(model.nodes)) if len(_block(model, population, b).nodes) > 1]


def _remove_layer(
    model: Model, population: RasPopulation, rng: np.random.Generator, b: Target
) -> Model:
    block = _block(model, population, b)
    return _with_block(model, population, b, block.removed(int(rng.integers(len(block.nodes)))))


def _edges(missing: bool) -> Callable[[Dag[int]], list[tuple[int, int]]]:
    return Dag.missing_edges if missing else lambda dag: list(dag.edges)


def _layer_edge_targets(missing: bool) -> Callable[[Model, RasPopulation], list[Target]]:
    """Targets: (block position, edge) for every edge a block could gain (or lose)."""

    def targets(model: Model, population: RasPopulation) -> list[Target]:
        return [
            (b, edge)
            for b in range(len(model.nodes))
            for edge in _edges(missing)(_block(model, population, b))
        ]

    return targets


def _toggled(dag: Dag[int], edge: tuple[int, int]) -> Dag[int]:
    """``dag`` with ``edge`` added when absent, removed when present."""
    edges = set(dag.edges) ^ {edge}
    return dag.with_edges(tuple(edges))


def _toggle_layer_edge(
    model: Model, population: RasPopulation, rng: np.random.Generator, target: Target
) -> Model:
    b, edge = target
    return _with_block(model, population, b, _toggled(_block(model, population, b), edge))


def _swap_block_targets(model: Model, population: RasPopulation) -> list[Target]:
    return _all_blocks(model, population) if len(population.blocks) > 1 else []


def _swap_block(
    model: Model, population: RasPopulation, rng: np.random.Generator, b: Target
) -> Model:
    return model.with_node(b, _pick(rng, [i for i in population.blocks if i != model.nodes[b]]))


# --- model mutations ---------------------------------------------------------------------------


def _add_block(
    model: Model, population: RasPopulation, rng: np.random.Generator, _: Target
) -> Model:
    """A random member of the block population joins the model (see ``Dag.inserted``)."""
    return model.inserted(_pick(rng, list(population.blocks)), rng)


def _remove_block_targets(model: Model, population: RasPopulation) -> list[Target]:
    return list(range(len(model.nodes))) if len(model.nodes) > 1 else []


def _remove_block(
    model: Model, population: RasPopulation, rng: np.random.Generator, b: Target
) -> Model:
    return model.removed(b)


def _model_edge_targets(missing: bool) -> Callable[[Model, RasPopulation], list[Target]]:
    return lambda model, population: _edges(missing)(model)


def _toggle_block_edge(
    model: Model, population: RasPopulation, rng: np.random.Generator, edge: Target
) -> Model:
    return _toggled(model, edge)


MUTATIONS: dict[str, Mutation] = {
    m.name: m
    for m in (
        Mutation("change_kernel", "layer", _layer_slots(Conv), _change("kernel", KERNELS)),
        Mutation("change_filters", "layer", _layer_slots(Conv), _change("filters", FILTERS)),
        Mutation("change_units", "layer", _layer_slots(Dense), _change("units", UNITS)),
        Mutation("swap_layer", "layer", _swap_layer_targets, _swap_layer),
        Mutation("add_layer", "block", _all_blocks, _add_layer),
        Mutation("remove_layer", "block", _remove_layer_targets, _remove_layer),
        Mutation("add_layer_connection", "block", _layer_edge_targets(True), _toggle_layer_edge),
        Mutation(
            "remove_layer_connection", "block", _layer_edge_targets(False), _toggle_layer_edge
        ),
        Mutation("swap_block", "block", _swap_block_targets, _swap_block),
        Mutation("add_block", "model", lambda model, population: [None], _add_block),
        Mutation("remove_block", "model", _remove_block_targets, _remove_block),
        Mutation("add_block_connection", "model", _model_edge_targets(True), _toggle_block_edge),
        Mutation(
            "remove_block_connection", "model", _model_edge_targets(False), _toggle_block_edge
        ),
    )
}
SWAPS = {"layer": "swap_layer", "block": "swap_block"}


Sizes = tuple[int, int]
"""(layers, blocks) of a population, as the caps see them."""


def sizes_of(population: RasPopulation) -> Sizes:
    """The population's (layers, blocks) now."""
    return len(population.layers), len(population.blocks)


def applicable(
    model: Model,
    population: RasPopulation,
    *,
    layer_cap: int = 100,
    block_cap: int = 100,
    sizes: Sizes | None = None,
) -> list[str]:
    """Names of the mutations that can act on ``model`` now, caps applied (in MUTATIONS order)
    to ``sizes`` (default: the population's current sizes)."""
    layers, blocks = sizes_of(population) if sizes is None else sizes
    over = {"layer": layers > layer_cap, "block": blocks > block_cap, "model": False}
    return [
        m.name
        for m in MUTATIONS.values()
        if (not over[m.level] or SWAPS[m.level] == m.name) and m.targets(model, population)
    ]


def apply_mutation(
    name: str, model: Model, population: RasPopulation, rng: np.random.Generator
) -> Model:
    """Apply mutation ``name`` at a random place of ``model``; ValueError if it has none."""
    mutation = MUTATIONS[name]
    targets = mutation.targets(model, population)
    if not targets:
        raise ValueError(f"mutation {name} cannot act on this model")
    return mutation.act(model, population, rng, targets[int(rng.integers(len(targets)))])


def mutate(
    model: Model,
    population: RasPopulation,
    rng: np.random.Generator,
    count: int = 5,
    *,
    layer_cap: int = 100,
    block_cap: int = 100,
    sizes: Sizes | None = None,
) -> tuple[Model, list[str]]:
    """A child of ``model`` after ``count`` random mutations, and their names in order;
    ``sizes``: what the caps are checked against (default: the population as it grows)."""
    names: list[str] = []
    for _ in range(count):
        options = applicable(
            model, population, layer_cap=layer_cap, block_cap=block_cap, sizes=sizes
        )
        name = options[int(rng.integers(len(options)))]
        model = apply_mutation(name, model, population, rng)
        names.append(name)
    return model, names
