"""NetworkSpec and LearningSpec: the phenotype, as plain JSON-able data.

A genotype (grammar derivations + connections) is mapped to a NetworkSpec, a DAG
of nodes, each node a short sequential list of primitive layers. The builder in
:mod:`neronet.nn` turns a spec into an ``nn.Module``; the search caches results
by :meth:`NetworkSpec.digest`, which depends only on the architecture (node
order, layers, resolved parameters, wiring by position), never on unit ids.

Primitive layer vocabulary (``LayerSpec.kind`` -> ``params``):

* ``conv``: ``filters`` int, ``kernel`` int, ``stride`` int, ``padding`` "same"|"valid",
  ``bias`` bool
* ``bn``: no params (BatchNorm over channels, or over features after an fc)
* ``act``: ``fn`` one of ``ACTIVATIONS``
* ``pool``: ``op`` "max"|"avg", ``kernel`` int, ``stride`` int, ``padding`` "same"|"valid"
* ``gpool``: ``op`` "max"|"avg" (global pooling to C x 1 x 1)
* ``dropout``: ``rate`` float in [0, 1)
* ``fc``: ``units`` int, ``bias`` bool (a 4-D input is flattened first)
* ``reshape``: ``channels``, ``height``, ``width`` ints; views the input (flat or
  ``(C, H, W)``) as a ``channels x height x width`` feature map of the same size, so
  a spatial layer can follow an fc (RAS connects dense layers into convolutions)

Node inputs are node indices; ``INPUT`` (-1) is the network input. Nodes are in
topological order and the last node's output is the logits. A node with several
inputs concatenates them (``merge: "concat"``, the default) or adds them
(``merge: "sum"``, EvoDENSS's ``relu_agg`` residual join; see :mod:`neronet.nn.plan`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

ParamValue = int | float | str | bool

INPUT = -1
LAYER_KINDS = ("conv", "bn", "act", "pool", "gpool", "dropout", "fc", "reshape")
ACTIVATIONS = ("relu", "silu", "linear", "sigmoid", "tanh", "elu", "gelu")
MERGES = ("concat", "sum")


@dataclass(frozen=True)
class LayerSpec:
    """One primitive layer with fully resolved parameters."""

    kind: str
    params: dict[str, ParamValue] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "params": dict(sorted(self.params.items()))}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LayerSpec:
        return cls(kind=str(data["kind"]), params=dict(data.get("params", {})))


@dataclass(frozen=True)
class NodeSpec:
    """A unit of the network: its block name, inputs and sequential layers.

    ``block`` is descriptive (e.g. "macro-node", "transition-block", "fc",
    "softmax"); the builder only looks at ``layers`` and ``inputs``.
    """

    block: str
    inputs: tuple[int, ...]
    layers: tuple[LayerSpec, ...]
    module: str = ""
    merge: str = "concat"

    def to_dict(self) -> dict[str, Any]:
        return {
            "block": self.block,
            "module": self.module,
            "inputs": list(self.inputs),
            "layers": [layer.to_dict() for layer in self.layers],
        } | self._merge_entry()

    def _merge_entry(self) -> dict[str, str]:
        """``{"merge": ...}`` only for a non-default merge, so every existing spec (and
        its digest) reads as before."""
        return {} if self.merge == "concat" else {"merge": self.merge}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NodeSpec:
        return cls(
            block=str(data["block"]),
            module=str(data.get("module", "")),
            inputs=tuple(int(i) for i in data["inputs"]),
            layers=tuple(LayerSpec.from_dict(layer) for layer in data["layers"]),
            merge=str(data.get("merge", "concat")),
        )


@dataclass(frozen=True)
class NetworkSpec:
    """A network architecture as a DAG of nodes; the last node emits logits."""

    input_shape: tuple[int, int, int]
    num_classes: int
    nodes: tuple[NodeSpec, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
            "nodes": [node.to_dict() for node in self.nodes],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NetworkSpec:
        shape = tuple(int(s) for s in data["input_shape"])
        if len(shape) != 3:
            raise ValueError(f"input_shape must be (C, H, W), got {shape}")
        return cls(
            input_shape=(shape[0], shape[1], shape[2]),
            num_classes=int(data["num_classes"]),
            nodes=tuple(NodeSpec.from_dict(n) for n in data["nodes"]),
        )

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> NetworkSpec:
        return cls.from_dict(json.loads(text))

    def digest(self) -> str:
        """Canonical hash of the architecture (block names and modules excluded)."""
        canonical = {
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
            "nodes": [
                {"inputs": sorted(n.inputs), "layers": [la.to_dict() for la in n.layers]}
                | n._merge_entry()
                for n in self.nodes
            ],
        }
        text = json.dumps(canonical, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


OPTIMIZERS = ("sgd", "adam", "nadam", "rmsprop", "lars")
OPTIMIZER_FIELDS: dict[str, tuple[str, ...]] = {
    "sgd": ("momentum", "nesterov"),
    "adam": ("beta1", "beta2"),
    "nadam": ("beta1", "beta2"),
    "rmsprop": ("rho", "momentum"),
    "lars": ("momentum", "lr_biases"),
}
"""The LearningSpec fields each optimizer reads (see ``training.make_optimizer``); every
learning unit carries all of them, so summaries show only the chosen optimizer's."""


