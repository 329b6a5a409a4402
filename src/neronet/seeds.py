"""Hand-written genotypes: the NSGA-Net macro model that seeds NERO-Net's search.

NSGA-Net's model (``ianwhale/nsga-net``, ``models/macro_models.py`` with the
dense decoder) is three phases of up to six DenseNet nodes; each node is
BN-ReLU-1x1 conv (256) then BN-ReLU-3x3 conv (64). Its connection bits are
decoded as published (see :func:`phase_wiring`). It maps onto NERO-Net's
outer structure as follows:

* phase 1's input conv (3x3, 3->128, no padding, no bias; no BN or activation
  before the first node's own BN-ReLU) -> the ``stem`` unit (linear activation);
* the nodes of all phases -> ``macro-node`` units of ``features`` (64 filters,
  4x bottleneck), wired as decoded; within a phase every link spans at most 5
  positions, so it fits ``levels_back`` 5;
* each phase's output (1x1 conv to 128 + BN + ReLU) followed by the 2x2 max
  pooling between phases -> a ``transition-block`` of ``features``;
* the last phase's output conv followed by the global average pooling ->
  the ``last-transition`` unit; the linear classifier -> ``softmax``;
  ``classification`` is empty.

Deviation: the published 3.37M parameters include two 1x1 128->128 "first
convs" of phases 2 and 3 that the reference decoder registers but never runs
(its phases only apply them when input and output channels differ); they do
not exist here, so the seed has the 3,337,482 parameters that actually run.
As in NERO-Net, other outer-level units may be random: pass ``rng`` to draw
the learning unit; without it the seed trains with SGD (lr 0.1, Nesterov
momentum 0.9, batch 128), close to NSGA-Net's own recipe.
"""

from __future__ import annotations

import numpy as np

from neronet.config import SEED_MODULES, SearchConfig
from neronet.errors import ConfigError, GrammarError
from neronet.genotype import MODULE_INPUT, Genotype, Structure, Unit, default_structure
from neronet.grammar import Derivation, parse_terms

PhaseGene = tuple[tuple[int, ...], ...]

# models/macro_genotypes.py, the NSGA-Net macro model (3 phases x 6 nodes;
# the last list of each phase is the phase-residual bit).
NSGA_NET_MACRO: tuple[PhaseGene, ...] = (
    ((1,), (0, 0), (0, 1, 0), (0, 1, 1, 1), (1, 0, 0, 1, 1), (0,)),
    ((0,), (0, 0), (0, 1, 0), (0, 1, 0, 1), (1, 1, 1, 1, 1), (0,)),
    ((0,), (0, 1), (1, 0, 1), (1, 0, 1, 1), (1, 0, 0, 1, 1), (0,)),
)
CHANNELS = 128
GROWTH = 64

STEM = (
    f"block:stem num-filters:{CHANNELS} kernel-size:3 padding:valid act:linear layer:conv layer:act"
)
MACRO_NODE = (
    f"block:macro-node num-filters:{GROWTH} act:relu layer:bn layer:act "
    "layer:conv kernel-size:1 filters-mult:4 layer:bn layer:act layer:conv kernel-size:3"
)
TRANSITION = (
    f"block:transition-block num-filters:{CHANNELS} act:relu layer:conv kernel-size:1 "
    "layer:bn layer:act layer:pool pool-type:max kernel-size:2 stride:2 padding:valid"
)
LAST_TRANSITION = (
    f"block:last-transition num-filters:{CHANNELS} act:relu layer:conv kernel-size:1 "
    "layer:bn layer:act layer:gpool pool-type:avg"
)
SOFTMAX = "block:softmax layer:fc bias:True"
LEARNING = (
    "learning:sgd lr:0.1 momentum:0.9 nesterov:True decay:0.0001 batch_size:128 early_stop:10"
)


