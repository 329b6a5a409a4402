"""Whole-network planning: wiring checks, merges, shapes, parameters, FLOPs.

:func:`plan_network` walks the spec once, in node order, and decides every
module and shape; :func:`infer_shapes`, :func:`count_parameters` and
:func:`estimate_flops` read the plan, and the builder and exporter turn it
into modules, so the numbers reported always describe the module built.

Merge rule for a node with several inputs: when the node starts with an fc or
any input is already flat, every input is flattened and the results are
concatenated; otherwise all inputs are max-pooled down to the smallest height
and width among them (a plain ``kernel = stride = ratio`` max pool when the
sizes divide, adaptive max pooling when they do not) and concatenated on
channels, DenseNet style. A node whose ``merge`` is ``"sum"`` adapts its inputs the
same way, then appends zero channels (features) to each up to the widest and adds
them: a residual join that never fails on a width mismatch (ResNet's zero-padded
shortcut, "option A").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from neronet.errors import InvalidArchitecture
from neronet.limits import MAX_PARAMETERS
from neronet.nn.calls import Call, call
from neronet.nn.layers import Shape, plan_layer
from neronet.spec import INPUT, MERGES, NetworkSpec, NodeSpec

IDENTITY = call("Identity")


@dataclass(frozen=True)
class NodePlan:
    """One node: where its inputs come from, how they merge, its layers, its cost."""

    sources: tuple[int, ...]
    adapters: tuple[Call, ...]  # one per source, applied before concatenation
    layers: tuple[Call, ...]
    shape: Shape
    params: int
    macs: int
    pads: tuple[int, ...] | None = None  # a sum merge: zero channels appended per source


def _shrink(shape: Shape, height: int, width: int) -> Call:
    """The adapter max-pooling a (C, H, W) input down to ``height x width``."""
    _, h, w = shape
    if (h, w) == (height, width):
        return IDENTITY
    if h % height == 0 and w % width == 0:
        return call("MaxPool2d", kernel_size=(h // height, w // width))
    return call("AdaptiveMaxPool2d", output_size=(height, width))


def _merge(shapes: list[Shape], flatten: bool) -> tuple[Shape, tuple[Call, ...]]:
    """The merged input shape of a node and the adapter of each of its inputs."""
    if len(shapes) == 1:
        return shapes[0], (IDENTITY,)
    if flatten or any(len(shape) == 1 for shape in shapes):
        adapters = tuple(IDENTITY if len(s) == 1 else call("Flatten") for s in shapes)
        return (sum(math.prod(s) for s in shapes),), adapters
    height = min(s[1] for s in shapes)
    width = min(s[2] for s in shapes)
    channels = sum(s[0] for s in shapes)
    return (channels, height, width), tuple(_shrink(s, height, width) for s in shapes)


def _sum_merge(
    shapes: list[Shape], flatten: bool
) -> tuple[Shape, tuple[Call, ...], tuple[int, ...]]:
    """A sum merge: the concat merge's adapters, then zero padding up to the widest."""
    _, adapters = _merge(shapes, flatten)
    if len(shapes) == 1:
        return shapes[0], adapters, (0,)
    if flatten or any(len(shape) == 1 for shape in shapes):
        widths = [math.prod(s) for s in shapes]
        merged: Shape = (max(widths),)
    else:
        widths = [s[0] for s in shapes]
        merged = (max(widths), min(s[1] for s in shapes), min(s[2] for s in shapes))
    return merged, adapters, tuple(merged[0] - w for w in widths)


def _check_inputs(node: NodeSpec, index: int) -> None:
    where = f"node {index}"
    if not node.inputs:
        raise InvalidArchitecture(f"{where} has no inputs; give it at least one (-1 = image)")
    for source in node.inputs:
        if not INPUT <= source < index:
            raise InvalidArchitecture(
                f"{where}: input {source} is not an earlier node (valid: -1..{index - 1}); "
                "nodes must be in topological order"
            )
    if len(set(node.inputs)) != len(node.inputs):
        raise InvalidArchitecture(f"{where} lists the same input twice: {node.inputs}")
    if node.merge not in MERGES:
        raise InvalidArchitecture(f"{where}: merge {node.merge!r} must be one of {MERGES}")


