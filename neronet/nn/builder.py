"""NetworkSpec -> nn.Module."""

from __future__ import annotations

from torch import nn

from neronet.nn.graph import GraphNet, Merge
from neronet.nn.plan import plan_network
from neronet.spec import NetworkSpec


def build(spec: NetworkSpec) -> GraphNet:
    """Build the network of ``spec``; ``model.spec`` keeps the spec.

    The whole spec is planned (and rejected with ``InvalidArchitecture``)
    before the first parameter is allocated. Initialisation is PyTorch's
    default, drawn in node order, so it is deterministic under
    ``torch.manual_seed``.
    """
    plans = plan_network(spec)
    model = GraphNet(
        nodes=[nn.Sequential(*(c.make() for c in plan.layers)) for plan in plans],
        merges=[Merge([c.make() for c in plan.adapters]) for plan in plans],
        sources=[plan.sources for plan in plans],
    )
    model.spec = spec
    return model
