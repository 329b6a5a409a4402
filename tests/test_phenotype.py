"""Genotype -> NetworkSpec / LearningSpec: terms to layers, wiring, digest, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neronet import nn
from neronet.config import ModuleConfig, StructureConfig
from neronet.errors import GrammarError, InvalidArchitecture
from neronet.genotype import MODULE_INPUT, Genotype, Structure, Unit, default_structure
from neronet.grammar import Derivation, Grammar, parse_terms
from neronet.phenotype import to_learning, to_spec
from neronet.spec import LayerSpec, LearningSpec

STRUCTURE = default_structure()
GRAMMAR = STRUCTURE.grammar
MACRO = (
    "block:macro-node num-filters:32 act:silu layer:bn layer:act layer:conv kernel-size:1 "
    "filters-mult:4 layer:bn layer:act layer:conv kernel-size:3"
)
TRANSITION = (
    "block:transition-block num-filters:48 act:relu layer:conv kernel-size:1 layer:bn "
    "layer:act layer:pool pool-type:avg kernel-size:2 stride:2 padding:valid"
)
FC = "block:fc units:100 act:relu layer:fc bias:True layer:act"
SOFTMAX = "block:softmax layer:fc bias:True"
LEARNING = "learning:adam lr:0.001 beta1:0.75 beta2:0.5 decay:0.000001 batch_size:32 early_stop:3"


def hand_made(ids: list[int]) -> Genotype:
    """No stem and no last-transition; features: macro, transition, macro(skip)."""

    def d(module: str, text: str) -> Derivation:
        return GRAMMAR.derivation_of(module, parse_terms(text))

    a, b, c, e, f = ids
    g = Genotype(
        STRUCTURE,
        [
            [],
            [
                Unit(a, d("features", MACRO), [MODULE_INPUT]),
                Unit(b, d("features", TRANSITION), [a]),
                Unit(c, d("features", MACRO), [MODULE_INPUT, b]),
            ],
            [],
            [Unit(e, d("classification", FC), [MODULE_INPUT])],
            [Unit(f, d("softmax", SOFTMAX), [MODULE_INPUT])],
        ],
        d("learning", LEARNING),
        600.0,
        max(ids) + 1,
    )
    g.check()
    return g


def test_terms_become_layers_with_inherited_defaults() -> None:
    spec = to_spec(hand_made([0, 1, 2, 3, 4]), input_shape=(3, 16, 16), num_classes=7)
    assert spec.input_shape == (3, 16, 16) and spec.num_classes == 7
    assert [n.block for n in spec.nodes] == [
        "macro-node",
        "transition-block",
        "macro-node",
        "fc",
        "softmax",
    ]
    assert [n.module for n in spec.nodes] == [
        "features",
        "features",
        "features",
        "classification",
        "softmax",
    ]
    conv = {"stride": 1, "padding": "same", "bias": False}
    assert spec.nodes[0].layers == (
        LayerSpec("bn"),
        LayerSpec("act", {"fn": "silu"}),
        LayerSpec("conv", {"filters": 128, "kernel": 1, **conv}),
        LayerSpec("bn"),
        LayerSpec("act", {"fn": "silu"}),
        LayerSpec("conv", {"filters": 32, "kernel": 3, **conv}),
    )
    assert spec.nodes[1].layers[-1] == LayerSpec(
        "pool", {"op": "avg", "kernel": 2, "stride": 2, "padding": "valid"}
    )
    assert spec.nodes[3].layers == (
        LayerSpec("fc", {"units": 100, "bias": True}),
        LayerSpec("act", {"fn": "relu"}),
    )
    assert spec.nodes[4].layers == (LayerSpec("fc", {"units": 7, "bias": True}),)


def test_wiring_uses_node_indices_and_passes_empty_modules() -> None:
    spec = to_spec(hand_made([0, 1, 2, 3, 4]))
    assert [n.inputs for n in spec.nodes] == [(-1,), (0,), (-1, 1), (2,), (3,)]
    g = hand_made([0, 1, 2, 3, 4])
    stem = "block:stem num-filters:16 kernel-size:3 padding:same act:linear layer:conv layer:act"
    g.modules[0] = [Unit(g.take_id(), GRAMMAR.derivation_of("stem", parse_terms(stem)), [-1])]
    g.check()
    spec = to_spec(g)
    assert spec.nodes[0].module == "stem" and spec.nodes[0].inputs == (-1,)
    assert [n.inputs for n in spec.nodes[1:]] == [(0,), (1,), (0, 2), (3,), (4,)]


def test_digest_ignores_unit_ids() -> None:
    a, b = hand_made([0, 1, 2, 3, 4]), hand_made([40, 7, 13, 2, 99])
    assert a.to_json() != b.to_json()
    assert to_spec(a).digest() == to_spec(b).digest()
    assert to_spec(a).to_json() == to_spec(b).to_json()


def test_digest_changes_with_the_architecture() -> None:
    a, b = hand_made([0, 1, 2, 3, 4]), hand_made([0, 1, 2, 3, 4])
    b.modules[1][2].inputs = [b.modules[1][1].id]
    assert to_spec(a).digest() != to_spec(b).digest()


def test_to_learning_decodes_learning_spec_fields() -> None:
    learning = to_learning(hand_made([0, 1, 2, 3, 4]))
    assert learning == LearningSpec(
        optimizer="adam", lr=0.001, decay=1e-6, beta1=0.75, beta2=0.5, batch_size=32, early_stop=3
    )
    rng = np.random.default_rng(1)
    for _ in range(50):
        spec = to_learning(Genotype.random(STRUCTURE, rng, 1.0))
        assert spec.optimizer in ("sgd", "adam", "rmsprop")
        assert isinstance(spec.lr, float) and isinstance(spec.batch_size, int)
        assert spec.batch_size in (32, 64, 128, 256, 512) and 0.5 <= spec.beta1 < 1


def _one_unit_structure(text: str) -> Genotype:
    grammar = Grammar.parse(text, "t.grammar")
    cfg = StructureConfig(modules=[ModuleConfig(name="out", min=1, max=1)], learning="learning")
    structure = Structure.from_config(cfg, grammar)
    return Genotype.random(structure, np.random.default_rng(0), 1.0)


LEARN = "<learning> ::= learning:sgd [lr,float,1,0.01,0.1]\n"


@pytest.mark.parametrize(
    ("rule", "fragment"),
    [
        ("<out> ::= layer:fc colour:red", "'colour' is not used by layer:fc"),
        ("<out> ::= layer:fc layer:act", "does not end with layer:fc"),
        ("<out> ::= layer:conv layer:fc", "needs 'num-filters'"),
        ("<out> ::= layer:conv num-filters:8 padding:full layer:fc", "invalid padding:'full'"),
        ("<out> ::= layer:conv num-filters:8 filters-mult:0 layer:fc", "filters-mult"),
        ("<out> ::= layer:softmax", "unknown layer kind 'softmax'"),
        ("<out> ::= block:out", "no 'layer:' term"),
    ],
)
def test_semantic_grammar_errors_are_one_line(rule: str, fragment: str) -> None:
    g = _one_unit_structure(rule + "\n" + LEARN)
    with pytest.raises(GrammarError, match=fragment) as info:
        to_spec(g)
    assert str(info.value).startswith("t.grammar: <out>") and "\n" not in str(info.value)


def test_unknown_learning_key_is_a_grammar_error() -> None:
    g = _one_unit_structure("<out> ::= layer:fc\n<learning> ::= learning:sgd colour:red")
    with pytest.raises(GrammarError, match="<learning>: unknown learning key 'colour'"):
        to_learning(g)


def test_evolved_epochs_and_weight_decay_are_the_individuals_own() -> None:
    """Fast-DENSER's epochs and EvoDENSS's weight_decay decode into the LearningSpec (and so
    its digest); an impossible value is the grammar's range error."""
    text = "<out> ::= layer:fc\n<learning> ::= learning:sgd epochs:10 weight_decay:0.001"
    learning = to_learning(_one_unit_structure(text))
    assert (learning.epochs, learning.weight_decay) == (10, 0.001)
    assert learning.digest() != LearningSpec().digest()
    for bad, fragment in (("epochs:0", "epochs=0"), ("weight_decay:-1.0", "weight_decay=-1.0")):
        g = _one_unit_structure(f"<out> ::= layer:fc\n<learning> ::= learning:sgd {bad}")
        with pytest.raises(GrammarError, match=fragment):
            to_learning(g)


