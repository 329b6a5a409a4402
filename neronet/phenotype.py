"""Genotype -> NetworkSpec (+ LearningSpec).

Each unit becomes one node. Its decoded terms form layers: ``layer:<kind>``
opens a primitive layer and the terms after it are that layer's parameters;
terms before the first ``layer:`` are unit defaults inherited by every layer
(``block`` names the node). Grammar keys map to spec parameters as below; a
missing optional key takes the default shown::

    conv    filters <- num-filters * filters-mult (mult 1)   kernel <- kernel-size (3)
            stride <- stride (1)   padding <- padding ("same")   bias <- bias (False)
    pool    op <- pool-type ("max")   kernel <- kernel-size (2)   stride (2)   padding ("valid")
    gpool   op <- pool-type ("avg")
    act     fn <- act
    dropout rate <- rate
    fc      units <- units   bias <- bias (True)
    bn      (none)

The network's last unit must end with an ``fc`` layer: its units are set to
the number of classes and it emits the logits. Node inputs are node indices in
topological order, -1 being the network input; a module passes the output of
its last unit (or, when empty, its own input) to the next module.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from typing import Any

import numpy as np

from neronet.errors import GrammarError
from neronet.genotype import MODULE_INPUT, Genotype, Structure
from neronet.grammar import Term, Value
from neronet.spec import (
    ACTIVATIONS,
    INPUT,
    OPTIMIZERS,
    LayerSpec,
    LearningSpec,
    NetworkSpec,
    NodeSpec,
)

_REQUIRED = object()


def _positive_int(value: Value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _one_of(*options: str) -> Callable[[Value], bool]:
    return lambda value: value in options


def _is_bool(value: Value) -> bool:
    return isinstance(value, bool)


def _is_rate(value: Value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value < 1


_PADDING = _one_of("same", "valid")
_POOL_OP = _one_of("max", "avg")

# kind -> ((spec name, grammar key, validity check, default), ...)
_LAYER_PARAMS: dict[str, tuple[tuple[str, str, Callable[[Value], bool], Any], ...]] = {
    "conv": (
        ("filters", "num-filters", _positive_int, _REQUIRED),
        ("kernel", "kernel-size", _positive_int, 3),
        ("stride", "stride", _positive_int, 1),
        ("padding", "padding", _PADDING, "same"),
        ("bias", "bias", _is_bool, False),
    ),
    "bn": (),
    "act": (("fn", "act", _one_of(*ACTIVATIONS), _REQUIRED),),
    "pool": (
        ("op", "pool-type", _POOL_OP, "max"),
        ("kernel", "kernel-size", _positive_int, 2),
        ("stride", "stride", _positive_int, 2),
        ("padding", "padding", _PADDING, "valid"),
    ),
    "gpool": (("op", "pool-type", _POOL_OP, "avg"),),
    "dropout": (("rate", "rate", _is_rate, _REQUIRED),),
    "fc": (
        ("units", "units", _positive_int, _REQUIRED),
        ("bias", "bias", _is_bool, True),
    ),
}
_KNOWN_KEYS = {"block", "filters-mult"} | {
    key for params in _LAYER_PARAMS.values() for _, key, _, _ in params
}

RawLayer = tuple[str, dict[str, Value]]


def to_spec(
    genotype: Genotype, input_shape: tuple[int, int, int] = (3, 32, 32), num_classes: int = 10
) -> NetworkSpec:
    """The network a genotype encodes, for inputs of ``input_shape`` and ``num_classes``."""
    structure = genotype.structure
    output = genotype.modules[-1][-1] if genotype.modules[-1] else None
    nodes: list[NodeSpec] = []
    module_input = INPUT
    for mod, units in zip(structure.modules, genotype.modules, strict=True):
        where = f"{structure.grammar.source}: <{mod.name}>"
        index = {MODULE_INPUT: module_input}
        for unit in units:
            block, raw = _split(structure.grammar.decode(mod.name, unit.derivation), where)
            if unit is output:
                raw = _as_output(raw, num_classes, where)
            index[unit.id] = len(nodes)
            nodes.append(
                NodeSpec(
                    block=str(block or mod.name),
                    module=mod.name,
                    inputs=tuple(index[i] for i in unit.inputs),
                    layers=tuple(_resolve(kind, params, where) for kind, params in raw),
                )
            )
        if units:
            module_input = len(nodes) - 1
    return NetworkSpec(tuple(input_shape), num_classes, tuple(nodes))  # type: ignore[arg-type]


def to_learning(genotype: Genotype) -> LearningSpec:
    """The training hyper-parameters of the genotype's learning unit."""
    structure = genotype.structure
    where = f"{structure.grammar.source}: <{structure.learning}>"
    known = {f.name: f.type for f in fields(LearningSpec)}
    values: dict[str, Value] = {}
    for key, value in structure.grammar.decode(structure.learning, genotype.learning):
        name = "optimizer" if key == "learning" else key
        if name not in known:
            raise GrammarError(
                f"{where} decodes unknown learning key '{key}'; use learning, "
                f"{', '.join(k for k in known if k != 'optimizer')}"
            )
        values[name] = value
    if values.get("optimizer", "sgd") not in OPTIMIZERS:
        raise GrammarError(f"{where}: optimizer must be one of {', '.join(OPTIMIZERS)}")
    try:
        learning = LearningSpec(**_coerce_learning(values))
    except (TypeError, ValueError):
        raise GrammarError(f"{where} decodes a value of the wrong type; fix the grammar") from None
    for name, (valid, meaning) in LEARNING_RANGES.items():
        value = getattr(learning, name)
        if not valid(value):
            raise GrammarError(
                f"{where} decodes {name}={value}, but {name} must be {meaning}; fix its range"
            )
    return learning


