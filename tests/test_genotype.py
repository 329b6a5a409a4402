"""Outer structure, random init, repair, invariants and JSON of genotypes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from neronet.config import ModuleConfig, StructureConfig
from neronet.errors import ConfigError, GrammarError
from neronet.genotype import (
    MODULE_INPUT,
    Genotype,
    ModuleDef,
    Structure,
    Unit,
    default_structure,
    repair_module,
)
from neronet.grammar import Grammar

NERO = Grammar.shipped("nero-net.grammar")


def chain_structure(features: ModuleConfig) -> Structure:
    cfg = StructureConfig(modules=[features, ModuleConfig(name="softmax", min=1, max=1)])
    return Structure.from_config(cfg, NERO)


def test_default_structure_is_nero_net() -> None:
    s = default_structure()
    assert [(m.name, m.min, m.max, m.skip) for m in s.modules] == [
        ("stem", 0, 1, False),
        ("features", 1, 30, True),
        ("last-transition", 0, 1, False),
        ("classification", 0, 5, False),
        ("softmax", 1, 1, False),
    ]
    assert s.modules[1].levels_back == 5 and s.modules[1].init_max == 10
    assert s.learning == "learning" and s.max_depth == 10


def test_structure_validates_module_names_and_output() -> None:
    with pytest.raises(GrammarError, match="no rule for '<convolution>'"):
        chain_structure(ModuleConfig(name="convolution", min=1, max=3))
    with pytest.raises(GrammarError, match="no rule for '<optimiser>'"):
        Structure.from_config(StructureConfig(learning="optimiser"), NERO)
    cfg = StructureConfig(modules=[ModuleConfig(name="features", min=0, max=3)])
    with pytest.raises(ConfigError, match="min >= 1"):
        Structure.from_config(cfg, NERO)


def test_random_genotypes_respect_bounds_and_invariants() -> None:
    s = default_structure()
    rng = np.random.default_rng(0)
    counts = set()
    for _ in range(40):
        g = Genotype.random(s, rng, 600.0)
        g.check()
        assert g.train_time == 600.0
        for mod, units in zip(s.modules, g.modules, strict=True):
            assert mod.min <= len(units) <= mod.init_max
            if not mod.skip:
                assert [u.inputs for u in units] == [
                    [MODULE_INPUT if i == 0 else units[i - 1].id] for i in range(len(units))
                ]
        counts.add(len(g.modules[1]))
        assert len({u.id for units in g.modules for u in units}) == g.next_id
    assert min(counts) == 1 and max(counts) == 10


def test_skip_module_links_are_not_forced_to_the_previous_unit() -> None:
    s = default_structure()
    rng = np.random.default_rng(1)
    skipped = 0
    for _ in range(20):
        units = Genotype.random(s, rng, 1.0).modules[1]
        for i, unit in enumerate(units[1:], start=1):
            skipped += units[i - 1].id not in unit.inputs
    assert skipped > 0


def test_random_is_deterministic_given_the_seed() -> None:
    s = default_structure()
    a = Genotype.random(s, np.random.default_rng(42), 600.0)
    b = Genotype.random(s, np.random.default_rng(42), 600.0)
    c = Genotype.random(s, np.random.default_rng(43), 600.0)
    assert a == b and a.to_json() == b.to_json()
    assert a != c


def test_json_round_trip_is_lossless() -> None:
    s = default_structure()
    rng = np.random.default_rng(7)
    for _ in range(10):
        g = Genotype.random(s, rng, 612.5)
        back = Genotype.from_json(g.to_json(), s)
        assert back == g and back.to_json() == g.to_json()
        assert back.structure is s


def test_from_dict_rejects_genotypes_of_another_structure() -> None:
    g = Genotype.random(default_structure(), np.random.default_rng(0), 1.0)
    other = chain_structure(ModuleConfig(name="features", min=1, max=3))
    with pytest.raises(ConfigError, match="structure"):
        Genotype.from_dict(g.to_dict(), other)
    data = json.loads(g.to_json())
    data["modules"][1]["units"][0]["inputs"] = [12345]
    with pytest.raises(ConfigError, match="does not fit"):
        Genotype.from_dict(data, g.structure)


def test_copy_is_deep_but_shares_the_structure() -> None:
    g = Genotype.random(default_structure(), np.random.default_rng(0), 1.0)
    c = g.copy()
    assert c == g and c.structure is g.structure
    c.modules[1][0].inputs.append(99)
    assert 99 not in g.modules[1][0].inputs


def _units(*inputs: list[int]) -> list[Unit]:
    """Units with ids 0..n-1 and the given inputs (MODULE_INPUT = -1)."""
    d = NERO.derive("features", np.random.default_rng(0), 10)
    return [Unit(i, d, list(x)) for i, x in enumerate(inputs)]


SKIP3 = ModuleDef("features", 1, 10, True, 3, 5)


def test_repair_links_dead_ends_to_a_successor_within_reach() -> None:
    rng = np.random.default_rng(0)
    for _ in range(30):
        units = _units([-1], [-1], [-1], [2], [3])  # units 0 and 1 have no consumer
        repair_module(SKIP3, units, rng)
        consumers = {x for u in units for x in u.inputs}
        assert {0, 1} <= consumers
        position = {u.id: i for i, u in enumerate(units)}
        for i, u in enumerate(units):
            assert all(0 < i - position.get(x, -1) <= 3 for x in u.inputs)


def test_repair_drops_links_out_of_reach_and_gives_every_unit_an_input() -> None:
    units = _units([-1], [0], [1], [2], [0])  # unit 4 reaches 4 back, beyond levels_back 3
    repair_module(SKIP3, units, np.random.default_rng(0))
    assert units[4].inputs and 0 not in units[4].inputs
    assert units[4].inputs[0] in (1, 2, 3)
    chain = ModuleDef("classification", 0, 5, False, 1, 5)
    units = _units([], [-1, 0], [0])
    repair_module(chain, units, np.random.default_rng(0))
    assert [u.inputs for u in units] == [[-1], [0], [1]]


def test_check_catches_broken_invariants() -> None:
    s = chain_structure(ModuleConfig(name="features", min=4, max=6, skip=True, levels_back=2))
    g = Genotype.random(s, np.random.default_rng(3), 1.0)
    g.check()
    features = 0

    def broken(change: str) -> Genotype:
        b = g.copy()
        units = b.modules[features]
        if change == "no input":
            units[1].inputs = []
        elif change == "dead end":
            units[1].inputs, units[2].inputs = [MODULE_INPUT], [units[1].id]
        elif change == "forward link":
            units[0].inputs = [units[2].id]
        elif change == "too far back":
            units[3].inputs = [MODULE_INPUT]
        else:
            b.modules[1].append(Unit(b.take_id(), b.modules[1][0].derivation, [0]))
        return b

    for change, message in (
        ("no input", "no input"),
        ("dead end", "no consumer"),
        ("forward link", "out of reach"),
        ("too far back", "out of reach"),
        ("too many", "softmax: 2 units"),
    ):
        with pytest.raises(AssertionError, match=message):
            broken(change).check()
