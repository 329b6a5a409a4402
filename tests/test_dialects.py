"""Fast-DENSER and EvoDENSS grammars run as written; incompatible grammars are refused
with every problem listed, before a run directory exists.

The grammars (tests/fixtures/*-dialect.grammar) are written in each project's
vocabulary (they are not copies of their files): Fast-DENSER's dashes (`pool-max`,
`batch-norm`, `num-units`, `filter-shape`, `gradient-descent`), EvoDENSS's
underscores (`out_channels`, `pool_max`, `batch_norm`, `out_features`, `alpha` for
RMSProp), `act:` written after `layer:conv` / `layer:fc`, a `softmax` output layer,
evolved `epochs` and `weight_decay`; and EvoDENSS's residual space: modules
`features_1..3` without an fc (neronet's head, `structure.head: fc`), `relu_agg`,
`identity` and the `lars` optimizer.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from neronet.cli import main
from neronet.config import ModuleConfig, StructureConfig
from neronet.errors import GrammarError
from neronet.genotype import Genotype, Structure
from neronet.grammar import Grammar
from neronet.phenotype import check_decodable, to_learning, to_spec
from neronet.spec import LayerSpec
from neronet.store import RunStore

FIXTURES = Path(__file__).parent / "fixtures"
FAST_DENSER = (FIXTURES / "fast-denser-dialect.grammar").read_text()
EVODENSS = (FIXTURES / "evodenss-dialect.grammar").read_text()
RESNET = (FIXTURES / "evodenss-resnet-dialect.grammar").read_text()

MODULES = [
    {"name": "features", "min": 1, "max": 4, "init_max": 2},
    {"name": "classification", "min": 0, "max": 1},
    {"name": "softmax", "min": 1, "max": 1},
]
RESNET_MODULES = [
    {"name": f"features_{i}", "min": 1, "max": 3, "init_max": 2, "skip": True, "levels_back": 2}
    for i in (1, 2, 3)
]


def modules_of(text: str) -> list[dict[str, object]]:
    return RESNET_MODULES if "<features_1>" in text else MODULES


def structure_of(text: str, head: str = "grammar") -> Structure:
    modules = [ModuleConfig(**m) for m in modules_of(text)]  # type: ignore[arg-type]
    cfg = StructureConfig(modules=modules, head=head)  # type: ignore[arg-type]
    return Structure.from_config(cfg, Grammar.parse(text, "dialect.grammar"))


@pytest.mark.parametrize("text", [FAST_DENSER, EVODENSS], ids=["fast-denser", "evodenss"])
def test_dialect_terms_map_onto_neronet_layers(text: str) -> None:
    """act after layer:conv / layer:fc is that layer's activation, never dropped; the
    output's act:softmax is the loss's (logits out); aliases become neronet's keys."""
    structure = structure_of(text)
    check_decodable(structure)
    rng = np.random.default_rng(0)
    kinds: set[str] = set()
    optimizers: set[str] = set()
    for _ in range(30):
        g = Genotype.random(structure, rng, 1.0)
        spec = to_spec(g, input_shape=(1, 8, 8), num_classes=10)
        for node in spec.nodes[:-1]:
            first = node.layers[0]
            kinds.add(first.kind)
            if first.kind in ("conv", "fc"):
                assert len(node.layers) == 2 and node.layers[1].kind == "act"
            if first.kind == "pool":
                assert first.params["op"] in ("max", "avg")
        assert spec.nodes[-1].layers == (LayerSpec("fc", {"units": 10, "bias": True}),)
        optimizers.add(to_learning(g).optimizer)
    assert kinds == {"conv", "pool", "bn", "fc", "dropout"}
    assert optimizers == {"sgd", "adam" if text is FAST_DENSER else "rmsprop"}


def test_residual_dialect_maps_relu_agg_identity_lars_and_gets_neronets_head() -> None:
    """relu_agg: ReLU of the SUM of the unit's inputs, the module's input among them;
    identity: a linear act; LARS keeps lr_weights as lr and lr_biases; the last module
    has no fc, so the output is neronet's head (flatten, fc of the classes)."""
    structure = structure_of(RESNET, head="fc")
    check_decodable(structure)
    rng = np.random.default_rng(0)
    seen: set[str] = set()
    for _ in range(40):
        g = Genotype.random(structure, rng, 1.0)
        spec = to_spec(g, input_shape=(1, 8, 8), num_classes=10)
        starts = {}  # module -> the node index its units take as module input
        for node in spec.nodes[:-1]:
            starts.setdefault(node.module, min(node.inputs))
            if node.merge == "sum":
                seen.add("relu_agg")
                assert node.layers == (LayerSpec("act", {"fn": "relu"}),)
                assert starts[node.module] in node.inputs
            elif node.layers == (LayerSpec("act", {"fn": "linear"}),):
                seen.add("identity")
        head = spec.nodes[-1]
        assert head.module == "head" and head.inputs == (len(spec.nodes) - 2,)
        assert head.layers == (LayerSpec("fc", {"units": 10, "bias": True}),)
        learning = to_learning(g)
        assert learning.epochs == 1 and learning.weight_decay is not None
        if learning.optimizer == "lars":
            seen.add("lars")
            assert 0.05 <= learning.lr < 0.35 and 0.001 <= (learning.lr_biases or 0) < 0.01
    assert seen == {"relu_agg", "identity", "lars"}


