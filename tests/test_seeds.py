"""The NSGA-Net macro model seed: wiring, size, build, and its fit to the structure."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neronet import nn
from neronet.config import ModuleConfig, MutationRates, StructureConfig, parse_config
from neronet.errors import ConfigError
from neronet.genotype import Genotype, Structure, default_structure
from neronet.grammar import Grammar
from neronet.mutation import mutate
from neronet.phenotype import to_learning, to_spec
from neronet.seeds import NSGA_NET_MACRO, nsga_net, phase_wiring
from neronet.spec import NetworkSpec

# NSGA-Net's dense decoder as published: nodes, phase output convs, the phase-1
# input conv and the classifier, i.e. its 3,370,250 parameters minus the two
# 1x1 128->128 convs (2 x 16,384) that it registers but never runs.
NSGA_NET_PARAMETERS = 3_370_250 - 2 * 128 * 128


def count_parameters(spec: NetworkSpec) -> int:
    """Independent count: conv k*k*in*out (+bias), bn 2C, fc in*out (+bias); concat merge."""
    shapes: list[tuple[int, ...]] = []
    total = 0
    for node in spec.nodes:
        ins = [spec.input_shape if i == -1 else shapes[i] for i in node.inputs]
        if len(ins[0]) == 3:
            shape: tuple[int, ...] = (
                sum(s[0] for s in ins),
                min(s[1] for s in ins),
                min(s[2] for s in ins),
            )
        else:
            shape = (sum(int(np.prod(s)) for s in ins),)
        for layer in node.layers:
            p = layer.params
            if layer.kind in ("conv", "pool"):
                k, s = p["kernel"], p["stride"]
                pad = k // 2 if p["padding"] == "same" else 0
                side = [(x + 2 * pad - k) // s + 1 for x in shape[1:]]
                if layer.kind == "conv":
                    total += k * k * shape[0] * p["filters"] + (p["filters"] if p["bias"] else 0)
                    shape = (p["filters"], *side)
                else:
                    shape = (shape[0], *side)
            elif layer.kind == "bn":
                total += 2 * shape[0]
            elif layer.kind == "gpool":
                shape = (shape[0], 1, 1)
            elif layer.kind == "fc":
                total += int(np.prod(shape)) * p["units"] + (p["units"] if p["bias"] else 0)
                shape = (p["units"],)
        shapes.append(shape)
    return total


def test_phase_wiring_follows_the_published_decoding() -> None:
    # hand-decoded: node i+2 takes node j+1 for bit j of gene i; input-less
    # nodes with outputs take the phase input (0); output-less nodes feed the output
    assert phase_wiring(NSGA_NET_MACRO[0]) == (
        {1: [0], 2: [1], 3: [0], 4: [2], 5: [2, 3, 4], 6: [1, 4, 5]},
        [6],
    )
    assert phase_wiring(NSGA_NET_MACRO[1]) == (
        {1: [0], 2: [0], 3: [0], 4: [2], 5: [2, 4], 6: [1, 2, 3, 4, 5]},
        [6],
    )
    assert phase_wiring(NSGA_NET_MACRO[2]) == (
        {1: [0], 2: [0], 3: [2], 4: [1, 3], 5: [1, 3, 4], 6: [1, 4, 5]},
        [6],
    )


def test_phase_wiring_drops_isolated_nodes_and_honours_the_residual_bit() -> None:
    kept, output = phase_wiring(((0,), (1, 0), (0, 0, 0), (1,)))
    assert kept == {1: [0], 3: [1]}  # nodes 2 and 4 are isolated
    assert output == [0, 3]


def test_seed_is_a_valid_nero_net_genotype() -> None:
    g = nsga_net()
    g.check()
    assert [len(units) for units in g.modules] == [1, 20, 1, 0, 1]
    blocks = [n.block for n in to_spec(g).nodes]
    assert blocks == (
        ["stem"]
        + ["macro-node"] * 6
        + ["transition-block"]
        + ["macro-node"] * 6
        + ["transition-block"]
        + ["macro-node"] * 6
        + ["last-transition", "softmax"]
    )
    assert Genotype.from_json(g.to_json(), g.structure) == g
    assert to_learning(g).optimizer == "sgd" and to_learning(g).batch_size == 128


def test_seed_parameter_count_matches_nsga_net() -> None:
    spec = to_spec(nsga_net())
    assert count_parameters(spec) == NSGA_NET_PARAMETERS == 3_337_482
    assert nn.count_parameters(spec) == NSGA_NET_PARAMETERS


def test_seed_builds_and_classifies_a_batch() -> None:
    model = nn.build(to_spec(nsga_net()))
    assert sum(p.numel() for p in model.parameters()) == NSGA_NET_PARAMETERS
    with torch.no_grad():
        assert model(torch.rand(2, 3, 32, 32)).shape == (2, 10)


def test_seed_with_rng_draws_its_learning_unit() -> None:
    """The paper keeps the random outer-level units: a run's RNG draws the learning unit."""
    a = nsga_net(rng=np.random.default_rng(0))
    b = nsga_net(rng=np.random.default_rng(1))
    assert to_spec(a).digest() == to_spec(b).digest() == to_spec(nsga_net()).digest()
    assert a.learning != b.learning
    assert nsga_net(rng=np.random.default_rng(0)).learning == a.learning
    units = {to_learning(nsga_net(rng=np.random.default_rng(s))) for s in range(8)}
    assert len(units) == 8 and to_learning(nsga_net()) not in units
    assert to_learning(nsga_net()).optimizer == "sgd" and to_learning(nsga_net()).lr == 0.1


def test_seed_mutants_are_valid() -> None:
    rng = np.random.default_rng(0)
    seed = nsga_net()
    for _ in range(10):
        child, names = mutate(
            seed,
            seed.structure,
            MutationRates(),
            rng,
            default_train_time=600.0,
            max_train_time=1800.0,
        )
        child.check()
        assert child.canonical() != seed.canonical() or names == ["train_longer"]


def test_seed_refuses_structures_it_does_not_fit() -> None:
    base = default_structure()
    modules = list(StructureConfig().modules)
    modules[1] = ModuleConfig(name="features", min=1, max=30, skip=True, levels_back=4)
    narrow = Structure.from_config(StructureConfig(modules=modules), base.grammar)
    with pytest.raises(ConfigError, match="levels_back >= 5"):
        nsga_net(narrow)
    no_stem = Structure.from_config(
        StructureConfig(modules=StructureConfig().modules[1:]), base.grammar
    )
    with pytest.raises(ConfigError, match="needs modules"):
        nsga_net(no_stem)


FOREIGN_MODULES = {
    "modules": [{"name": "features", "min": 1, "max": 3}, {"name": "softmax", "min": 1, "max": 1}]
}


def test_structures_without_the_seeds_modules_start_from_random_units() -> None:
    assert parse_config({}).search.initial == "seed"
    assert parse_config({"structure": FOREIGN_MODULES}).search.initial == "random"
    with pytest.raises(ConfigError, match="initial 'seed' needs modules stem, last-transition"):
        parse_config({"structure": FOREIGN_MODULES, "search": {"initial": "seed"}})


def test_seed_fits_the_wide_stem_alternative_grammar() -> None:
    wide = Structure.from_config(StructureConfig(), Grammar.shipped("nero-net-wide-stem.grammar"))
    assert to_spec(nsga_net(wide)).digest() == to_spec(nsga_net()).digest()
