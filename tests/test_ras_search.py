"""RAS's niching search (strategy ``ras``): its decisions, its schedule, and its runs.

The niching rules are checked by driving the strategy by hand (ask, then tell
chosen outcomes), so each test states exactly which child should win; runs go
through the real runner with the stub evaluator of ``test_search`` (no
training), and one tiny quickstart through the CLI with real training.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from helpers_store import files_fingerprint, store_fingerprint
from test_kill_resume import HUNG_S, _evolve, _kill_when_stored
from test_search import StubExecutor, _run

from neronet.cli import main
from neronet.config import NeroConfig, load_config
from neronet.evaluation.result import Outcome
from neronet.genotype import structure_for
from neronet.ras import MUTATIONS, RasGenotype, closest
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


# Every generation trains on the full split: no re-scoring, the niching alone.
FULL = "ras.full_training_period=1"


def test_a_fitter_child_replaces_its_closest_representative_and_a_worse_one_does_not() -> None:
    strategy = _strategy("ras.initial_models=4", "ras.children=1", "search.generations=2", FULL)
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
    strategy = _strategy(
        "ras.initial_models=1",
        "ras.children=2",
        "fitness.ill_fitted_penalty=2.0",
        FULL,
        "ras.redraws=0",
    )
    strategy.tell(_scored(strategy.ask(), [0.5]))
    children = strategy.ask()
    strategy.tell(
        [Outcome(children[0].id, "invalid", {}), *_scored(children[1:], [0.9], "ill-fitted")]
    )
    assert _ids(strategy) == [0]


def test_invalid_models_are_drawn_again_in_their_slot_up_to_the_limit() -> None:
    """As the authors' code retries: an invalid initial model or child is redrawn in a
    further batch of its generation; the redraw competes in the slot's place."""
    strategy = _strategy("ras.initial_models=2", "ras.children=2", "ras.redraws=2", FULL)
    batch = strategy.ask()
    assert strategy.tell([Outcome(0, "invalid", {}), *_scored(batch[1:], [0.5])]) is None
    (redraw,) = strategy.ask()
    assert redraw.key == "g0/i0-1" and redraw.parent_id is None
    summary = strategy.tell(_scored([redraw], [0.4]))
    assert summary is not None and summary.info["redrawn"] == 1
    assert _ids(strategy) == [redraw.id, 1]  # the redraw holds slot 0
    children = strategy.ask()
    outcomes = [Outcome(children[0].id, "invalid", {}), *_scored(children[1:], [0.1] * 3)]
    assert strategy.tell(outcomes) is None
    for attempt in (1, 2):  # the first child is invalid every time: 2 redraws, then it stays
        (first,) = strategy.ask()
        assert first.key == f"g1/c0.0-{attempt}" and first.parent_id == redraw.id
        if attempt == 1:
            assert strategy.tell([Outcome(first.id, "invalid", {})]) is None
    summary = strategy.tell([Outcome(first.id, "invalid", {})])
    assert summary is not None and summary.info["redrawn"] == 2
    # every attempt is a member of the generation: 4 children, 2 redraws (then the elites)
    assert summary.members[:6] == tuple(range(3, 9))


def test_two_children_of_one_cluster_meet_the_representative_as_updated() -> None:
    for accuracies, winner, replacements in (([0.6, 0.8], 2, 2), ([0.8, 0.6], 1, 1)):
        # one cluster: every child is closest to it
        strategy = _strategy("ras.initial_models=1", "ras.children=2", FULL)
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
        "ras.training.patience=7",
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
    # every later generation switches regime, so both representatives are re-scored
    assert strategy.planned == 2 + 4 * 2 * 2 + 4 * 2


def test_a_new_regime_rescores_the_representatives_before_children_meet_them() -> None:
    """Gen 1 is the first subset generation: the fully trained representatives (0.9) are
    trained again on subsets (0.3) and subset-trained children (0.5, 0.6) meet that score,
    not the full one; gen 2 keeps the regime and re-scores nothing."""
    strategy = _strategy("ras.initial_models=2", "ras.children=1", "search.generations=3")
    strategy.tell(_scored(strategy.ask(), [0.9, 0.9]))
    batch = strategy.ask()
    assert [c.key for c in batch] == ["g1/r0", "g1/r1", "g1/c0.0", "g1/c1.0"]
    rescored = batch[:2]
    assert all(c.mutations == ("rescore",) and not c.cacheable for c in rescored)
    assert [c.parent_id for c in rescored] == [0, 1]
    reps = strategy.representatives
    for candidate, rep in zip(rescored, reps, strict=True):
        genotype = candidate.genotype
        assert isinstance(genotype, RasGenotype)
        assert genotype.model == rep.genotype.model and genotype.learning.train_subset == 1000
    summary = strategy.tell(_scored(batch, [0.3, 0.3, 0.5, 0.6]))
    assert summary.info["rescored"] == 2 and summary.info["replacements"] >= 1
    assert set(_ids(strategy)) <= {c.id for c in batch} and 0 not in _ids(strategy)
    assert [c.key for c in strategy.ask()] == ["g2/c0.0", "g2/c1.0"]
    # off: children meet the full-split scores (0.9) and lose
    strategy = _strategy(
        "ras.initial_models=2", "ras.children=1", "search.generations=3", "ras.rescore=false"
    )
    strategy.tell(_scored(strategy.ask(), [0.9, 0.9]))
    batch = strategy.ask()
    assert [c.key for c in batch] == ["g1/c0.0", "g1/c1.0"]
    assert strategy.tell(_scored(batch, [0.5, 0.6])).info["replacements"] == 0