def phase_wiring(gene: PhaseGene) -> tuple[dict[int, list[int]], list[int]]:
    """Decode one phase: (inputs of each kept node, inputs of the phase output).

    Nodes are numbered from 1, 0 being the phase input. Node i+2 takes node j+1
    when bit j of gene i is set; a node with outputs but no inputs takes the
    phase input; a node with inputs but no outputs feeds the phase output;
    isolated nodes are dropped. The residual bit adds the phase input to the output.
    """
    count = len(gene)
    inputs = {1: []} | {
        i + 2: [j + 1 for j, b in enumerate(bits) if b] for i, bits in enumerate(gene[:-1])
    }
    consumed = {j for deps in inputs.values() for j in deps}
    output = [0] if gene[-1][0] else []
    kept: dict[int, list[int]] = {}
    for node in range(1, count + 1):
        has_in, has_out = bool(inputs[node]), node in consumed
        if has_in or has_out:
            kept[node] = inputs[node] or [0]
        if has_in and not has_out:
            output.append(node)
    return kept, sorted(output)


def nsga_net(
    structure: Structure | None = None, rng: np.random.Generator | None = None
) -> Genotype:
    """The NSGA-Net macro model as a NERO-Net genotype (see the module docstring).

    ``rng`` draws the learning unit at random, as NERO-Net seeds a run (the paper keeps
    "the random initialization of other outer level units"): a search passes its run
    RNG. Without it the learning unit is fixed (SGD 0.1, Nesterov), which is what
    ``neronet show-seed`` and post-search training of the baseline use.
    """
    structure = structure or default_structure()
    names = {mod.name for mod in structure.modules}
    if not names >= set(SEED_MODULES):
        raise ConfigError(
            f"the NSGA-Net seed needs modules {', '.join(SEED_MODULES)} in "
            "structure.modules; use NERO-Net's structure"
        )
    grammar = structure.grammar
    genotype = Genotype(
        structure, [], _learning(structure, rng), SearchConfig().default_train_time, 0
    )

    def unit(module: str, terms: str, inputs: list[int]) -> Unit:
        try:
            derivation = grammar.derivation_of(module, parse_terms(terms))
        except GrammarError as err:
            raise ConfigError(
                f"the NSGA-Net seed cannot be written in this grammar ({err}); use "
                "structure.grammar=nero-net.grammar or search.initial=random"
            ) from None
        return Unit(genotype.take_id(), derivation, inputs)

    layout = {"stem": [unit("stem", STEM, [MODULE_INPUT])], "features": []}
    phase_input = MODULE_INPUT
    for p, gene in enumerate(NSGA_NET_MACRO):
        kept, output = phase_wiring(gene)
        ids = {0: phase_input}
        for node, deps in kept.items():
            layout["features"].append(unit("features", MACRO_NODE, [ids[d] for d in deps]))
            ids[node] = layout["features"][-1].id
        # The last phase's output (its single dead-end node) feeds last-transition.
        if p < len(NSGA_NET_MACRO) - 1:
            layout["features"].append(unit("features", TRANSITION, [ids[d] for d in output]))
            phase_input = layout["features"][-1].id
    layout["last-transition"] = [unit("last-transition", LAST_TRANSITION, [MODULE_INPUT])]
    layout["softmax"] = [unit("softmax", SOFTMAX, [MODULE_INPUT])]
    genotype.modules = [layout.get(mod.name, []) for mod in structure.modules]
    try:
        genotype.check()
    except AssertionError as err:
        raise ConfigError(
            f"the NSGA-Net seed does not fit the structure ({err}); use NERO-Net's bounds "
            "(features: skip, levels_back >= 5, max >= 20)"
        ) from None
    return genotype


def _learning(structure: Structure, rng: np.random.Generator | None) -> Derivation:
    if rng is not None:
        return structure.derive(structure.learning, rng)
    return structure.grammar.derivation_of(structure.learning, parse_terms(LEARNING))