def _check_header(spec: NetworkSpec) -> None:
    if len(spec.input_shape) != 3 or any(s < 1 for s in spec.input_shape):
        raise InvalidArchitecture(f"input shape {spec.input_shape} must be (C, H, W), all >= 1")
    if spec.num_classes < 1:
        raise InvalidArchitecture(f"num_classes {spec.num_classes} must be >= 1")
    if not spec.nodes:
        raise InvalidArchitecture("the network has no nodes; it needs at least the output fc")


def _plan_node(node: NodeSpec, index: int, shapes: list[Shape]) -> NodePlan:
    _check_inputs(node, index)
    flatten = bool(node.layers) and node.layers[0].kind == "fc"
    inputs = [shapes[s - INPUT] for s in node.inputs]
    pads = None
    if node.merge == "sum":
        shape, adapters, pads = _sum_merge(inputs, flatten)
    else:
        shape, adapters = _merge(inputs, flatten)
    calls: list[Call] = []
    params = macs = 0
    for position, layer in enumerate(node.layers):
        step = plan_layer(layer, shape, f"node {index} layer {position} ({layer.kind})")
        shape = step.shape
        calls.extend(step.calls)
        params += step.params
        macs += step.macs
    return NodePlan(node.inputs, adapters, tuple(calls), shape, params, macs, pads)


def plan_network(spec: NetworkSpec) -> tuple[NodePlan, ...]:
    """Plan every node; raise :class:`InvalidArchitecture` on the first problem."""
    _check_header(spec)
    shapes: list[Shape] = [tuple(spec.input_shape)]  # shapes[i + 1] = output of node i
    plans: list[NodePlan] = []
    for index, node in enumerate(spec.nodes):
        plan = _plan_node(node, index, shapes)
        plans.append(plan)
        shapes.append(plan.shape)
    if plans[-1].shape != (spec.num_classes,):
        raise InvalidArchitecture(
            f"the last node outputs {plans[-1].shape}, not ({spec.num_classes},) logits; "
            f"end the network with an fc of {spec.num_classes} units"
        )
    return tuple(plans)


def infer_shapes(spec: NetworkSpec) -> list[tuple[int, ...]]:
    """Output shape of every node, batch excluded: ``(C, H, W)`` or ``(F,)``."""
    return [plan.shape for plan in plan_network(spec)]


def count_parameters(spec: NetworkSpec) -> int:
    """Trainable parameters of ``build(spec)`` (BN running statistics excluded)."""
    return sum(plan.params for plan in plan_network(spec))


def check_plans_size(plans: tuple[NodePlan, ...], max_parameters: int) -> None:
    """Raise :class:`InvalidArchitecture` when the planned network is over the cap."""
    params = sum(plan.params for plan in plans)
    if params > max_parameters:
        raise InvalidArchitecture(
            f"{params:,} parameters, more than the limit of {max_parameters:,} "
            "(training.max_parameters); narrow the grammar's filter and unit ranges"
        )


def check_size(spec: NetworkSpec, max_parameters: int = MAX_PARAMETERS) -> None:
    """Reject ``spec`` when it has more than ``max_parameters`` trainable parameters.

    Counting plans the network without allocating a tensor, so a grammar range
    that allows a 3.6e11-parameter network fails here, with the count as the
    reason, instead of in the allocator.
    """
    check_plans_size(plan_network(spec), max_parameters)


def estimate_flops(spec: NetworkSpec) -> int:
    """Multiply-accumulates per image of the conv and fc layers.

    A conv costs ``H_out * W_out * C_out * C_in * k * k``, an fc ``in * out``;
    biases, BN, activations, pooling and merges are ignored (they are cheap
    next to those and memory-bound, not compute-bound).
    """
    return sum(plan.macs for plan in plan_network(spec))