def test_at_the_papers_sizes_every_mutation_stays_reachable_for_every_cluster() -> None:
    """25 models of U(2,5) blocks of U(2,5) layers start with about 300 layers, above the
    cap of 100: the caps bind only above the initial population, and they see the
    population as the generation began, so the last clusters get what the first get."""
    strategy = _strategy("search.generations=21")
    assert strategy.caps[0] > 100  # the initial population is the layer cap
    rng = np.random.default_rng(0)
    counts: Counter[str] = Counter()
    block_level = {True: Counter[str](), False: Counter[str]()}  # first 5 clusters or last 5
    while not strategy.finished:
        batch = strategy.ask()
        for c in batch:
            counts.update(c.mutations)
            cluster = int(c.key.split("/c")[1].split(".")[0]) if "/c" in c.key else 12
            if cluster < 5 or cluster >= 20:
                block_level[cluster < 5].update(MUTATIONS[m].level for m in c.mutations)
        strategy.tell(_scored(batch, list(rng.random(len(batch)))))
    assert counts.pop("rescore") == 4 * 25  # generations 1, 10, 11 and 20 switch regime
    total = sum(counts.values())
    assert total == 20 * 50 * 5 and set(counts) == set(MUTATIONS)
    assert all(counts[name] / total > 0.04 for name in MUTATIONS)
    shares = [level["block"] / level.total() for level in block_level.values()]
    assert min(shares) > 0.25 and max(shares) - min(shares) < 0.1


def test_layers_and_blocks_no_representative_uses_are_pruned_after_a_generation() -> None:
    strategy = _strategy("ras.initial_models=3", "search.generations=3", FULL)
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
    # 3 models, 3 generations of 6 children, each re-scoring the 3 (the regime alternates)
    assert len(_genotypes(tmp_path / "a")) == 3 + 3 * 3 * 2 + 3 * 3


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
    str(Path(__file__).parents[1] / "src" / "neronet" / "configs" / "ras-quickstart.yaml"),
    "search.generations=2",
    "ras.initial_models=2",
    "ras.train_subset=100",
    "ras.blocks_per_model=[1, 2]",
    "ras.layers_per_block=[1, 2]",
    "data.train=300",
    "data.control=100",
    "data.fitness=100",
    "ras.training.epochs=1",
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
    assert len(rows) == 2 + 2 + 2  # generation 1 (subsets) re-scores the 2 representatives
    assert all(RasGenotype.from_json(r.genotype).to_json() == r.genotype for r in rows)
    ok = [r for r in rows if r.status == "ok"]
    assert ok and store.best() is not None
    for row in ok:  # the quickstart's fitness: clean + transfer accuracy on the run's set
        assert row.fitness == pytest.approx(
            row.metrics["clean_accuracy"] + row.metrics["transfer_accuracy"]
        )
        assert "adversarial_accuracy" in row.metrics
    assert (run / "transfer-set.safetensors").is_file() and store.meta("transfer_set_sha256")
    # the winner retrains with RAS's recipe (Nadam, constant lr), not NERO-Net's SGD
    out = tmp_path / "trained"
    retrain = ["train", "--run", str(run), "--epochs", "1", "--seeds", "1", "--out", str(out)]
    assert main(retrain) == 0
    schedule = json.loads((out / "train.json").read_text())["schedule"]
    assert (schedule["optimizer"], schedule["epochs"], schedule["milestones"]) == ("nadam", 1, [])


def test_a_sigkilled_ras_run_resumes_to_the_uninterrupted_result(tmp_path: Path) -> None:
    """Real training, killed on observed store counts as test_kill_resume does."""
    args = ["evolve", *TINY]
    full, killed = tmp_path / "full", tmp_path / "killed"
    assert _evolve(full, args).wait(timeout=HUNG_S) == 0
    total = len(_genotypes(full))
    assert total == 2 + 2 + 2 * 2  # generation 1: 2 re-scored representatives, 4 children
    for target in (1, 4):  # in generation 0, in the middle of generation 1
        assert target <= _kill_when_stored(killed, target, args) < total
    assert _evolve(killed, args).wait(timeout=HUNG_S) == 0
    assert store_fingerprint(killed) == store_fingerprint(full)
    assert files_fingerprint(killed) == files_fingerprint(full)
