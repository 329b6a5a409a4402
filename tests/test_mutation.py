"""Every NERO-Net mutation operator, the mutate() policy, and repair invariants."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neronet import mutation
from neronet.config import ModuleConfig, MutationRates, StructureConfig
from neronet.genotype import MODULE_INPUT, Genotype, Structure, default_structure
from neronet.grammar import Codon, Grammar, RealTerminal
from neronet.mutation import (
    add_connection,
    add_unit,
    dsge_layer,
    dsge_learning,
    mutate,
    mutate_derivation,
    perturb,
    remove_connection,
    remove_unit,
    replicate_unit,
)
from neronet.phenotype import to_spec
from neronet.seeds import nsga_net
from neronet.spec import INPUT

STRUCTURE = default_structure()
FEATURES = 1
NO_RATES = MutationRates(
    add_unit=0,
    replicate_unit=0,
    remove_unit=0,
    add_connection=0,
    remove_connection=0,
    dsge_layer=0,
    dsge_learning=0,
    train_longer=0,
)
TIMES = {"default_train_time": 600.0, "max_train_time": 1800.0}


def random_genotype(seed: int) -> Genotype:
    return Genotype.random(STRUCTURE, np.random.default_rng(seed), 600.0)


def positions(genotype: Genotype, m: int) -> list[list[int]]:
    units = genotype.modules[m]
    where = {u.id: i for i, u in enumerate(units)} | {MODULE_INPUT: -1}
    return [[where[x] for x in u.inputs] for u in units]


def test_add_unit_inserts_a_new_unit_below_max() -> None:
    rng = np.random.default_rng(0)
    g = random_genotype(0)
    before = len(g.modules[FEATURES])
    assert add_unit(g, FEATURES, rng)
    g.check()
    assert len(g.modules[FEATURES]) == before + 1
    assert max(u.id for u in g.modules[FEATURES]) == g.next_id - 1
    softmax = len(STRUCTURE.modules) - 1
    assert not add_unit(g, softmax, rng)  # softmax is at its max of 1


def test_replicate_unit_inserts_an_independent_copy() -> None:
    rng = np.random.default_rng(1)
    g = random_genotype(1)
    originals = {u.id: u for u in g.modules[FEATURES]}
    assert replicate_unit(g, FEATURES, rng)
    g.check()
    (clone,) = [u for u in g.modules[FEATURES] if u.id not in originals]
    twins = [u for u in originals.values() if u.derivation == clone.derivation]
    assert twins and all(t.derivation is not clone.derivation for t in twins)
    for _ in range(20):  # mutating the copy leaves the original alone
        dsge_layer(g, FEATURES, g.modules[FEATURES].index(clone), rng, MutationRates())
    assert all(originals[t.id].derivation == twins[0].derivation for t in twins)


def test_remove_unit_respects_min_and_repairs() -> None:
    rng = np.random.default_rng(2)
    g = nsga_net()
    assert remove_unit(g, FEATURES, rng)
    g.check()
    assert len(g.modules[FEATURES]) == 19
    assert not remove_unit(g, len(g.modules) - 1, rng)  # softmax min 1
    while len(g.modules[FEATURES]) > 1:
        assert remove_unit(g, FEATURES, rng)
        g.check()
    assert not remove_unit(g, FEATURES, rng)


def test_add_connection_adds_one_input_within_reach() -> None:
    rng = np.random.default_rng(3)
    g = nsga_net()
    before = positions(g, FEATURES)
    assert add_connection(g, FEATURES, 5, rng)  # node 6 of phase 1: inputs at 0, 3, 4
    after = positions(g, FEATURES)
    assert after[:5] == before[:5] and after[6:] == before[6:]
    assert len(after[5]) == len(before[5]) + 1 and set(before[5]) < set(after[5])
    assert all(0 <= p < 5 for p in after[5]) and after[5] == sorted(after[5])
    g.check()
    full = positions(g, FEATURES)[5]
    while add_connection(g, FEATURES, 5, rng):
        full = positions(g, FEATURES)[5]
    assert full == [0, 1, 2, 3, 4]  # 5 levels back, all taken
    assert not add_connection(g, FEATURES, 0, rng)  # only the module input is reachable


def test_remove_connection_never_leaves_a_unit_without_input_or_consumer() -> None:
    rng = np.random.default_rng(4)
    for seed in range(30):
        g = random_genotype(seed)
        for i in range(len(g.modules[FEATURES])):
            before = positions(g, FEATURES)[i]
            if remove_connection(g, FEATURES, i, rng):
                assert len(positions(g, FEATURES)[i]) == len(before) - 1
            g.check()
    g = nsga_net()
    assert not remove_connection(g, FEATURES, 1, rng)  # node 2 has a single input


def test_dsge_layer_switches_a_production_and_rederives_below() -> None:
    rng = np.random.default_rng(5)
    g = nsga_net()
    kinds = set()
    for _ in range(60):
        child = g.copy()
        assert dsge_layer(child, FEATURES, 0, rng, MutationRates())
        child.check()
        block = dict(STRUCTURE.grammar.decode("features", child.modules[FEATURES][0].derivation))
        kinds.add(block["block"])
        others = [u.derivation for u in child.modules[FEATURES][1:]]
        assert others == [u.derivation for u in g.modules[FEATURES][1:]]
    assert kinds == {"macro-node", "transition-block"}


def test_dsge_learning_changes_the_learning_unit() -> None:
    rng = np.random.default_rng(6)
    g = nsga_net()
    optimizers = set()
    changed = 0
    for _ in range(60):
        child = g.copy()
        if not dsge_learning(child, rng, MutationRates()):  # an integer redrawn to itself
            assert child.learning == g.learning
            continue
        changed += 1
        assert child.learning != g.learning and child.modules == g.modules
        optimizers.add(dict(STRUCTURE.grammar.decode("learning", child.learning))["learning"])
    assert optimizers == {"sgd", "adam", "rmsprop"} and changed > 50


def test_mutate_derivation_returns_none_when_nothing_can_change() -> None:
    g = Grammar.parse("<s> ::= a:1 [x,int,1,3,3]")
    d = g.derive("s", np.random.default_rng(0), 3)
    assert mutate_derivation(g, "s", d, np.random.default_rng(0), 3, MutationRates()) is None


def test_perturb_floats_is_gaussian_and_clipped() -> None:
    rng = np.random.default_rng(7)
    t = RealTerminal("x", "float", 1, -5.0, 5.0)
    steps = np.array([perturb(t, 0.0, rng, 0.15) for _ in range(4000)])
    assert abs(steps.mean()) < 0.01 and abs(steps.std() - 0.15) < 0.01
    beta = RealTerminal("beta1", "float", 1, 0.5, 1.0)
    top = [perturb(beta, beta.top, rng, 0.15) for _ in range(200)]
    assert all(0.5 <= v < 1.0 for v in top) and top.count(beta.top) > 50


@pytest.mark.parametrize(("mode", "sigma"), [("absolute", 0.15), ("range", 0.15 * 10.0)])
def test_float_steps_have_the_configured_sigma(mode: str, sigma: float) -> None:
    """Fast-DENSER's gauss(0, 0.15) in the terminal's units; `range` scales by max - min."""
    g = Grammar.parse("<s> ::= [x,float,1,-100,-90]")
    rates = MutationRates(float_sigma_mode=mode)  # type: ignore[arg-type]
    rng = np.random.default_rng(3)
    d = g.derive("s", rng, 3).replace("s", 0, Codon(0, ((-95.0,),)))
    steps = []
    for _ in range(2000):
        new = mutate_derivation(g, "s", d, rng, 3, rates)
        assert new is not None
        steps.append(new.codon("s", 0).values[0][0] + 95.0)
    assert abs(np.mean(steps)) < 0.05 * sigma and abs(np.std(steps) - sigma) < 0.05 * sigma


@pytest.mark.parametrize("kind", ["int", "int_power2", "int_power10"])
def test_perturb_redraws_integers_uniformly_in_range(kind: str) -> None:
    rng = np.random.default_rng(8)
    t = RealTerminal("k", kind, 1, -2, 6)
    new = [perturb(t, 2, rng, 0.15) for _ in range(4500)]
    assert all(isinstance(v, int) and -2 <= v <= 6 for v in new)
    counts = np.bincount(np.array(new) + 2, minlength=9)
    assert counts.min() > 400 and counts.max() < 600  # 500 each; sd about 21


def test_power_mutation_moves_the_exponent() -> None:
    g = Grammar.parse("<s> ::= [lr,int_power10,1,-6,-1]")
    rng = np.random.default_rng(9)
    d = g.derive("s", rng, 3)
    for _ in range(50):
        new = mutate_derivation(g, "s", d, rng, 3, MutationRates())
        assert new is not None
        (lr,) = (v for _, v in g.decode("s", new))
        assert lr in {10.0**k for k in range(-6, 0)}
        d = new


def test_train_longer_only_adds_time() -> None:
    rates = NO_RATES.model_copy(update={"train_longer": 1.0, "add_unit": 1.0})
    g = nsga_net()
    child, names = mutate(g, STRUCTURE, rates, np.random.default_rng(0), **TIMES)
    assert names == ["train_longer"] and child.train_time == 1200.0
    assert child.canonical() == g.canonical() and child.next_id == g.next_id
    g.train_time = 1500.0
    child, names = mutate(g, STRUCTURE, rates, np.random.default_rng(0), **TIMES)
    assert names == ["train_longer"] and child.train_time == 1800.0


def test_train_longer_at_the_cap_resets_time_and_mutates() -> None:
    rates = NO_RATES.model_copy(update={"train_longer": 1.0, "dsge_learning": 1.0})
    g = nsga_net()
    g.train_time = 1800.0
    child, names = mutate(g, STRUCTURE, rates, np.random.default_rng(0), **TIMES)
    assert "train_longer" not in names and names == ["dsge_learning"]
    assert child.train_time == 600.0 and child.learning != g.learning


def test_a_child_always_differs_even_with_zero_rates() -> None:
    for seed in range(20):
        g = random_genotype(seed)
        g.train_time = 1200.0
        child, names = mutate(g, STRUCTURE, NO_RATES, np.random.default_rng(seed), **TIMES)
        assert len(names) == 1 and names[0] != "train_longer"
        assert child.canonical() != g.canonical() and child.train_time == 600.0
        child.check()


def test_mutate_does_not_touch_the_parent_and_is_deterministic() -> None:
    g = nsga_net()
    snapshot = g.to_json()
    a = mutate(g, STRUCTURE, MutationRates(), np.random.default_rng(11), **TIMES)
    b = mutate(g, STRUCTURE, MutationRates(), np.random.default_rng(11), **TIMES)
    assert g.to_json() == snapshot
    assert a[0] == b[0] and a[1] == b[1]


def test_all_operators_fire_at_paper_rates() -> None:
    rng = np.random.default_rng(12)
    seen: set[str] = set()
    g = nsga_net()
    for _ in range(60):
        g, names = mutate(g, STRUCTURE, MutationRates(), rng, **TIMES)
        seen.update(names)
    assert seen == {
        "add_unit",
        "replicate_unit",
        "remove_unit",
        "add_connection",
        "remove_connection",
        "dsge_layer",
        "dsge_learning",
        "train_longer",
    }


def test_add_remove_and_replicate_follow_fast_densers_semantics(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Over 1,000 seeded mutations of the seed's features module: add and remove are each
    attempted randint(1, 2) times (1.5 on average) and fire at their rate, so
    0.25 x 1.5 = 0.375 adds and 0.375 removes per mutation; 35 % of the adds are copies.

    Tolerances are about 3.5 standard deviations of each estimate (sd 0.017 for the
    means, 0.025 for the copy share), and the features module grows by about zero.
    """
    counts = {"add_unit": 0, "replicate_unit": 0, "remove_unit": 0}

    def counted(name: str) -> None:
        op = getattr(mutation, name)

        def wrapper(genotype: Genotype, m: int, rng: np.random.Generator) -> bool:
            done = op(genotype, m, rng)
            counts[name] += int(done and m == FEATURES)
            return done

        monkeypatch.setattr(mutation, name, wrapper)

    for name in counts:
        counted(name)
    rates = MutationRates(train_longer=0.0)
    seed, rng, growth = nsga_net(), np.random.default_rng(0), 0
    for _ in range(1000):
        child, _ = mutate(seed, STRUCTURE, rates, rng, **TIMES)
        growth += len(child.modules[FEATURES]) - len(seed.modules[FEATURES])
    added = counts["add_unit"] + counts["replicate_unit"]
    assert abs(added / 1000 - 0.375) < 0.06
    assert abs(counts["remove_unit"] / 1000 - 0.375) < 0.06
    assert abs(counts["replicate_unit"] / added - 0.35) < 0.09
    assert abs(growth / 1000) < 0.08


