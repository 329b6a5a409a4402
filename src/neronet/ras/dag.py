"""The small DAG both RAS levels use: a block is a DAG of layers, a model a DAG of blocks.

Nodes are kept in topological order, so an edge ``(i, j)`` always has ``i < j``
and no edit can create a cycle. Edges are stored sorted, so two equal graphs
compare (and serialise) equal. The wiring rule that makes every graph usable,
whatever edges mutations removed: a node without incoming edges reads the
graph's input, and the graph's output joins every node without outgoing edges
(its *sinks*). No node is ever dead, so edge edits never need a repair step.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Generic, TypeVar

import numpy as np

T = TypeVar("T")
Edge = tuple[int, int]


@dataclass(frozen=True)
class Dag(Generic[T]):
    """Nodes in topological order and the forward edges ``(i, j)``, ``i < j``, between them."""

    nodes: tuple[T, ...]
    edges: tuple[Edge, ...] = ()

    def __post_init__(self) -> None:
        edges = tuple(sorted(set(self.edges)))
        for i, j in edges:
            if not 0 <= i < j < len(self.nodes):
                raise ValueError(f"edge ({i}, {j}) is not forward within {len(self.nodes)} nodes")
        object.__setattr__(self, "edges", edges)

    def predecessors(self, j: int) -> tuple[int, ...]:
        return tuple(i for i, k in self.edges if k == j)

    def sinks(self) -> tuple[int, ...]:
        """Nodes without outgoing edges: together they are the graph's output."""
        starts = {i for i, _ in self.edges}
        return tuple(i for i in range(len(self.nodes)) if i not in starts)

    def missing_edges(self) -> list[Edge]:
        """Forward edges that could still be added."""
        present = set(self.edges)
        size = len(self.nodes)
        return [(i, j) for i in range(size) for j in range(i + 1, size) if (i, j) not in present]

    def with_node(self, position: int, node: T) -> Dag[T]:
        """The graph with the node at ``position`` replaced by ``node`` (same wiring)."""
        nodes = list(self.nodes)
        nodes[position] = node
        return replace(self, nodes=tuple(nodes))

    def inserted(self, node: T, rng: np.random.Generator) -> Dag[T]:
        """``node`` inserted at a random position, fed by a random earlier node (if any)
        and feeding a random later one (if any), so it joins the existing wiring
        instead of floating beside it."""
        position = int(rng.integers(len(self.nodes) + 1))

        def shift(index: int) -> int:
            return index + 1 if index >= position else index

        edges = [(shift(i), shift(j)) for i, j in self.edges]
        if position > 0:
            edges.append((int(rng.integers(position)), position))
        if position < len(self.nodes):
            edges.append((position, int(rng.integers(position + 1, len(self.nodes) + 1))))
        nodes = (*self.nodes[:position], node, *self.nodes[position:])
        return Dag(nodes, tuple(edges))

    def removed(self, position: int) -> Dag[T]:
        """The graph without the node at ``position``; each of its predecessors is
        bridged to each of its successors, so paths through it survive."""
        before = self.predecessors(position)
        after = [j for i, j in self.edges if i == position]
        kept = [(i, j) for i, j in self.edges if position not in (i, j)]
        bridges = [(i, j) for i in before for j in after]

        def shift(index: int) -> int:
            return index - 1 if index > position else index

        nodes = self.nodes[:position] + self.nodes[position + 1 :]
        return Dag(nodes, tuple((shift(i), shift(j)) for i, j in kept + bridges))

    def with_edges(self, edges: tuple[Edge, ...]) -> Dag[T]:
        return replace(self, edges=edges)
