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

Per-pixel dense (``ras.dense: per_pixel``, the authors' Keras code, where
``Dense`` acts on the last axis): a dense layer on a feature map is a 1x1 conv
of ``units`` filters (stride 1, bias), the same parameters as Keras' per-pixel
Dense, so it keeps the map and no reshape is ever needed; several inputs merge
as into a conv. ``ras.head: gpool`` (the authors' code) average-pools the sink
layers globally before the logits fc instead of flattening them.

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


DENSE_MODES = ("flatten", "per_pixel")
HEADS = ("flatten", "gpool")


def _conv(filters: int, kernel: int, stride: int) -> LayerSpec:
    params = {"filters": filters, "kernel": kernel, "stride": stride}
    return LayerSpec("conv", {**params, "padding": "same", "bias": True})


def _head(layer: Layer, per_pixel: bool) -> LayerSpec:
    if isinstance(layer, Conv):
        return _conv(layer.filters, layer.kernel, layer.stride)
    if per_pixel:
        return _conv(layer.units, 1, 1)
    return LayerSpec("fc", {"units": layer.units, "bias": True})


class _Nodes:
    """The spec's node list under construction; remembers which nodes are flat dense
    outputs (none when dense layers act per pixel)."""

    def __init__(self, input_shape: tuple[int, int, int], per_pixel: bool) -> None:
        self.input_shape = input_shape
        self.per_pixel = per_pixel
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
        head = _head(layer, self.per_pixel)
        index = self.add(NodeSpec(block, tuple(sorted(sources)), (head, *RELU_BN), kind))
        if isinstance(layer, Dense) and not self.per_pixel:
            self.dense_units[index] = layer.units
        return index


def to_network_spec(
    model: Dag[Dag[Layer]],
    input_shape: tuple[int, int, int],
    num_classes: int,
    max_parameters: int = MAX_PARAMETERS,
    *,
    dense: str = "flatten",
    head: str = "flatten",
) -> NetworkSpec:
    """The checked NetworkSpec of ``model``; InvalidArchitecture, with why, if unbuildable.
    ``dense`` and ``head`` are ``ras.dense`` and ``ras.head`` (module docstring)."""
    # imported here: neronet.nn's package imports torch, and the search process (which
    # decodes candidates through RasGenotype) must stay torch-free
    from neronet.nn import check_size

    if dense not in DENSE_MODES or head not in HEADS:
        raise ValueError(f"ras dense {dense!r} / head {head!r}: not one of {DENSE_MODES} / {HEADS}")
    if not model.nodes:
        raise InvalidArchitecture("the RAS model has no blocks")
    nodes = _Nodes(input_shape, dense == "per_pixel")
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
    if head == "gpool":  # a flat dense output is pooled as the map a conv would see
        last = tuple(sorted(nodes.as_map(n, "softmax") for n in last))
    pool = (LayerSpec("gpool", {"op": "avg"}),) if head == "gpool" else ()
    logits = LayerSpec("fc", {"units": num_classes, "bias": True})
    nodes.add(NodeSpec("softmax", last, (*pool, logits)))
    spec = NetworkSpec(input_shape=input_shape, num_classes=num_classes, nodes=tuple(nodes.nodes))
    check_size(spec, max_parameters)
    return spec