def test_an_added_unit_is_a_copy_only_when_reuse_fires() -> None:
    g = nsga_net()
    existing = [u.derivation for u in g.modules[FEATURES]]
    only_copies = NO_RATES.model_copy(update={"add_unit": 1.0, "replicate_unit": 1.0})
    child, names = mutate(g, STRUCTURE, only_copies, np.random.default_rng(5), **TIMES)
    added = [u for u in child.modules[FEATURES] if u.id >= g.next_id]
    assert "replicate_unit" in names and added
    assert all(u.derivation in existing for u in added)
    # An empty module has nothing to copy: its added unit is new.
    assert len(child.modules[3]) > len(g.modules[3]) == 0 and "add_unit" in names
    only_new = NO_RATES.model_copy(update={"add_unit": 1.0})
    _, names = mutate(g, STRUCTURE, only_new, np.random.default_rng(5), **TIMES)
    assert names == ["add_unit"]


def assert_valid_network(genotype: Genotype) -> None:
    """The phenotype is a DAG from the input to the last node with no dead end."""
    spec = to_spec(genotype)
    consumed = {INPUT}
    for i, node in enumerate(spec.nodes):
        assert node.inputs and all(INPUT <= j < i for j in node.inputs)
        consumed.update(node.inputs)
    assert consumed == {INPUT, *range(len(spec.nodes) - 1)}


