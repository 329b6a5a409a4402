"""The experiment's new contenders: regularized (aging) evolution and the PGD objective.

tests/test_plugins.py drives every registered strategy (aging included) through its
determinism and resume-by-replay contract; here: what makes aging evolution aging, the
PGD objective's formula, and both in a real search with the ``pgd`` measurement.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from neronet.config import grammar_text, load_config
from neronet.evaluation.objectives import make_objective, weighted_hrs
from neronet.evaluation.result import Outcome
from neronet.genotype import structure_for
from neronet.search.base import Candidate
from neronet.search.runner import SearchRun
from neronet.search.strategies import make_strategy
from neronet.store import RunStore


def _outcome(cand: Candidate) -> Outcome:
    h = int(hashlib.sha256(cand.genotype.to_json().encode()).hexdigest()[:8], 16)
    return Outcome(cand.id, "ok", {"clean_accuracy": (h % 1000) / 1000})


@pytest.mark.parametrize(("population", "size"), [(None, 4 + 4), (6, 6)])
def test_aging_evolution_breeds_from_tournaments_and_kills_the_oldest(
    population: int | None, size: int
) -> None:
    """Generation 0 is the other strategies' (4 random genotypes); every later one asks 3
    offspring + 1 (as the (1+lambda), which also trains its parent again) from tournaments
    on the living, who join a population of P that the oldest leave once it is full (P
    unset: 4 + 4, so a member outlives the generation after it). The strategy names the
    living as the members it may breed from, whose training states the store keeps."""
    settings = [
        "search.strategy=aging",
        "search.objective=accuracy",
        "search.initial=random",
        "search.initial_size=4",
        "search.sample_size=2",
        "search.offspring=3",
        "search.generations=5",
    ]
    config = load_config(None, settings + ([f"search.population={population}"] * bool(population)))
    strategy = make_strategy(config, structure_for(config))
    living: list[int] = []  # ids, oldest first, as the paper's queue
    fitness: dict[int, float] = {}
    seen = 0
    while not strategy.finished:
        batch = strategy.ask()
        for cand in batch:
            if cand.generation > 0:
                assert cand.parent_id in living  # parents come from the living
                assert cand.key.startswith(f"g{cand.generation}/a")
        outcomes = [_outcome(c) for c in batch]
        summary = strategy.tell(outcomes)
        for o in outcomes:
            fitness[o.id] = o.metrics["clean_accuracy"]
            living = [*living, o.id][-size:]  # the oldest leaves
        seen += len(batch)
        assert summary.elites == (max(fitness, key=lambda i: (fitness[i], -i)),)
        assert summary.breeders == tuple(living)
        if seen > size:  # full: a generation's 4 children replace 4, not all
            assert len(living) == size and len(set(living) - set(summary.members)) >= 2
    assert seen == strategy.planned == 4 + 4 * (3 + 1)


def test_an_aging_population_no_larger_than_a_generation_is_refused() -> None:
    from neronet.errors import ConfigError

    with pytest.raises(ConfigError, match=r"population=4: .* exceed a generation's 4 children"):
        load_config(None, ["search.population=4", "search.offspring=3"])
    assert load_config(None, ["search.population=4", "search.offspring=2"]).search.population == 4


def test_an_aging_child_that_trains_longer_continues_any_living_parent(tmp_path: Path) -> None:
    """Tournament parents are any living member, not only the best so far: each one's
    training state is kept while it lives, so every train-longer child warm-starts from its
    parent's state (none trains from scratch for lack of it), and the states of the dead
    are deleted."""
    from test_search import StubExecutor, state_of

    config = load_config(
        None,
        [
            "search.strategy=aging",
            "search.initial=random",
            "search.initial_size=4",
            "search.offspring=2",
            "search.generations=6",
            "search.sample_size=3",
            "search.default_train_time=10",
            "search.max_train_time=50",
            "search.mutation.train_longer=1.0",
            *(f"search.mutation.{op}=0" for op in ("add_unit", "replicate_unit", "remove_unit")),
        ],
    )
    text, name = grammar_text(config)
    executor = StubExecutor()
    SearchRun.open(config, text, name, tmp_path / "r").run(executor)
    store = RunStore.open(tmp_path / "r", readonly=True)
    by_key = {r.key: r for r in executor.requests}
    longer = [r for r in store.individuals() if r.warm_start_from is not None]
    parents = {store.individual(r.warm_start_from).id for r in longer}
    assert len(parents - {g.best_id for g in store.generations()}) >= 2  # not only the best
    for row in longer:
        assert by_key[row.key].warm_start == state_of(store.individual(row.warm_start_from).key)
    assert not [e for e in store.events() if e[1] == "warm-start-missing"]
    states = {p.name for p in (tmp_path / "r" / "states").iterdir()}
    # the living population's (P = 4 + 3) and the best so far's, the dead ones' deleted
    assert len(states) <= 4 + 3 + 1 < len(store.individuals())


def test_pgd_objective_is_nero_nets_formula_on_pgd_accuracy() -> None:
    config = load_config(
        None,
        [
            "search.objective=pgd",
            "evaluation.measurements=[clean, pgd, masking]",
            "fitness.warmup_tau=0.0",
        ],
    )
    objective = make_objective(config)
    objective.end_generation([0.5])  # leaves the warm-up
    metrics = {"clean_accuracy": 0.8, "pgd_accuracy": 0.3, "adversarial_accuracy": 0.9}
    assert objective.fitness(Outcome(0, "ok", metrics)) == pytest.approx(weighted_hrs(0.8, 0.3))
    flagged = {**metrics, "masking_flag": 1.0, "masking_pgd_accuracy": 0.1}
    assert objective.fitness(Outcome(1, "ok", flagged)) == pytest.approx(weighted_hrs(0.8, 0.1))
    assert objective.fitness(Outcome(2, "ill-fitted", metrics)) == 0.0
    assert "PGD" in objective.describe()


def test_the_pgd_objective_needs_the_pgd_measurement() -> None:
    from neronet.errors import ConfigError
    from neronet.plugins import check_plugins

    with pytest.raises(ConfigError, match=r"needs metric\(s\) pgd_accuracy"):
        check_plugins(load_config(None, ["search.objective=pgd"]))


def test_aging_evolution_with_the_pgd_objective_runs_a_real_search(tmp_path: Path) -> None:
    config = load_config(
        "quickstart.yaml",
        [
            "search.strategy=aging",
            "search.objective=pgd",
            "evaluation.measurements=[clean, fgsm, pgd, masking, parameters]",
            "fitness.pgd_steps=2",
            "fitness.masking.subset=8",
            "search.generations=2",
            "search.offspring=1",
            "search.initial_size=2",
            "search.sample_size=2",
            "fitness.ill_fitted_share=1.0",  # every trained individual is attacked
            "data.train=150",
            "data.control=40",
            "data.fitness=40",
            "training.max_epochs=1",
        ],
    )
    text, name = grammar_text(config)
    SearchRun.open(config, text, name, tmp_path / "r").run()
    rows = RunStore.open(tmp_path / "r", readonly=True).individuals()
    assert len(rows) == 2 + 1 * 2
    ok = [r for r in rows if r.status == "ok"]
    assert ok, "with the screen off, every buildable individual is attacked"
    for r in ok:
        pgd = r.metrics["pgd_accuracy"]
        assert 0.0 <= pgd <= 1.0
        assert r.metrics["overall_pgd_accuracy"] == pytest.approx(r.metrics["clean_accuracy"] * pgd)
