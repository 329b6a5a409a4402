"""Primitive layers: parameter validation, output shape, modules, cost.

Each layer kind of :mod:`neronet.spec` maps an input shape (``(C, H, W)`` or
``(F,)``, batch excluded) to a :class:`LayerPlan`. Everything is decided here,
from the spec alone, so a bad layer raises :class:`InvalidArchitecture` before
any tensor is allocated.

Padding rule. ``"valid"`` means no padding and needs a kernel no larger than
the input. ``"same"`` means the output has ``ceil(size / stride)`` pixels per
side (the TensorFlow/Keras rule, so a stride-2 layer halves 32 to 16 whatever
the kernel): with stride > 1 the padding is ``ceil(total / 2)`` on each side
(the extra row it may add is never reached by a window); with stride 1 and an
even kernel the ``kernel - 1`` padding rows cannot be split evenly, so an
explicit pad layer puts the extra one at the bottom/right. Padding is zeros for
conv and average pooling (zeros count in the average, PyTorch's default) and
``-inf`` for max pooling, so a window always holds at least one real pixel.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from neronet.errors import InvalidArchitecture
from neronet.nn.calls import Call, call
from neronet.spec import ACTIVATIONS, LayerSpec, ParamValue

Shape = tuple[int, ...]

PADDINGS = ("same", "valid")
POOL_OPS = ("max", "avg")
ACTIVATION_MODULES = {
    "relu": "ReLU",
    "silu": "SiLU",
    "linear": "Identity",
    "sigmoid": "Sigmoid",
    "tanh": "Tanh",
    "elu": "ELU",
    "gelu": "GELU",
}
assert set(ACTIVATION_MODULES) == set(ACTIVATIONS), "keep in step with neronet.spec"


@dataclass(frozen=True)
class LayerPlan:
    """What one layer does to a shape, the modules it becomes, and its cost."""

    shape: Shape
    calls: tuple[Call, ...]
    params: int = 0
    macs: int = 0


@dataclass(frozen=True)
class Param:
    """A parameter's validity test and how to describe a valid value."""

    valid: Callable[[ParamValue], bool]
    expect: str


def _is_int(value: ParamValue) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


POSITIVE = Param(lambda v: _is_int(v) and int(v) >= 1, "an int >= 1")
BOOL = Param(lambda v: isinstance(v, bool), "a bool")
RATE = Param(
    lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v < 1,
    "a number in [0, 1)",
)


def _choice(options: tuple[str, ...]) -> Param:
    return Param(lambda v: v in options, "one of " + "|".join(options))


SCHEMA: dict[str, dict[str, Param]] = {
    "conv": {
        "filters": POSITIVE,
        "kernel": POSITIVE,
        "stride": POSITIVE,
        "padding": _choice(PADDINGS),
        "bias": BOOL,
    },
    "bn": {},
    "act": {"fn": _choice(ACTIVATIONS)},
    "pool": {
        "op": _choice(POOL_OPS),
        "kernel": POSITIVE,
        "stride": POSITIVE,
        "padding": _choice(PADDINGS),
    },
    "gpool": {"op": _choice(POOL_OPS)},
    "dropout": {"rate": RATE},
    "fc": {"units": POSITIVE, "bias": BOOL},
    "reshape": {"channels": POSITIVE, "height": POSITIVE, "width": POSITIVE},
}


def check_params(layer: LayerSpec, where: str) -> None:
    """Reject an unknown kind and unknown, missing or out-of-range parameters."""
    schema = SCHEMA.get(layer.kind)
    if schema is None:
        raise InvalidArchitecture(
            f"{where}: unknown layer kind {layer.kind!r}; use one of {', '.join(SCHEMA)}"
        )
    unknown = sorted(set(layer.params) - set(schema))
    if unknown:
        raise InvalidArchitecture(
            f"{where}: unknown parameter(s) {', '.join(unknown)} for {layer.kind}; "
            f"expected {', '.join(schema) or 'none'}"
        )
    for name, param in schema.items():
        if name not in layer.params:
            raise InvalidArchitecture(f"{where}: missing parameter {name} ({param.expect})")
        value = layer.params[name]
        if not param.valid(value):
            raise InvalidArchitecture(f"{where}: {name}={value!r} must be {param.expect}")


def _spatial(shape: Shape, kind: str, where: str) -> tuple[int, int, int]:
    if len(shape) != 3:
        raise InvalidArchitecture(
            f"{where}: {kind} needs a (C, H, W) input but gets {shape} (after an fc); "
            "spatial layers must come before the first fc"
        )
    return shape[0], shape[1], shape[2]


def _pad_1d(size: int, kernel: int, stride: int, padding: str, where: str) -> tuple[int, int]:
    """(before, after) padding along one axis; see the module docstring."""
    if padding == "valid":
        if kernel > size:
            raise InvalidArchitecture(
                f"{where}: kernel {kernel} is larger than the input size {size} with valid "
                "padding, so the spatial size would collapse below 1x1"
            )
        return 0, 0
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    if stride > 1:
        return (total + 1) // 2, (total + 1) // 2
    return total // 2, total - total // 2


