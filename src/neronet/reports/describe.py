"""Human-readable summaries of a NetworkSpec and a learning unit (CLI `show-seed`, `best`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from neronet.spec import INPUT, OPTIMIZER_FIELDS, LayerSpec, NetworkSpec


def fmt_metric(value: float | None, digits: int = 3) -> str:
    """A metric for humans; '-' when it was not measured (e.g. ill-fitted: no attack)."""
    return "-" if value is None else f"{value:.{digits}f}"


def layer_text(layer: LayerSpec) -> str:
    p = layer.params
    if layer.kind == "conv":
        return f"conv{p.get('kernel')}x{p.get('kernel')}/{p.get('stride', 1)}->{p.get('filters')}"
    if layer.kind == "act":
        return str(p.get("fn"))
    if layer.kind in ("pool", "gpool"):
        size = "" if layer.kind == "gpool" else f"{p.get('kernel')}/{p.get('stride')}"
        return f"{layer.kind}-{p.get('op')}{size}"
    if layer.kind == "fc":
        return f"fc->{p.get('units')}"
    if layer.kind == "dropout":
        return f"dropout {p.get('rate')}"
    return layer.kind


def spec_units(spec: NetworkSpec) -> list[dict[str, Any]]:
    """One JSON-able entry per node: index, block, module, inputs, output shape, layers."""
    from neronet.nn import infer_shapes

    shapes = infer_shapes(spec)
    return [
        {
            "index": i,
            "block": node.block,
            "module": node.module,
            "inputs": list(node.inputs),
            "output_shape": list(shapes[i]),
            "layers": [layer_text(la) for la in node.layers],
        }
        for i, node in enumerate(spec.nodes)
    ]


def describe_spec(spec: NetworkSpec) -> str:
    """A table of units and connections plus parameter and FLOP counts."""
    from neronet.nn import count_parameters, estimate_flops

    lines = [f"{'#':>3}  {'module':<16}{'block':<18}{'inputs':<14}{'output':<14}layers"]
    for unit in spec_units(spec):
        inputs = ",".join("in" if i == INPUT else str(i) for i in unit["inputs"])
        shape = "x".join(str(s) for s in unit["output_shape"])
        lines.append(
            f"{unit['index']:>3}  {unit['module']:<16}{unit['block']:<18}{inputs:<14}{shape:<14}"
            + " ".join(unit["layers"])
        )
    lines.append(
        f"units: {len(spec.nodes)}  parameters: {count_parameters(spec):,}  "
        f"multiply-adds per image: {estimate_flops(spec):,}"
    )
    return "\n".join(lines)


def describe_learning(learning: Mapping[str, Any]) -> str:
    """The learning unit as ``key=value`` pairs, leaving out other optimizers' fields.

    A stored learning unit (``LearningSpec.to_dict()``) holds every optimizer's
    hyper-parameters; listing Adam's betas for an SGD individual would suggest they
    matter. Unknown optimizers are shown with every field.
    """
    used = OPTIMIZER_FIELDS.get(str(learning.get("optimizer")))
    optimizer_fields = {field for fields in OPTIMIZER_FIELDS.values() for field in fields}
    unused = set() if used is None else optimizer_fields - set(used)
    return ", ".join(f"{key}={value}" for key, value in learning.items() if key not in unused)
