"""RAS's niching search (strategy ``ras``): its decisions, its schedule, and its runs.

The niching rules are checked by driving the strategy by hand (ask, then tell
chosen outcomes), so each test states exactly which child should win; runs go
through the real runner with the stub evaluator of ``test_search`` (no
training), and one tiny quickstart through the CLI with real training.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers_store import files_fingerprint, store_fingerprint
from test_kill_resume import HUNG_S, _evolve, _kill_when_stored
from test_search import StubExecutor, _run

from neronet.cli import main
from neronet.config import NeroConfig, load_config
from neronet.evaluation.result import Outcome
from neronet.genotype import structure_for
from neronet.ras import RasGenotype, closest
from neronet.search.base import Candidate
from neronet.search.ras_niching import RasNiching
from neronet.search.strategies import make_strategy
from neronet.store import RunStore

RAS = ["search.strategy=ras", "search.objective=accuracy", "search.default_train_time=10"]


def _config(*overrides: str) -> NeroConfig:
    return load_config(None, [*RAS, *overrides])


def _strategy(*overrides: str) -> RasNiching:
    config = _config(*overrides)
    strategy = make_strategy(config, structure_for(config))
    assert isinstance(strategy, RasNiching)
    return strategy


def _scored(batch: list[Candidate], accuracies: list[float], status: str = "ok") -> list[Outcome]:
    return [
        Outcome(c.id, status, {"clean_accuracy": a}) for c, a in zip(batch, accuracies, strict=True)
    ]


def _ids(strategy: RasNiching) -> list[int]:
    return [r.candidate.id for r in strategy.representatives]


def test_a_fitter_child_replaces_its_closest_representative_and_a_worse_one_does_not() -> None:
    strategy = _strategy("ras.initial_models=4", "ras.children=1", "search.generations=2")
    strategy.tell(_scored(strategy.ask(), [0.5] * 4))
    children = strategy.ask()
    assert [c.parent_id for c in children] == [0, 1, 2, 3]
    reps = strategy.representatives
    # child 0 is fitter, child 1 worse, child 2 ties: only child 0 takes a cluster
    summary = strategy.tell(_scored(children, [0.9, 0.1, 0.5, 0.5]))
    genotype = children[0].genotype
    assert isinstance(genotype, RasGenotype)
    cluster = closest(genotype.spectrum(), [r.genotype.spectrum() for r in reps])
    expected = [r.candidate.id for r in reps]
    expected[cluster] = children[0].id
    assert _ids(strategy) == expected
    assert summary.info["replacements"] == 1
    assert summary.elites[0] == children[0].id  # best first
    assert set(summary.elites) == set(expected)


def test_invalid_and_ill_fitted_children_never_replace() -> None:
    # a penalty above every accuracy: a non-ok child would win if only fitness counted
    strategy = _strategy("ras.initial_models=1", "ras.children=2", "fitness.ill_fitted_penalty=2.0")
    strategy.tell(_scored(strategy.ask(), [0.5]))
    children = strategy.ask()
    strategy.tell(
        [Outcome(children[0].id, "invalid", {}), *_scored(children[1:], [0.9], "ill-fitted")]
    )
    assert _ids(strategy) == [0]


def test_two_children_of_one_cluster_meet_the_representative_as_updated() -> None:
    for accuracies, winner, replacements in (([0.6, 0.8], 2, 2), ([0.8, 0.6], 1, 1)):
        # one cluster: every child is closest to it
        strategy = _strategy("ras.initial_models=1", "ras.children=2")
        strategy.tell(_scored(strategy.ask(), [0.5]))
        children = strategy.ask()
        assert [c.id for c in children] == [1, 2]
        # told in reverse: the order of the outcomes does not matter, candidate ids do
        summary = strategy.tell(_scored(children, accuracies)[::-1])
        # 0.8 then 0.6: the second child meets the first (0.8), not the old 0.5, and loses
        assert _ids(strategy) == [winner]
        assert summary.info["replacements"] == replacements


def test_generations_train_on_the_full_split_every_period_and_on_the_subset_between() -> None:
    strategy = _strategy(
        "ras.initial_models=2",
        "search.generations=5",
        "ras.full_training_period=2",
        "ras.train_subset=123",
        "ras.patience=7",
    )
    subsets = []
    while not strategy.finished:
        batch = strategy.ask()
        learnings = {c.genotype.decode((1, 8, 8), 10)[1] for c in batch}
        assert len(learnings) == 1
        (learning,) = learnings
        assert (learning.early_stop, learning.min_delta) == (7, 0.001)
        subsets.append(learning.train_subset)
        summary = strategy.tell(_scored(batch, [0.5] * len(batch)))
        assert summary.info["train_subset"] == learning.train_subset
    assert subsets == [None, 123, None, 123, None]
    assert strategy.planned == 2 + 4 * 2 * 2


def test_layers_and_blocks_no_representative_uses_are_pruned_after_a_generation() -> None:
    strategy = _strategy("ras.initial_models=3", "search.generations=3")
    strategy.tell(_scored(strategy.ask(), [0.5] * 3))
    population = strategy.population
    for accuracies in ([0.9, 0.1, 0.2, 0.3, 0.95, 0.1], [0.1, 0.99, 0.2, 0.3, 0.1, 0.2]):
        batch = strategy.ask()
        before = len(population.blocks)  # the children's new blocks included
        strategy.tell(_scored(batch, accuracies))
        models = [r.model for r in strategy.representatives]
        assert set(population.blocks) == set(population.block_utility(models))
        assert set(population.layers) == set(population.layer_utility(models))
        assert len(population.blocks) < before  # the losing children's blocks are gone


def _genotypes(run: Path) -> list[tuple[str, str]]:
    return [(r.key, r.genotype) for r in RunStore.open(run, readonly=True).individuals()]


SMALL_RUN = ["ras.initial_models=3", "search.generations=4", "ras.full_training_period=2"]


def test_same_seed_same_stored_genotypes_and_another_seed_differs(tmp_path: Path) -> None:
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        _run(tmp_path / name, _config(*SMALL_RUN, f"seed={seed}"), StubExecutor())
    assert _genotypes(tmp_path / "a") == _genotypes(tmp_path / "b")
    assert _genotypes(tmp_path / "a") != _genotypes(tmp_path / "c")
    assert len(_genotypes(tmp_path / "a")) == 3 + 3 * 3 * 2


def test_an_interrupted_ras_run_resumes_to_the_uninterrupted_result(tmp_path: Path) -> None:
    config = _config(*SMALL_RUN)
    _run(tmp_path / "full", config, StubExecutor())
    total = len(_genotypes(tmp_path / "full"))
    done, attempts = 0, 0
    while True:
        attempts += 1
        try:
            # the stub raises KeyboardInterrupt after 5 evaluations, mid-generation
            _run(tmp_path / "resumed", config, StubExecutor(crash_after=5))
            break
        except KeyboardInterrupt:
            pass
        now = len(_genotypes(tmp_path / "resumed"))
        assert now > done  # every attempt commits what it evaluated, then reopens the store
        done = now
    assert attempts > 2 and done < total
    assert store_fingerprint(tmp_path / "resumed") == store_fingerprint(tmp_path / "full")


TINY = [
    "--config",
    str(Path(__file__).parents[1] / "neronet" / "configs" / "ras-quickstart.yaml"),
    "search.generations=2",
    "ras.initial_models=2",
    "ras.train_subset=100",
    "ras.blocks_per_model=[1, 2]",
    "ras.layers_per_block=[1, 2]",
    "data.train=300",
    "data.control=100",
    "data.fitness=100",
    "training.max_epochs=1",
    "executor.threads=1",
    "transfer.epochs=2",
    "transfer.images=4",
    "transfer.thresholds=[3, 10]",
    "transfer.de.iterations=3",
    "transfer.cmaes.iterations=3",
]
"""The RAS quickstart cut to 2 + 4 one-epoch evaluations of tiny networks (seconds), its
transfer set (built on the fly, as the quickstart's) to a few samples."""


def test_ras_quickstart_runs_end_to_end_through_the_cli(tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert main(["evolve", *TINY, "ras.children=1", "--run", str(run)]) in (0, None)
    store = RunStore.open(run, readonly=True)
    assert store.meta("finished") is True
    rows = store.individuals()
    assert len(rows) == 2 + 2
    assert all(RasGenotype.from_json(r.genotype).to_json() == r.genotype for r in rows)
    assert any(r.status == "ok" for r in rows)
    best = store.best()
    assert best is not None and best.metrics["clean_accuracy"] > 0
    # the quickstart's fitness: clean + transfer accuracy on the set built into the run
    assert best.fitness == pytest.approx(
        best.metrics["clean_accuracy"] + best.metrics["transfer_accuracy"]
    )
    assert "adversarial_accuracy" in best.metrics or best.status != "ok"
    assert (run / "transfer-set.safetensors").is_file() and store.meta("transfer_set_sha256")


def test_a_sigkilled_ras_run_resumes_to_the_uninterrupted_result(tmp_path: Path) -> None:
    """Real training, killed on observed store counts as test_kill_resume does."""
    args = ["evolve", *TINY]
    full, killed = tmp_path / "full", tmp_path / "killed"
    assert _evolve(full, args).wait(timeout=HUNG_S) == 0
    total = len(_genotypes(full))
    assert total == 2 + 2 * 2
    for target in (1, 4):  # in generation 0, in the middle of generation 1
        assert target <= _kill_when_stored(killed, target, args) < total
    assert _evolve(killed, args).wait(timeout=HUNG_S) == 0
    assert store_fingerprint(killed) == store_fingerprint(full)
    assert files_fingerprint(killed) == files_fingerprint(full)
