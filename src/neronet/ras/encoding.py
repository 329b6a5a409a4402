"""RasGenotype: one RAS candidate, resolved and self-contained, as the search stores it.

A model in the population is ids into shared layer and block populations that
pruning later empties, so a candidate is recorded by value: its blocks with
their layers, both DAGs' connections, the training budget and the fixed
training hyper-parameters. The search runner needs only :meth:`to_json`,
:attr:`train_time` and :meth:`decode`.

Training hyper-parameters. The paper fixes training (no evolved learning
unit); each candidate carries the LearningSpec of the run's ``ras.training``
recipe (:class:`~neronet.search.ras_settings.RasTraining`), whose defaults are
:data:`RAS_LEARNING`. Dense semantics (``ras.dense``) and the head before the
logits (``ras.head``) are part of the genotype too, so every reader of a stored
candidate (``neronet train``, export) builds the network the search trained.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from neronet.ras.dag import Dag
from neronet.ras.decode import to_network_spec
from neronet.ras.genome import Conv, Dense, Layer, Model, RasPopulation
from neronet.ras.spectrum import FEATURES, spectrum
from neronet.search.ras_settings import RasTraining
from neronet.spec import LearningSpec, NetworkSpec

RAS_LEARNING = RasTraining().learning()
"""A candidate's training under the default ``ras.training`` recipe."""
FLATTEN = "flatten"
"""``ras.dense`` and ``ras.head``'s default, left out of the stored genotype."""
_KINDS: dict[str, type[Conv] | type[Dense]] = {"conv": Conv, "dense": Dense}


def _layer_to_dict(layer: Layer) -> dict[str, Any]:
    return {"kind": "conv" if isinstance(layer, Conv) else "dense", **asdict(layer)}


def _layer_from_dict(data: dict[str, Any]) -> Layer:
    fields = dict(data)
    kind = _KINDS.get(fields.pop("kind", None))
    if kind is None:
        raise ValueError(f"RAS layer {data} needs kind 'conv' or 'dense'")
    return kind(**{name: int(value) for name, value in fields.items()})


def _edges(data: list[list[int]]) -> tuple[tuple[int, int], ...]:
    return tuple((int(i), int(j)) for i, j in data)


@dataclass(frozen=True)
class RasGenotype:
    """The architecture of one candidate by value, with its training budget and recipe."""

    model: Dag[Dag[Layer]]
    train_time: float
    learning: LearningSpec = RAS_LEARNING
    dense: str = FLATTEN
    head: str = FLATTEN

    @classmethod
    def resolve(
        cls,
        model: Model,
        population: RasPopulation,
        train_time: float,
        learning: LearningSpec = RAS_LEARNING,
        dense: str = FLATTEN,
        head: str = FLATTEN,
    ) -> RasGenotype:
        """``model``'s ids looked up in ``population``, frozen into a genotype."""
        blocks = tuple(population.blocks[b] for b in model.nodes)
        resolved = tuple(
            Dag(tuple(population.layers[i] for i in block.nodes), block.edges) for block in blocks
        )
        return cls(Dag(resolved, model.edges), train_time, learning, dense, head)

    def population_of(self) -> tuple[RasPopulation, Model]:
        """The inverse of :meth:`resolve`: a population holding this model's layers and
        blocks (each distinct one once, in order of first use) and the model over it."""
        population = RasPopulation()
        layers: dict[Layer, int] = {}
        blocks: dict[Dag[int], int] = {}
        nodes = []
        for block in self.model.nodes:
            for layer in block.nodes:
                if layer not in layers:
                    layers[layer] = population.add_layer(layer)
            ids = Dag(tuple(layers[layer] for layer in block.nodes), block.edges)
            if ids not in blocks:
                blocks[ids] = population.add_block(ids)
            nodes.append(blocks[ids])
        return population, Dag(tuple(nodes), self.model.edges)

    def to_dict(self) -> dict[str, Any]:
        blocks = [
            {"layers": [_layer_to_dict(la) for la in b.nodes], "edges": [list(e) for e in b.edges]}
            for b in self.model.nodes
        ]
        return {
            "blocks": blocks,
            "edges": [list(e) for e in self.model.edges],
            "train_time": self.train_time,
            "learning": self.learning.to_dict(),
        } | {k: v for k, v in (("dense", self.dense), ("head", self.head)) if v != FLATTEN}

    def to_json(self) -> str:
        """Canonical JSON (sorted keys, compact): equal genotypes give equal text."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> RasGenotype:
        data = json.loads(text)
        blocks = tuple(
            Dag(tuple(_layer_from_dict(la) for la in b["layers"]), _edges(b["edges"]))
            for b in data["blocks"]
        )
        learning = LearningSpec.from_dict(data["learning"])
        return cls(
            Dag(blocks, _edges(data["edges"])),
            float(data["train_time"]),
            learning,
            str(data.get("dense", FLATTEN)),
            str(data.get("head", FLATTEN)),
        )

    def decode(
        self, input_shape: tuple[int, int, int], num_classes: int
    ) -> tuple[NetworkSpec, LearningSpec]:
        """The network and training recipe; InvalidArchitecture if it cannot be built."""
        spec = to_network_spec(
            self.model, input_shape, num_classes, dense=self.dense, head=self.head
        )
        return spec, self.learning

    def stats(self) -> dict[str, Any]:
        """Counts for reports: size per block, connections, and the spectrum by feature name."""
        return {
            "blocks": len(self.model.nodes),
            "layers": sum(len(b.nodes) for b in self.model.nodes),
            "layers_per_block": [len(b.nodes) for b in self.model.nodes],
            "connections_per_block": [len(b.edges) for b in self.model.nodes],
            "block_connections": len(self.model.edges),
            "spectrum": dict(zip(FEATURES, self.spectrum(), strict=True)),
        }

    def spectrum(self) -> tuple[int, ...]:
        """The niching spectrum (:func:`neronet.ras.spectrum.spectrum`) of this model."""
        return spectrum(self.model)