def test_a_last_module_without_fc_needs_the_head_option() -> None:
    with pytest.raises(GrammarError, match=r"set structure\.head: fc"):
        check_decodable(structure_of(RESNET))


def test_relu_agg_after_another_layer_is_refused() -> None:
    text = RESNET.replace(
        "<relu_agg> ::= layer:relu_agg", "<relu_agg> ::= layer:batch_norm layer:relu_agg"
    )
    with pytest.raises(GrammarError, match="relu_agg joins the unit's inputs"):
        check_decodable(structure_of(text, head="fc"))


def write_config(
    tmp_path: Path, grammar: str, extra: str = "", structure: str = "", seed: int = 1
) -> Path:
    (tmp_path / "dialect.grammar").write_text(grammar)
    modules = "".join(f"    - {m}\n".replace("'", "") for m in modules_of(grammar))
    config = tmp_path / "dialect.yaml"
    config.write_text(
        f"seed: {seed}\n"
        "data: {dataset: digits, train: 300, control: 100, fitness: 100}\n"
        f"structure:\n  grammar: {tmp_path / 'dialect.grammar'}\n{structure}  modules:\n{modules}"
        "search: {generations: 2, offspring: 2, initial_size: 2, "
        f"default_train_time: 1000, max_train_time: 3000{extra}}}\n"
        "training: {max_epochs: 3}\n"
        "executor: {threads: 1}\n"
    )
    return config


@pytest.mark.parametrize(
    "text", [FAST_DENSER, EVODENSS, RESNET], ids=["fast-denser", "evodenss", "evodenss-resnet"]
)
def test_dialect_grammar_runs_a_two_generation_search(
    text: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """End to end: every individual trains for its grammar's epochs:1, not the config's 3,
    and its stored learning unit records the evolved epochs and weight decay."""
    run = tmp_path / "run"
    structure = "  head: fc\n" if text is RESNET else ""
    # seed 2 draws LARS learning units and relu_agg joins for the residual dialect
    config = write_config(tmp_path, text, structure=structure, seed=2 if text is RESNET else 1)
    assert main(["evolve", "--config", str(config), "--run", str(run)]) == 0
    plan = capsys.readouterr().err.splitlines()[0]
    assert plan.startswith("plan: ") and "at most its learning unit's epochs or" in plan
    assert ("structure.head: fc" in plan) == (text is RESNET)
    store = RunStore.open(run, readonly=True)
    try:
        rows = store.individuals()
        assert [g.generation for g in store.generations()] == [0, 1]
        assert all(row.mutations[0] == "random" for row in rows if row.generation == 0)
        # Trained and measured (one epoch: most are still ill-fitted), none undecodable.
        # 2 initial, then the parent again and 2 offspring
        assert len(rows) == 5 and {row.status for row in rows} <= {"ok", "ill-fitted"}
        assert {row.epochs for row in rows} == {1}
        learned = [row.record["learning"] for row in rows]
        assert all(unit["epochs"] == 1 for unit in learned)
        assert all(("weight_decay" in unit) == (text is not FAST_DENSER) for unit in learned)
        if text is RESNET:  # LARS trained networks with residual joins
            joined = [
                row
                for row in rows
                if row.record["learning"]["optimizer"] == "lars"
                and any(node.get("merge") == "sum" for node in row.record["spec"]["nodes"])
            ]
            assert len(joined) >= 2
    finally:
        store.close()


def test_seed_initialisation_on_a_foreign_grammar_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, FAST_DENSER, ", initial: seed")
    assert main(["evolve", "--config", str(config), "--run", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert "initial 'seed' needs modules stem" in err and "\n" not in err
    assert not (tmp_path / "run").exists()


INCOMPATIBLE = (
    FAST_DENSER.replace(
        "<batch-norm> ::= layer:batch-norm", "<batch-norm> ::= layer:batch-norm momentum:0.9"
    )
    .replace("<dropout> ::= layer:dropout", "<dropout> ::= [units,int,1,2,4] layer:dropout")
    .replace("epochs:1 | <adam>", "epochs:1 amsgrad:True | <adam>")
)


def test_unused_keys_are_refused_with_every_problem_listed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(GrammarError) as info:
        check_decodable(structure_of(INCOMPATIBLE))
    message = str(info.value)
    assert message.startswith("dialect.grammar: 3 problems: ") and "\n" not in message
    assert "<batch-norm>: 'momentum' is not used by layer:batch-norm" in message
    assert "<dropout>: 'units' is used by no layer of the unit (dropout)" in message
    assert "<learning>: unknown learning key 'amsgrad'" in message
    run = tmp_path / "run"
    config = write_config(tmp_path, INCOMPATIBLE)
    assert main(["evolve", "--config", str(config), "--run", str(run)]) == 2
    err = capsys.readouterr().err.strip()
    assert "3 problems" in err and "\n" not in err and not run.exists()