@dataclass(frozen=True)
class LearningSpec:
    """Training hyper-parameters decoded from the genotype's learning unit.

    ``lr`` decays inverse-time per optimisation step: ``lr / (1 + decay * step)``.
    ``early_stop`` is the patience in epochs on the control set; an epoch resets it
    only when control accuracy rises by more than ``min_delta`` (RAS: 0.001).
    ``train_subset``: train on this many images of the training split, drawn with
    the individual's seed (RAS's cheap generations); None: all of them.

    Evolved by Fast-DENSER / EvoDENSS grammars, None when the grammar does not
    write them: ``epochs`` replaces ``training.max_epochs`` for this individual,
    ``weight_decay`` replaces ``training.weight_decay`` (neronet's L2 on conv and fc
    kernels), ``lr_biases`` is LARS's learning rate of biases and BatchNorm (``lr``
    being its ``lr_weights``). The optional fields appear in ``to_dict`` (and so in
    the digest and the stored record) only when set, so every existing learning
    digest stays what it was.

    Set by a fixed recipe (RAS's ``ras.training``): ``augment`` replaces
    ``training.augment`` when not None; ``restore_best`` False keeps the last epoch's
    weights instead of the best-on-control ones (as Keras' EarlyStopping does unless
    told otherwise).
    """

    optimizer: str = "sgd"
    lr: float = 0.01
    decay: float = 1e-4
    momentum: float = 0.9
    nesterov: bool = False
    beta1: float = 0.9
    beta2: float = 0.999
    rho: float = 0.9
    batch_size: int = 128
    early_stop: int = 5
    min_delta: float = 0.0
    train_subset: int | None = None
    epochs: int | None = None
    weight_decay: float | None = None
    lr_biases: float | None = None
    augment: bool | None = None
    restore_best: bool = True

    def to_dict(self) -> dict[str, Any]:
        optional = {
            "min_delta": self.min_delta,
            "train_subset": self.train_subset,
            "epochs": self.epochs,
            "weight_decay": self.weight_decay,
            "lr_biases": self.lr_biases,
            "augment": self.augment,
            "restore_best": self.restore_best,
        }
        return {
            "optimizer": self.optimizer,
            "lr": self.lr,
            "decay": self.decay,
            "momentum": self.momentum,
            "nesterov": self.nesterov,
            "beta1": self.beta1,
            "beta2": self.beta2,
            "rho": self.rho,
            "batch_size": self.batch_size,
            "early_stop": self.early_stop,
        } | {k: v for k, v in optional.items() if v != getattr(LearningSpec, k)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LearningSpec:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})

    def digest(self) -> str:
        text = json.dumps(self.to_dict(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]
