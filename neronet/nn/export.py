"""Standalone PyTorch source for a NetworkSpec.

The source is :mod:`neronet.nn.graph` verbatim plus a generated subclass whose
constructor spells out every module, so it needs only torch, and its
state_dict keys equal those of ``build(spec)``: weights saved from a
neronet-built model load into it directly.
"""

from __future__ import annotations

import inspect

from neronet.errors import NeronetError
from neronet.nn import graph
from neronet.nn.plan import NodePlan, plan_network
from neronet.spec import NetworkSpec

INDENT = "    "


def _sequential(plan: NodePlan) -> str:
    if not plan.layers:
        return "nn.Sequential()"
    inner = "".join(f"{INDENT * 5}{c.source()},\n" for c in plan.layers)
    return f"nn.Sequential(\n{inner}{INDENT * 4})"


def _merge(plan: NodePlan) -> str:
    return "Merge([" + ", ".join(c.source() for c in plan.adapters) + "])"


def _argument(name: str, items: list[str]) -> str:
    lines = "".join(f"{INDENT * 4}{item},\n" for item in items)
    return f"{INDENT * 3}{name}=[\n{lines}{INDENT * 3}],\n"


def export_source(spec: NetworkSpec, class_name: str = "NeroNet") -> str:
    """Python source defining ``class_name``, an ``nn.Module`` equal to ``build(spec)``."""
    if not class_name.isidentifier():
        raise NeronetError(
            f"class name {class_name!r} is not a Python identifier; use e.g. 'NeroNet'"
        )
    plans = plan_network(spec)
    header = (
        f"# Network {spec.digest()} exported by neronet: input {tuple(spec.input_shape)} "
        f"in [0, 1], {spec.num_classes} logits.\n"
    )
    subclass = (
        f"\n\nclass {class_name}(GraphNet):\n"
        f'{INDENT}"""Spec {spec.digest()}; load weights with load_state_dict."""\n\n'
        f"{INDENT}def __init__(self) -> None:\n"
        f"{INDENT * 2}super().__init__(\n"
        + _argument("nodes", [_sequential(p) for p in plans])
        + _argument("merges", [_merge(p) for p in plans])
        + _argument("sources", [repr(p.sources) for p in plans])
        + f"{INDENT * 2})\n"
    )
    return header + inspect.getsource(graph) + subclass
