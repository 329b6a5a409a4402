"""The runtime network module. Depends on torch only.

:func:`neronet.nn.export_source` copies this file verbatim into the exported
source, so built models and exported classes share one forward pass (and one
state_dict layout: ``nodes.<node>.<layer>.<tensor>``). Keep it free of
neronet imports.

All wiring is fixed at construction (tuples of slot indices), so ``forward``
has no data-dependent Python control flow and compiles to a static graph.
"""

from __future__ import annotations

import torch
from torch import nn


class Merge(nn.Module):
    """Joins a node's inputs: each goes through its adapter, then all are concatenated on
    channels; or, with ``pads``, each gets that many zero channels (features) appended and
    all are added (a residual join between inputs of different widths).

    Adapters are parameter-free (identity, max pooling to the common spatial
    size, or flatten), so merges add nothing to the state_dict.
    """

    def __init__(self, adapters: list[nn.Module], pads: tuple[int, ...] | None = None) -> None:
        super().__init__()
        self.adapters = nn.ModuleList(adapters)
        self.pads = pads

    def forward(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        if len(self.adapters) == 1:
            return self.adapters[0](inputs[0])
        adapted = [adapt(x) for adapt, x in zip(self.adapters, inputs, strict=True)]
        if self.pads is None:
            return torch.cat(adapted, 1)
        widened = [
            nn.functional.pad(x, (0, 0) * (x.dim() - 2) + (0, pad)) if pad else x
            for x, pad in zip(adapted, self.pads, strict=True)
        ]
        return torch.stack(widened).sum(0)


class GraphNet(nn.Module):
    """A DAG of sequential nodes; the last node's output is the result.

    ``sources[i]`` lists the inputs of node ``i`` (-1 = the network input).
    Intermediate outputs are dropped as soon as their last consumer has run,
    which lowers peak memory at inference time.
    """

    def __init__(
        self, nodes: list[nn.Module], merges: list[Merge], sources: list[tuple[int, ...]]
    ) -> None:
        super().__init__()
        if not len(nodes) == len(merges) == len(sources):
            raise ValueError("nodes, merges and sources must have one entry per node")
        self.nodes = nn.ModuleList(nodes)
        self.merges = nn.ModuleList(merges)
        # Slot 0 holds the network input, slot i + 1 the output of node i.
        self.slots = tuple(tuple(source + 1 for source in inputs) for inputs in sources)
        last_use = {slot: node for node, slots in enumerate(self.slots) for slot in slots}
        self.release = tuple(
            tuple(slot for slot, last in last_use.items() if last == node)
            for node in range(len(nodes))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs: list[torch.Tensor | None] = [x]
        for node, merge, slots, release in zip(
            self.nodes, self.merges, self.slots, self.release, strict=True
        ):
            outputs.append(node(merge([outputs[slot] for slot in slots])))
            for slot in release:
                outputs[slot] = None
        return outputs[-1]
