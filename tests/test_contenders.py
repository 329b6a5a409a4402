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


def test_aging_evolution_breeds_from_tournaments_and_kills_the_oldest() -> None:
    config = load_config(
        None,
        [
            "search.strategy=aging",
            "search.objective=accuracy",
            "search.initial=random",
            "search.initial_size=4",
            "search.sample_size=2",
            "search.offspring=3",
            "search.generations=5",
        ],
    )
    strategy = make_strategy(config, structure_for(config))
    population: list[int] = []  # ids, oldest first, as the paper's queue
    fitness: dict[int, float] = {}
    seen = 0
    while not strategy.finished:
        batch = strategy.ask()
        for cand in batch:
            if cand.generation > 0:
                assert cand.parent_id in population  # parents come from the living
                assert cand.key.startswith(f"g{cand.generation}/a")
        outcomes = [_outcome(c) for c in batch]
        summary = strategy.tell(outcomes)
        for o in outcomes:
            fitness[o.id] = o.metrics["clean_accuracy"]
            population = [*population, o.id][-4:]  # the oldest leaves
        seen += len(batch)
        assert summary.elites == (max(fitness, key=lambda i: (fitness[i], -i)),)
    assert seen == strategy.planned == 4 + 4 * (3 + 1)


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