SMALL = Structure.from_config(
    StructureConfig(
        modules=[
            ModuleConfig(name="stem", min=0, max=1),
            ModuleConfig(name="features", min=1, max=6, skip=True, levels_back=3, init_max=3),
            ModuleConfig(name="classification", min=0, max=2),
            ModuleConfig(name="softmax", min=1, max=1),
        ]
    ),
    Grammar.shipped("nero-net.grammar"),
)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    steps=st.integers(1, 12),
    scale=st.floats(0.0, 1.0),
    small=st.booleans(),
)
def test_any_sequence_of_mutations_keeps_a_valid_bounded_dag(
    seed: int, steps: int, scale: float, small: bool
) -> None:
    structure = SMALL if small else STRUCTURE
    rng = np.random.default_rng(seed)
    rates = MutationRates(
        **{
            k: v * scale
            for k, v in MutationRates().model_dump().items()
            if isinstance(v, float) and k != "float_sigma"
        }
    )
    g = Genotype.random(structure, rng, 600.0)
    g.check()
    for _ in range(steps):
        g, names = mutate(g, structure, rates, rng, **TIMES)
        g.check()
        assert names
        for mod, units in zip(structure.modules, g.modules, strict=True):
            assert mod.min <= len(units) <= mod.max
        assert_valid_network(g)
    assert Genotype.from_json(g.to_json(), structure) == g
