"""Standalone PyTorch source for a NetworkSpec.

The source is the code of :mod:`neronet.nn.graph` (without its module docstring,
which is written for neronet's developers) plus a generated subclass whose
constructor spells out every module, so its state_dict keys equal those of
``build(spec)``: weights saved from a neronet-built model load into it directly.
The generated module docstring states what the file needs, because that is the
first thing a user of an exported file reads: torch only, or torch and
safetensors when the ``load_model()`` helper is included.
"""

from __future__ import annotations

import ast
import inspect

from neronet.errors import NeronetError
from neronet.nn import graph
from neronet.nn.plan import NodePlan, plan_network
from neronet.spec import NetworkSpec

INDENT = "    "

LOADER = '''

def load_model(weights_path=None):
    """Build the network and load its weights (default: the .safetensors beside this file)."""
    from pathlib import Path

    from safetensors.torch import load_file

    path = weights_path or Path(__file__).with_suffix(".safetensors")
    model = {class_name}()
    model.load_state_dict(load_file(str(path)))
    return model.eval()


if __name__ == "__main__":
    # python <this file>: load the weights beside it and run one blank image through
    import torch

    net = load_model()
    logits = net(torch.zeros(1, {shape}))
    count = sum(p.numel() for p in net.parameters())
    print(f"{class_name}: {{count:,}} parameters, logits of shape {{tuple(logits.shape)}}")
'''


def _runtime_code() -> str:
    """The code of :mod:`neronet.nn.graph` after its module docstring."""
    source = inspect.getsource(graph)
    docstring = ast.parse(source).body[0]
    return "".join(source.splitlines(keepends=True)[docstring.end_lineno :]).lstrip("\n")


def _sequential(plan: NodePlan) -> str:
    if not plan.layers:
        return "nn.Sequential()"
    inner = "".join(f"{INDENT * 5}{c.source()},\n" for c in plan.layers)
    return f"nn.Sequential(\n{inner}{INDENT * 4})"


def _merge(plan: NodePlan) -> str:
    pads = "" if plan.pads is None else f", pads={plan.pads!r}"
    return "Merge([" + ", ".join(c.source() for c in plan.adapters) + f"]{pads})"


def _argument(name: str, items: list[str]) -> str:
    lines = "".join(f"{INDENT * 4}{item},\n" for item in items)
    return f"{INDENT * 3}{name}=[\n{lines}{INDENT * 3}],\n"


def export_source(spec: NetworkSpec, class_name: str = "NeroNet", *, loader: bool = False) -> str:
    """Python source defining ``class_name``, an ``nn.Module`` equal to ``build(spec)``.

    With ``loader``, the source also defines ``load_model(weights_path=None)``, which
    reads the weights from a ``.safetensors`` file (default: beside the source file).
    """
    if not class_name.isidentifier():
        raise NeronetError(
            f"class name {class_name!r} is not a Python identifier; use e.g. 'NeroNet'"
        )
    plans = plan_network(spec)
    usage = (
        "Requires torch and safetensors: ``load_model()`` returns the network in eval\n"
        "mode with the weights of the ``.safetensors`` file beside this one."
        if loader
        else "Requires torch only; load weights with ``load_state_dict``."
    )
    shape = ", ".join(map(str, spec.input_shape))
    header = (
        f'"""{class_name}: network {spec.digest()} exported by neronet.\n\n'
        f"Input: float images of shape (N, {shape}) with values in [0, 1];\n"
        f"output: {spec.num_classes} logits per image.\n{usage}\n"
        '"""\n\n'
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
    tail = LOADER.format(class_name=class_name, shape=shape) if loader else ""
    return header + _runtime_code() + subclass + tail