LEARNING_RANGES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "lr": (lambda v: v > 0, "> 0"),
    "decay": (lambda v: v >= 0, ">= 0"),
    "momentum": (lambda v: 0 <= v < 1, "in [0, 1)"),
    "beta1": (lambda v: 0 <= v < 1, "in [0, 1)"),
    "beta2": (lambda v: 0 <= v < 1, "in [0, 1)"),
    "rho": (lambda v: 0 <= v < 1, "in [0, 1)"),
    "batch_size": (lambda v: v >= 1, ">= 1"),
    "early_stop": (lambda v: v >= 1, ">= 1"),
}
"""What the optimizers accept; checked at decode time so a bad grammar range is a
clear error instead of a torch traceback in the middle of a run."""


def _coerce_learning(values: dict[str, Value]) -> dict[str, Value]:
    """Match LearningSpec types: floats stay floats even when a power gives an int."""
    defaults = LearningSpec()
    out: dict[str, Value] = {}
    for name, value in values.items():
        kind = type(getattr(defaults, name))
        if kind is float and not isinstance(value, bool):
            out[name] = float(value)
        elif type(value) is kind:
            out[name] = value
        else:
            raise ValueError(name)
    return out


def _split(terms: list[Term], where: str) -> tuple[Value | None, list[RawLayer]]:
    """Unit defaults merged into each layer's own terms; returns (block, layers)."""
    defaults: dict[str, Value] = {}
    layers: list[RawLayer] = []
    for key, value in terms:
        if key == "layer":
            if value not in _LAYER_PARAMS:
                raise GrammarError(
                    f"{where} decodes unknown layer kind {value!r}; use {', '.join(_LAYER_PARAMS)}"
                )
            layers.append((str(value), {}))
        elif key not in _KNOWN_KEYS:
            raise GrammarError(
                f"{where} decodes unknown key '{key}'; use {', '.join(sorted(_KNOWN_KEYS))}"
            )
        else:
            (layers[-1][1] if layers else defaults)[key] = value
    if not layers:
        raise GrammarError(f"{where} decodes no 'layer:' term; every unit needs a layer")
    block = defaults.pop("block", None)
    return block, [(kind, {**defaults, **params}) for kind, params in layers]


def _as_output(raw: list[RawLayer], num_classes: int, where: str) -> list[RawLayer]:
    kind, params = raw[-1]
    if kind != "fc":
        raise GrammarError(
            f"{where} is the network's last unit but does not end with layer:fc; "
            "make the last module's productions end with an fc layer"
        )
    return [*raw[:-1], (kind, {**params, "units": num_classes})]


def _resolve(kind: str, params: dict[str, Value], where: str) -> LayerSpec:
    resolved: dict[str, Value] = {}
    for name, key, valid, default in _LAYER_PARAMS[kind]:
        value = params.get(key, default)
        if value is _REQUIRED:
            raise GrammarError(f"{where}: a '{kind}' layer needs '{key}'; add it to the grammar")
        if not valid(value):
            raise GrammarError(f"{where}: invalid {key}:{value!r} for a '{kind}' layer")
        resolved[name] = value
    if kind == "conv":
        mult = params.get("filters-mult", 1)
        if not _positive_int(mult):
            raise GrammarError(f"{where}: filters-mult must be a positive integer, not {mult!r}")
        resolved["filters"] = int(resolved["filters"]) * int(mult)
    return LayerSpec(kind, resolved)


def check_decodable(structure: Structure, samples: int = 32) -> None:
    """Decode ``samples`` random individuals, so that grammar mistakes (an unknown key,
    an impossible range, a last module without an fc) fail now, before a run starts,
    rather than hours in when the faulty production is first drawn.

    Uses its own fixed RNG: the check never changes a run's random stream.
    """
    rng = np.random.default_rng(0)
    for _ in range(samples):
        genotype = Genotype.random(structure, rng, train_time=1.0)
        to_spec(genotype)
        to_learning(genotype)
