"""The spectrum of a RAS model: the histogram its niching compares (paper, section 5.4).

Ten counts, in this order (:data:`FEATURES`), over a resolved model (a DAG of
blocks, each a DAG of layers; a block used twice counts twice):

0. ``blocks``: blocks in the model.
1. ``layers``: layers over all blocks.
2. ``block_connections``: edges of the model DAG.
3. ``layer_connections``: edges inside blocks, summed over blocks.
4. ``dense_layers`` and 5. ``conv_layers``: layers of each kind.
6. ``dense_dense``, 7. ``dense_conv``, 8. ``conv_dense``, 9. ``conv_conv``: the
   layer-to-layer connections of the compiled network by (source kind, target
   kind). These are every in-block edge plus, for every block connection
   A -> B, one connection from each sink layer of A (A's output) to each layer
   of B without in-block predecessors (B's input), since that is what the
   decoder wires (:mod:`neronet.ras.decode`). Connections from the image and
   into the softmax are not counted: every model has them.

Scaling: counts differ in range (layers run to dozens, block connections to a
few), so before distances are taken each feature is divided by its standard
deviation over the compared set (the child and the representatives), as the
paper's code whitens spectra. A feature with zero spread there (all equal) is
left unscaled (divided by 1): it cannot separate anyone, and dividing would be
0/0.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from neronet.ras.dag import Dag
from neronet.ras.genome import Conv, Layer

FEATURES = (
    "blocks",
    "layers",
    "block_connections",
    "layer_connections",
    "dense_layers",
    "conv_layers",
    "dense_dense",
    "dense_conv",
    "conv_dense",
    "conv_conv",
)
_PAIR_INDEX = {(False, False): 6, (False, True): 7, (True, False): 8, (True, True): 9}


def spectrum(model: Dag[Dag[Layer]]) -> tuple[int, ...]:
    """The ten counts of :data:`FEATURES` for ``model`` (see the module docstring)."""
    counts = [0] * len(FEATURES)
    counts[0] = len(model.nodes)
    counts[2] = len(model.edges)
    for block in model.nodes:
        counts[1] += len(block.nodes)
        counts[3] += len(block.edges)
        convs = sum(isinstance(layer, Conv) for layer in block.nodes)
        counts[5] += convs
        counts[4] += len(block.nodes) - convs
        for i, j in block.edges:
            counts[_PAIR_INDEX[_is_conv(block, i), _is_conv(block, j)]] += 1
    for a, b in model.edges:
        source, target = model.nodes[a], model.nodes[b]
        entries = [j for j in range(len(target.nodes)) if not target.predecessors(j)]
        for i in source.sinks():
            for j in entries:
                counts[_PAIR_INDEX[_is_conv(source, i), _is_conv(target, j)]] += 1
    return tuple(counts)


def _is_conv(block: Dag[Layer], index: int) -> bool:
    return isinstance(block.nodes[index], Conv)


def scale(spectra: Sequence[Sequence[float]]) -> np.ndarray:
    """``spectra`` (one row each) divided per feature by its std over the rows (1 where 0)."""
    rows = np.asarray(spectra, dtype=float)
    std = rows.std(axis=0)
    return rows / np.where(std > 0, std, 1.0)


def closest(child: Sequence[float], representatives: Sequence[Sequence[float]]) -> int:
    """Index of the representative nearest ``child`` (Euclidean, after :func:`scale` over
    the child and all representatives); ties go to the lowest index."""
    if not representatives:
        raise ValueError("closest() needs at least one representative")
    rows = scale([child, *representatives])
    return int(np.argmin(np.linalg.norm(rows[1:] - rows[0], axis=1)))