@dataclass(frozen=True)
class Window:
    """Geometry of a sliding-window layer on a known input."""

    out_hw: tuple[int, int]
    padding: tuple[int, int]  # symmetric (H, W) padding given to the layer itself
    pad: Call | None  # explicit asymmetric pad layer placed before it, if needed


def _window(
    hw: tuple[int, int], kernel: int, stride: int, padding: str, fill: float, where: str
) -> Window:
    pads = [_pad_1d(size, kernel, stride, padding, where) for size in hw]
    (top, bottom), (left, right) = pads
    out_hw = (
        (hw[0] + top + bottom - kernel) // stride + 1,
        (hw[1] + left + right - kernel) // stride + 1,
    )
    if top == bottom and left == right:
        return Window(out_hw, (top, left), None)
    explicit = call("ConstantPad2d", padding=(left, right, top, bottom), value=fill)
    return Window(out_hw, (0, 0), explicit)


def _conv(p: dict[str, ParamValue], shape: Shape, where: str) -> LayerPlan:
    channels, height, width = _spatial(shape, "conv", where)
    filters, kernel, stride = int(p["filters"]), int(p["kernel"]), int(p["stride"])
    win = _window((height, width), kernel, stride, str(p["padding"]), 0.0, where)
    conv = call(
        "Conv2d",
        in_channels=channels,
        out_channels=filters,
        kernel_size=kernel,
        stride=stride,
        padding=win.padding,
        bias=bool(p["bias"]),
    )
    weights = filters * channels * kernel * kernel
    out_h, out_w = win.out_hw
    return LayerPlan(
        shape=(filters, out_h, out_w),
        calls=(conv,) if win.pad is None else (win.pad, conv),
        params=weights + (filters if p["bias"] else 0),
        macs=weights * out_h * out_w,
    )


def _pool(p: dict[str, ParamValue], shape: Shape, where: str) -> LayerPlan:
    channels, height, width = _spatial(shape, "pool", where)
    kernel, stride = int(p["kernel"]), int(p["stride"])
    fill = float("-inf") if p["op"] == "max" else 0.0
    win = _window((height, width), kernel, stride, str(p["padding"]), fill, where)
    name = "MaxPool2d" if p["op"] == "max" else "AvgPool2d"
    pool = call(name, kernel_size=kernel, stride=stride, padding=win.padding)
    return LayerPlan(
        shape=(channels, *win.out_hw), calls=(pool,) if win.pad is None else (win.pad, pool)
    )


def _gpool(p: dict[str, ParamValue], shape: Shape, where: str) -> LayerPlan:
    channels, _, _ = _spatial(shape, "gpool", where)
    name = "AdaptiveMaxPool2d" if p["op"] == "max" else "AdaptiveAvgPool2d"
    return LayerPlan(shape=(channels, 1, 1), calls=(call(name, output_size=1),))


def _bn(p: dict[str, ParamValue], shape: Shape, where: str) -> LayerPlan:
    name = "BatchNorm2d" if len(shape) == 3 else "BatchNorm1d"
    return LayerPlan(shape=shape, calls=(call(name, num_features=shape[0]),), params=2 * shape[0])


def _act(p: dict[str, ParamValue], shape: Shape, where: str) -> LayerPlan:
    return LayerPlan(shape=shape, calls=(call(ACTIVATION_MODULES[str(p["fn"])]),))


def _dropout(p: dict[str, ParamValue], shape: Shape, where: str) -> LayerPlan:
    return LayerPlan(shape=shape, calls=(call("Dropout", p=float(p["rate"])),))


def _fc(p: dict[str, ParamValue], shape: Shape, where: str) -> LayerPlan:
    features = math.prod(shape)
    units = int(p["units"])
    linear = call("Linear", in_features=features, out_features=units, bias=bool(p["bias"]))
    return LayerPlan(
        shape=(units,),
        calls=(linear,) if len(shape) == 1 else (call("Flatten"), linear),
        params=features * units + (units if p["bias"] else 0),
        macs=features * units,
    )


def _reshape(p: dict[str, ParamValue], shape: Shape, where: str) -> LayerPlan:
    target = (int(p["channels"]), int(p["height"]), int(p["width"]))
    if math.prod(target) != math.prod(shape):
        raise InvalidArchitecture(
            f"{where}: cannot reshape {shape} ({math.prod(shape)} values) into {target} "
            f"({math.prod(target)} values); the sizes must match"
        )
    unflatten = call("Unflatten", dim=1, unflattened_size=target)
    return LayerPlan(
        shape=target, calls=(unflatten,) if len(shape) == 1 else (call("Flatten"), unflatten)
    )


PLANNERS: dict[str, Callable[[dict[str, ParamValue], Shape, str], LayerPlan]] = {
    "conv": _conv,
    "bn": _bn,
    "act": _act,
    "pool": _pool,
    "gpool": _gpool,
    "dropout": _dropout,
    "fc": _fc,
    "reshape": _reshape,
}
assert set(PLANNERS) == set(SCHEMA), "every layer kind needs a schema and a planner"


def plan_layer(layer: LayerSpec, shape: Shape, where: str) -> LayerPlan:
    """Validate ``layer`` and plan it on an input of ``shape``."""
    check_params(layer, where)
    return PLANNERS[layer.kind](layer.params, shape, where)
