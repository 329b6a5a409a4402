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

A conv or fc layer's own ``act:`` (written after ``layer:conv`` / ``layer:fc``,
as Fast-DENSER and EvoDENSS write it) becomes an act layer right after it; a
unit-level ``act`` only sets the unit's ``layer:act`` layers. Every term must be
used: a key its layer does not take, or a unit default no layer takes, is an
error naming the rule that wrote it.

Foreign vocabulary is mapped onto neronet's: layer kinds ``batch-norm`` /
``batch_norm`` -> bn, ``pool-max`` / ``pool_max`` / ``pool-avg`` / ``pool_avg``
-> pool with that op, ``identity`` -> act linear, ``relu_agg`` (EvoDENSS's
residual join, the unit's first layer) -> act relu on the SUM of the unit's
inputs, to which the module's input is added as EvoDENSS adds it; keys
``filter-shape`` / ``kernel_size`` -> kernel-size, ``out_channels`` ->
num-filters, ``num-units`` / ``out_features`` -> units; learning
``gradient-descent`` / ``gradient_descent`` -> sgd, ``alpha`` -> rho,
``lr_weights`` -> lr (LARS). The learning keys ``epochs`` and ``weight_decay``
are the individual's own epoch cap and L2, replacing ``training.max_epochs`` and
``training.weight_decay`` for it.

The network's last unit must end with an ``fc`` layer: its units are set to
the number of classes and it emits the logits (an ``act:softmax`` written on it
is the loss's softmax and adds no layer). With ``structure.head`` other than
``grammar`` (a grammar whose last module is a feature extractor, as EvoDENSS's
``features_1..5``), neronet appends its own output node instead: ``fc`` flattens
and classifies, ``gpool-fc`` average-pools globally first. Node inputs are node
indices in topological order, -1 being the network input; a module passes the
output of its last unit (or, when empty, its own input) to the next module.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from neronet.errors import GrammarError
from neronet.genotype import MODULE_INPUT, Genotype, Structure
from neronet.grammar import Derivation, Term, Value
from neronet.spec import (
    ACTIVATIONS,
    INPUT,
    OPTIMIZERS,
    LayerSpec,
    LearningSpec,
    NetworkSpec,
    NodeSpec,
)

HEADS: dict[str, tuple[LayerSpec, ...]] = {
    "fc": (),
    "gpool-fc": (LayerSpec("gpool", {"op": "avg"}),),
}
"""``structure.head`` -> the layers neronet's output node puts before its fc of
``num_classes`` units ("grammar": the grammar's last unit is the output)."""

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
Problems = dict[str, str]
"""Problems found mapping terms, keyed by what each is about (rule, key, ...), so that a
problem met again in another sample is listed once, with its first example."""

# Keys a layer takes from the unit's defaults or its own terms.
_PARAM_KEYS = {
    kind: {key for _, key, _, _ in params} | ({"filters-mult"} if kind == "conv" else set())
    for kind, params in _LAYER_PARAMS.items()
}
# Layers whose own `act:` (written after `layer:`) is an activation applied to their
# output, as Fast-DENSER and EvoDENSS write it; a unit-level `act` only sets act layers.
_ACT_ATTRIBUTE = ("conv", "fc")
# The output layer's `act:softmax` (Fast-DENSER, EvoDENSS): the network emits logits
# and the loss applies the softmax, so it adds no layer.
_OUTPUT_ACT = "softmax"

# EvoDENSS's residual join: ReLU of the sum of the unit's inputs and its module's input.
_SUM_KIND = "relu_agg"
# Fast-DENSER (dashes) and EvoDENSS (underscores) vocabulary -> neronet's.
_KIND_ALIASES: dict[str, tuple[str, dict[str, Value]]] = {
    "batch-norm": ("bn", {}),
    "batch_norm": ("bn", {}),
    "pool-max": ("pool", {"pool-type": "max"}),
    "pool_max": ("pool", {"pool-type": "max"}),
    "pool-avg": ("pool", {"pool-type": "avg"}),
    "pool_avg": ("pool", {"pool-type": "avg"}),
    "identity": ("act", {"act": "linear"}),
    _SUM_KIND: ("act", {"act": "relu"}),
}
_KEY_ALIASES = {
    "filter-shape": "kernel-size",
    "kernel_size": "kernel-size",
    "out_channels": "num-filters",
    "num-units": "units",
    "out_features": "units",
}
_OPTIMIZER_ALIASES = {"gradient-descent": "sgd", "gradient_descent": "sgd"}
_LEARNING_KEY_ALIASES = {"learning": "optimizer", "alpha": "rho", "lr_weights": "lr"}
# LearningSpec fields that default to None (not set by the grammar): their value type.
_OPTIONAL_TYPES: dict[str, type] = {
    "train_subset": int,
    "epochs": int,
    "weight_decay": float,
    "lr_biases": float,
}


@dataclass
class _RawLayer:
    """A layer as written: its kind, the rule that opened it, its own terms."""

    kind: str
    written: str
    rule: str
    params: dict[str, Value] = field(default_factory=dict)


@dataclass
class _Unit:
    """One unit mapped to layers, with every problem found on the way."""

    block: Value | None = None
    layers: list[LayerSpec] = field(default_factory=list)
    problems: Problems = field(default_factory=dict)
    merge: str = "concat"


def to_spec(
    genotype: Genotype, input_shape: tuple[int, int, int] = (3, 32, 32), num_classes: int = 10
) -> NetworkSpec:
    """The network a genotype encodes, for inputs of ``input_shape`` and ``num_classes``."""
    structure = genotype.structure
    grammar = structure.grammar
    last = genotype.modules[-1][-1] if genotype.modules[-1] else None
    output = last if structure.head == "grammar" else None
    nodes: list[NodeSpec] = []
    module_input = INPUT
    for mod, units in zip(structure.modules, genotype.modules, strict=True):
        index = {MODULE_INPUT: module_input}
        for unit in units:
            traced = grammar.decode_traced(mod.name, unit.derivation)
            mapped = _map_unit(traced, mod.name, num_classes if unit is output else None)
            if mapped.problems:
                raise GrammarError(f"{grammar.source}: {'; '.join(mapped.problems.values())}")
            inputs = [index[i] for i in unit.inputs]
            if mapped.merge == "sum" and module_input not in inputs:
                inputs.insert(0, module_input)  # EvoDENSS: relu_agg adds its module's input
            index[unit.id] = len(nodes)
            nodes.append(
                NodeSpec(
                    block=str(mapped.block or mod.name),
                    module=mod.name,
                    inputs=tuple(inputs),
                    layers=tuple(mapped.layers),
                    merge=mapped.merge,
                )
            )
        if units:
            module_input = len(nodes) - 1
    if structure.head != "grammar":
        head = (*HEADS[structure.head], LayerSpec("fc", {"units": num_classes, "bias": True}))
        nodes.append(NodeSpec("head", (len(nodes) - 1,), head, module="head"))
    return NetworkSpec(tuple(input_shape), num_classes, tuple(nodes))  # type: ignore[arg-type]


def to_learning(genotype: Genotype) -> LearningSpec:
    """The training hyper-parameters of the genotype's learning unit."""
    structure = genotype.structure
    learning, problems = _map_learning(structure, genotype.learning)
    if learning is None:
        raise GrammarError(f"{structure.grammar.source}: {'; '.join(problems.values())}")
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
    "epochs": (lambda v: v >= 1, ">= 1"),
    "weight_decay": (lambda v: v >= 0, ">= 0"),
    "lr_biases": (lambda v: v > 0, "> 0"),
}
"""What the optimizers accept; checked at decode time so a bad grammar range is a
clear error instead of a torch traceback in the middle of a run."""


def _map_learning(
    structure: Structure, derivation: Derivation
) -> tuple[LearningSpec | None, Problems]:
    """The LearningSpec of a learning derivation (None if any problem) and the problems."""
    known = {f.name for f in fields(LearningSpec)}
    values: dict[str, Value] = {}
    problems: Problems = {}
    rules: dict[str, str] = {}
    for rule, (key, value) in structure.grammar.decode_traced(structure.learning, derivation):
        name = _LEARNING_KEY_ALIASES.get(key, key)
        rules[name] = rule
        if name not in known:
            problems.setdefault(
                f"{rule}/{key}",
                f"<{rule}>: unknown learning key '{key}'; use learning, "
                f"{', '.join(sorted(known - {'optimizer'}))}",
            )
        else:
            values[name] = (
                _OPTIMIZER_ALIASES.get(str(value), value) if name == "optimizer" else value
            )
    where = f"<{structure.learning}>"
    if values.get("optimizer", "sgd") not in OPTIMIZERS:
        problems.setdefault(
            "optimizer",
            f"{where}: optimizer {values['optimizer']!r} must be one of {', '.join(OPTIMIZERS)}",
        )
    if problems:
        return None, problems
    try:
        learning = LearningSpec(**_coerce_learning(values))
    except (TypeError, ValueError):
        return None, {"type": f"{where} decodes a value of the wrong type; fix the grammar"}
    for name, (valid, meaning) in LEARNING_RANGES.items():
        value = getattr(learning, name)
        if value is not None and not valid(value):
            problems.setdefault(
                f"range/{name}",
                f"<{rules.get(name, structure.learning)}> decodes {name}={value}, but {name} "
                f"must be {meaning}; fix its range",
            )
    return (None if problems else learning), problems


def _coerce_learning(values: dict[str, Value]) -> dict[str, Value]:
    """Match LearningSpec types: floats stay floats even when a power gives an int."""
    defaults = LearningSpec()
    out: dict[str, Value] = {}
    for name, value in values.items():
        kind = _OPTIONAL_TYPES.get(name) or type(getattr(defaults, name))
        if kind is float and not isinstance(value, bool):
            out[name] = float(value)
        elif type(value) is kind:
            out[name] = value
        else:
            raise ValueError(name)
    return out


def _map_unit(traced: list[tuple[str, Term]], module: str, num_classes: int | None) -> _Unit:
    """Map one unit's decoded terms to layers (``num_classes``: it is the output unit).

    Terms before the first ``layer:`` are unit defaults, inherited by every layer
    that takes that key; terms after a ``layer:`` belong to that layer. Each term
    must be used: a key its layer does not take, or a default no layer of the unit
    takes, is a problem naming the rule that wrote it, never dropped.
    """
    unit = _Unit()
    defaults: dict[str, tuple[Value, str, str]] = {}  # key -> (value, rule, written key)
    raw: list[_RawLayer] = []
    for rule, (key, value) in traced:
        if key == "layer":
            kind, implied = _KIND_ALIASES.get(str(value), (str(value), {}))
            if value == _SUM_KIND:
                _sum_join(unit, rule, first=not raw)
            if kind not in _LAYER_PARAMS:
                unit.problems.setdefault(
                    f"{rule}/layer:{value}",
                    f"<{rule}> decodes unknown layer kind {value!r}; use "
                    f"{', '.join(_LAYER_PARAMS)} (or Fast-DENSER's / EvoDENSS's names)",
                )
            raw.append(_RawLayer(kind, str(value), rule, dict(implied)))
        elif key == "block" and not raw:
            unit.block = value
        elif not raw:
            defaults[_KEY_ALIASES.get(key, key)] = (value, rule, key)
        elif raw[-1].kind in _LAYER_PARAMS:
            _own_term(raw[-1], rule, key, value, unit.problems)
    if not raw:
        unit.problems.setdefault(
            f"{module}/no-layer", f"<{module}> decodes no 'layer:' term; every unit needs a layer"
        )
        return unit
    known = [layer for layer in raw if layer.kind in _LAYER_PARAMS]
    for name, (_, rule, key) in defaults.items():
        if not any(name in _PARAM_KEYS[layer.kind] for layer in known):
            unit.problems.setdefault(
                f"{rule}/{key}/unit",
                f"<{rule}>: '{key}' is used by no layer of the unit "
                f"({', '.join(layer.written for layer in raw)}); remove it or add the layer",
            )
    if num_classes is not None:
        _as_output(raw[-1], num_classes, module, unit.problems)
    for layer in known:
        inherited = {k: v for k, (v, _, _) in defaults.items() if k in _PARAM_KEYS[layer.kind]}
        unit.layers.extend(_resolve(layer, {**inherited, **layer.params}, unit.problems))
    return unit


def _sum_join(unit: _Unit, rule: str, first: bool) -> None:
    """Make ``unit`` add its inputs (``relu_agg``); only its first layer can be the join."""
    if first:
        unit.merge = "sum"
    else:
        unit.problems.setdefault(
            f"{rule}/{_SUM_KIND}",
            f"<{rule}>: layer:{_SUM_KIND} joins the unit's inputs, so it must be the unit's "
            "first layer; start a unit with it",
        )


def _own_term(layer: _RawLayer, rule: str, key: str, value: Value, problems: Problems) -> None:
    name = _KEY_ALIASES.get(key, key)
    if name in _PARAM_KEYS[layer.kind] or (name == "act" and layer.kind in _ACT_ATTRIBUTE):
        layer.params[name] = value
        return
    uses = sorted(_PARAM_KEYS[layer.kind] | ({"act"} if layer.kind in _ACT_ATTRIBUTE else set()))
    problems.setdefault(
        f"{rule}/{key}/{layer.written}",
        f"<{rule}>: '{key}' is not used by layer:{layer.written} (it takes "
        f"{', '.join(uses) or 'no key'}); remove it or move it to the layer that uses it",
    )


def _as_output(layer: _RawLayer, num_classes: int, module: str, problems: Problems) -> None:
    """Make ``layer`` the network's output: an fc of ``num_classes`` emitting logits."""
    if layer.kind != "fc":
        problems.setdefault(
            f"{module}/output",
            f"<{module}> is the network's last unit but does not end with layer:fc; "
            "make the last module's productions end with an fc layer, or set "
            "structure.head: fc (or gpool-fc) to give the network neronet's output layer",
        )
        return
    layer.params["units"] = num_classes
    if layer.params.get("act") == _OUTPUT_ACT:
        del layer.params["act"]


def _resolve(layer: _RawLayer, params: dict[str, Value], problems: Problems) -> list[LayerSpec]:
    """The layer's spec (and its activation, when written as its attribute)."""
    where = f"<{layer.rule}>"
    resolved: dict[str, Value] = {}
    for name, key, valid, default in _LAYER_PARAMS[layer.kind]:
        value = params.get(key, default)
        if value is _REQUIRED:
            problems.setdefault(
                f"{layer.rule}/{key}/needed",
                f"{where}: a '{layer.kind}' layer needs '{key}'; add it to the grammar",
            )
        elif not valid(value):
            problems.setdefault(
                f"{layer.rule}/{key}/invalid",
                f"{where}: invalid {key}:{value!r} for a '{layer.kind}' layer",
            )
        else:
            resolved[name] = value
    if layer.kind == "conv":
        mult = params.get("filters-mult", 1)
        if not _positive_int(mult):
            problems.setdefault(
                f"{layer.rule}/filters-mult",
                f"{where}: filters-mult must be a positive integer, not {mult!r}",
            )
        elif "filters" in resolved:
            resolved["filters"] = int(resolved["filters"]) * int(mult)
    specs = [LayerSpec(layer.kind, resolved)]
    act = layer.params.get("act") if layer.kind in _ACT_ATTRIBUTE else None
    if act is not None:
        act_layer = _RawLayer("act", "act", layer.rule, {"act": act})
        if act == _OUTPUT_ACT:
            problems.setdefault(
                f"{layer.rule}/softmax", f"{where}: act:softmax belongs on the output layer only"
            )
        else:
            specs.extend(_resolve(act_layer, act_layer.params, problems))
    return specs


def check_decodable(structure: Structure, samples: int = 128) -> None:
    """Decode ``samples`` random units of every module and learning units, and raise one
    GrammarError listing every problem found (an unknown key or layer kind, a key its
    layer does not use, an impossible range, a last module without an fc), so that a
    grammar fails now, before a run starts, with all its incompatibilities at once
    instead of one per edit, or hours in when the faulty production is first drawn.

    Units of the last module are checked as the network's output. Uses its own fixed
    RNG: the check never changes a run's random stream.
    """
    rng = np.random.default_rng(0)
    problems: Problems = {}
    last = len(structure.modules) - 1 if structure.head == "grammar" else -1
    for m, mod in enumerate(structure.modules):
        for _ in range(samples):
            traced = structure.grammar.decode_traced(mod.name, structure.derive(mod.name, rng))
            mapped = _map_unit(traced, mod.name, 1 if m == last else None)
            problems |= {k: v for k, v in mapped.problems.items() if k not in problems}
    for _ in range(samples):
        _, found = _map_learning(structure, structure.derive(structure.learning, rng))
        problems |= {k: v for k, v in found.items() if k not in problems}
    if problems:
        count = f"{len(problems)} problem{'s' if len(problems) > 1 else ''}"
        raise GrammarError(f"{structure.grammar.source}: {count}: {'; '.join(problems.values())}")
