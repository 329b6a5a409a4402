"""Fast-DENSER and EvoDENSS grammars run as written; incompatible grammars are refused
with every problem listed, before a run directory exists.

The grammars (tests/fixtures/*-dialect.grammar) are written in each project's
vocabulary (they are not copies of their files): Fast-DENSER's dashes (`pool-max`,
`batch-norm`, `num-units`, `filter-shape`, `gradient-descent`), EvoDENSS's
underscores (`out_channels`, `pool_max`, `batch_norm`, `out_features`, `alpha` for
RMSProp), `act:` written after `layer:conv` / `layer:fc`, and a `softmax` output layer.
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

MODULES = [
    {"name": "features", "min": 1, "max": 4, "init_max": 2},
    {"name": "classification", "min": 0, "max": 1},
    {"name": "softmax", "min": 1, "max": 1},
]


def structure_of(text: str) -> Structure:
    cfg = StructureConfig(modules=[ModuleConfig(**m) for m in MODULES])  # type: ignore[arg-type]
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


def write_config(tmp_path: Path, grammar: str, extra: str = "") -> Path:
    (tmp_path / "dialect.grammar").write_text(grammar)
    modules = "".join(f"    - {m}\n".replace("'", "") for m in MODULES)
    config = tmp_path / "dialect.yaml"
    config.write_text(
        "seed: 1\n"
        "data: {dataset: digits, train: 300, control: 100, fitness: 100}\n"
        f"structure:\n  grammar: {tmp_path / 'dialect.grammar'}\n  modules:\n{modules}"
        "search: {generations: 2, offspring: 2, initial_size: 2, "
        f"default_train_time: 1000, max_train_time: 3000{extra}}}\n"
        "training: {max_epochs: 1}\n"
        "executor: {threads: 1}\n"
    )
    return config


@pytest.mark.parametrize("text", [FAST_DENSER, EVODENSS], ids=["fast-denser", "evodenss"])
def test_dialect_grammar_runs_a_two_generation_search(text: str, tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert main(["evolve", "--config", str(write_config(tmp_path, text)), "--run", str(run)]) == 0
    store = RunStore.open(run, readonly=True)
    try:
        rows = store.individuals()
        assert [g.generation for g in store.generations()] == [0, 1]
        assert all(row.mutations[0] == "random" for row in rows if row.generation == 0)
        # Trained and measured (one epoch: most are still ill-fitted), none undecodable.
        # 2 initial, then the parent again and 2 offspring
        assert len(rows) == 5 and {row.status for row in rows} <= {"ok", "ill-fitted"}
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
    .replace("[batch_size,int,1,16,64] | <adam>", "[batch_size,int,1,16,64] epochs:3 | <adam>")
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
    assert "<learning>: learning key 'epochs' has no per-individual setting" in message
    run = tmp_path / "run"
    config = write_config(tmp_path, INCOMPATIBLE)
    assert main(["evolve", "--config", str(config), "--run", str(run)]) == 2
    err = capsys.readouterr().err.strip()
    assert "3 problems" in err and "\n" not in err and not run.exists()
