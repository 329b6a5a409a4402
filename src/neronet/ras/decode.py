"""A resolved RAS model -> :class:`neronet.spec.NetworkSpec`, so ``neronet.nn.build`` trains it.

Every RAS layer becomes one node: a conv (``same`` padding, bias) or an fc,
then ReLU, then BatchNorm (paper, section 5.1). Wiring follows
:mod:`neronet.ras.dag`: a layer without in-block predecessors reads the block's
input, which is the output of the predecessor blocks (or the image for a block
without any), and a block's output is its sink layers. The logits node is an
fc with ``num_classes`` units over the sink layers of the sink blocks (the
softmax itself is in the loss).

Several inputs into one layer use the builder's merge (:mod:`neronet.nn.plan`):
into a conv, feature maps are max-pooled to the smallest height and width among
them and concatenated on channels; into an fc, everything is flattened and
concatenated. A conv -> dense connection therefore needs nothing extra.

Dense -> conv rule. A dense output of ``units`` values feeding a conv goes
through a ``reshape`` node first (one per dense layer, shared by all its conv
consumers) that views it as ``units / s**2`` channels of ``s x s``, where ``s``
is the largest side no larger than the image's smaller side with ``s**2``
dividing ``units``. The paper's unit counts are powers of two, so 64 units on
8x8 digits become 1x8x8, 512 units on 32x32 images 2x16x16; ``s = 1`` always
works, so every dense -> conv connection is buildable.

Rejection. With ``same`` padding a stride-2 conv maps a 1x1 map to 1x1, so
spatial sizes never collapse; what can still fail (an empty block or model, a
network over the parameter limit, e.g. a 512-unit dense after a 64-filter
32x32 map) raises :class:`neronet.errors.InvalidArchitecture` here, from the
whole network's plan, before any tensor is allocated.
"""

from __future__ import annotations

from neronet.errors import InvalidArchitecture
from neronet.limits import MAX_PARAMETERS
from neronet.ras.dag import Dag
from neronet.ras.genome import Conv, Dense, Layer
from neronet.spec import INPUT, LayerSpec, NetworkSpec, NodeSpec

RELU_BN = (LayerSpec("act", {"fn": "relu"}), LayerSpec("bn"))


def reshape_target(units: int, input_shape: tuple[int, int, int]) -> tuple[int, int, int]:
    """The ``(channels, side, side)`` map a dense output of ``units`` feeds a conv as."""
    limit = min(input_shape[1], input_shape[2])
    side = max(s for s in range(1, limit + 1) if units % (s * s) == 0)
    return units // (side * side), side, side


def _head(layer: Layer) -> LayerSpec:
    if isinstance(layer, Conv):
        params = {"filters": layer.filters, "kernel": layer.kernel, "stride": layer.stride}
        return LayerSpec("conv", {**params, "padding": "same", "bias": True})
    return LayerSpec("fc", {"units": layer.units, "bias": True})


class _Nodes:
    """The spec's node list under construction; remembers which nodes are dense outputs."""

    def __init__(self, input_shape: tuple[int, int, int]) -> None:
        self.input_shape = input_shape
        self.nodes: list[NodeSpec] = []
        self.dense_units: dict[int, int] = {}
        self.reshaped: dict[int, int] = {}

    def add(self, node: NodeSpec) -> int:
        self.nodes.append(node)
        return len(self.nodes) - 1

    def as_map(self, source: int, block: str) -> int:
        """``source`` as a feature map: itself, or its (shared) reshape node if it is dense."""
        if source not in self.dense_units:
            return source
        if source not in self.reshaped:
            channels, height, width = reshape_target(self.dense_units[source], self.input_shape)
            params = {"channels": channels, "height": height, "width": width}
            reshape = NodeSpec(block, (source,), (LayerSpec("reshape", params),), "reshape")
            self.reshaped[source] = self.add(reshape)
        return self.reshaped[source]

    def layer(self, layer: Layer, sources: tuple[int, ...], block: str) -> int:
        if isinstance(layer, Conv):
            sources = tuple(self.as_map(s, block) for s in sources)
        kind = "conv" if isinstance(layer, Conv) else "dense"
        index = self.add(NodeSpec(block, tuple(sorted(sources)), (_head(layer), *RELU_BN), kind))
        if isinstance(layer, Dense):
            self.dense_units[index] = layer.units
        return index


def to_network_spec(
    model: Dag[Dag[Layer]],
    input_shape: tuple[int, int, int],
    num_classes: int,
    max_parameters: int = MAX_PARAMETERS,
) -> NetworkSpec:
    """The checked NetworkSpec of ``model``; InvalidArchitecture, with why, if unbuildable."""
    # imported here: neronet.nn's package imports torch, and the search process (which
    # decodes candidates through RasGenotype) must stay torch-free
    from neronet.nn import check_size

    if not model.nodes:
        raise InvalidArchitecture("the RAS model has no blocks")
    nodes = _Nodes(input_shape)
    outputs: list[tuple[int, ...]] = []  # per block: the nodes of its sink layers
    for b, block in enumerate(model.nodes):
        if not block.nodes:
            raise InvalidArchitecture(f"block {b} of the RAS model has no layers")
        feeding = model.predecessors(b)
        block_input = tuple(n for p in feeding for n in outputs[p]) if feeding else (INPUT,)
        layers: list[int] = []
        for index, layer in enumerate(block.nodes):
            inner = block.predecessors(index)
            sources = tuple(layers[i] for i in inner) if inner else block_input
            layers.append(nodes.layer(layer, sources, f"block-{b}"))
        outputs.append(tuple(layers[i] for i in block.sinks()))
    last = tuple(sorted(n for b in model.sinks() for n in outputs[b]))
    nodes.add(NodeSpec("softmax", last, (LayerSpec("fc", {"units": num_classes, "bias": True}),)))
    spec = NetworkSpec(input_shape=input_shape, num_classes=num_classes, nodes=tuple(nodes.nodes))
    check_size(spec, max_parameters)
    return spec
