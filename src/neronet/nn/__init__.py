"""NetworkSpec -> torch: shape inference, building, cost and source export.

Modules: ``layers`` (one primitive layer: params, shape, modules, cost),
``plan`` (the whole DAG: wiring, merges, shapes), ``graph`` (the torch-only
runtime module), ``builder`` and ``export``.
"""

from neronet.nn.builder import build
from neronet.nn.codegen import export_source
from neronet.nn.graph import GraphNet, Merge
from neronet.nn.plan import check_size, count_parameters, estimate_flops, infer_shapes

__all__ = [
    "GraphNet",
    "Merge",
    "build",
    "check_size",
    "count_parameters",
    "estimate_flops",
    "export_source",
    "infer_shapes",
]
