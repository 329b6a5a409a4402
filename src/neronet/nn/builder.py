"""NetworkSpec -> nn.Module."""

from __future__ import annotations

from torch import nn

from neronet.limits import MAX_PARAMETERS
from neronet.nn.graph import GraphNet, Merge
from neronet.nn.plan import check_plans_size, plan_network
from neronet.spec import NetworkSpec


def build(spec: NetworkSpec, max_parameters: int = MAX_PARAMETERS) -> GraphNet:
    """Build the network of ``spec``; ``model.spec`` keeps the spec.

    The whole spec is planned (and rejected with ``InvalidArchitecture``, also
    when it has more than ``max_parameters`` trainable parameters) before the
    first parameter is allocated, so no caller, whatever spec it read, can
    reach the allocator with an absurd network. Initialisation is PyTorch's
    default, drawn in node order, so it is deterministic under
    ``torch.manual_seed``.
    """
    plans = plan_network(spec)
    check_plans_size(plans, max_parameters)
    model = GraphNet(
        nodes=[nn.Sequential(*(c.make() for c in plan.layers)) for plan in plans],
        merges=[Merge([c.make() for c in plan.adapters], plan.pads) for plan in plans],
        sources=[plan.sources for plan in plans],
    )
    model.spec = spec
    return model