def test_fast_denser_grammar_builds_networks() -> None:
    cfg = StructureConfig(
        grammar="fast-denser.grammar",
        modules=[
            ModuleConfig(name="features", min=1, max=30, init_max=6),
            ModuleConfig(name="classification", min=1, max=10, init_max=2),
            ModuleConfig(name="softmax", min=1, max=1),
        ],
    )
    structure = Structure.from_config(cfg, Grammar.shipped("fast-denser.grammar"))
    rng = np.random.default_rng(0)
    built = 0
    for _ in range(30):
        g = Genotype.random(structure, rng, 1.0)
        spec = to_spec(g, input_shape=(3, 32, 32), num_classes=10)
        assert spec.nodes[-1].layers[-1].params["units"] == 10
        assert to_learning(g).optimizer in ("sgd", "adam", "rmsprop")
        try:
            model = nn.build(spec)
        except InvalidArchitecture:
            continue  # e.g. valid-padded convs shrinking the map below 1x1
        assert model(torch.rand(2, 3, 32, 32)).shape == (2, 10)
        built += 1
    assert built >= 10


def test_figure_3_stem_and_last_transition() -> None:
    """Stem: a plain conv with linear activation, no BN. Last transition: pooling with an
    evolvable kernel and stride 1, or global pooling; a kernel beyond the map is invalid."""
    rng = np.random.default_rng(0)
    stems = {tuple(la.kind for la in _unit_layers("stem", rng)) for _ in range(20)}
    assert stems == {("conv", "act")}
    pools = [_unit_layers("last-transition", rng)[-1] for _ in range(40)]
    assert {la.kind for la in pools} == {"pool", "gpool"}
    kernels = {la.params["kernel"] for la in pools if la.kind == "pool"}
    assert len(kernels) > 2 and all(la.params["stride"] == 1 for la in pools if la.kind == "pool")
    g = hand_made([0, 1, 2, 3, 4])  # one stride-2 transition: 4x4 maps from 8x8 images
    text = (
        "block:last-transition num-filters:16 act:relu layer:conv kernel-size:1 layer:bn "
        "layer:act layer:pool pool-type:max kernel-size:{} stride:1 padding:valid"
    )
    for kernel in (3, 5):
        last = GRAMMAR.derivation_of("last-transition", parse_terms(text.format(kernel)))
        g.modules[2] = [Unit(g.take_id(), last, [MODULE_INPUT])]
        spec = to_spec(g, input_shape=(3, 8, 8))
        if kernel == 3:
            assert nn.infer_shapes(spec)[-3] == (16, 2, 2)
        else:
            with pytest.raises(InvalidArchitecture, match="kernel 5 is larger than the input"):
                nn.infer_shapes(spec)


def _unit_layers(module: str, rng: np.random.Generator) -> list[LayerSpec]:
    """The layers of one random unit of ``module`` (as the network's inner node)."""
    g = hand_made([0, 1, 2, 3, 4])
    index = [m.name for m in STRUCTURE.modules].index(module)
    g.modules[index] = [Unit(g.take_id(), STRUCTURE.derive(module, rng), [MODULE_INPUT])]
    spec = to_spec(g)
    (node,) = [n for n in spec.nodes if n.module == module]
    return list(node.layers)
