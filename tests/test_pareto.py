"""The Pareto search: sorting, crowding and hypervolume against pymoo on random points,
the ``pareto`` objective, NSGA-II and random search driven by the stub evaluator, and the
front that ``best`` prints.

pymoo is the reference implementation (Deb et al.'s NSGA-II as pymoo 0.6 computes it:
``NonDominatedSorting``, the ``cd`` crowding function, the ``HV`` indicator); neronet's own
implementation must agree with it point for point, ties and duplicates included.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
from helpers_store import store_fingerprint
from pymoo.indicators.hv import HV
from pymoo.operators.survival.rank_and_crowding.metrics import get_crowding_function
from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting
from test_plugins import _trace
from test_search import StubExecutor, _run

from neronet.cli import main
from neronet.config import NeroConfig, load_config
from neronet.errors import ConfigError
from neronet.evaluation.objectives import make_objective
from neronet.evaluation.result import Evaluation, Outcome
from neronet.execution.base import EvalRequest, ProgressFn
from neronet.genotype import structure_for
from neronet.plugins import check_plugins
from neronet.search import pareto
from neronet.search.base import Strategy
from neronet.search.strategies import STRATEGIES, make_strategy
from neronet.store import RunStore

SMALL = [
    "search.generations=5",
    "search.offspring=4",
    "search.initial_size=4",
    "search.default_train_time=10",
    "search.max_train_time=30",
]


def random_points(seed: int) -> Iterator[np.ndarray]:
    """Point sets of 1..40 points in 1..4 objectives; every third one rounded (ties, twins)."""
    rng = np.random.default_rng(seed)
    for case in range(150):
        points = rng.random((int(rng.integers(1, 41)), int(rng.integers(1, 5))))
        yield np.round(points, 1) if case % 3 == 0 else points


@pytest.mark.parametrize("seed", [0, 1])
def test_sorting_matches_pymoo(seed: int) -> None:
    for points in random_points(seed):
        expected = [sorted(front.tolist()) for front in NonDominatedSorting().do(points)]
        assert [f.tolist() for f in pareto.non_dominated_fronts(points)] == expected


@pytest.mark.parametrize("seed", [0, 1])
def test_crowding_matches_pymoo(seed: int) -> None:
    crowding = get_crowding_function("cd")
    for points in random_points(seed):
        for front in pareto.non_dominated_fronts(points):
            expected = crowding.do(points[front])
            np.testing.assert_allclose(pareto.crowding_distance(points[front]), expected)


@pytest.mark.parametrize("seed", [0, 1])
def test_hypervolume_matches_pymoo(seed: int) -> None:
    for points in random_points(seed):
        reference = np.full(points.shape[1], 0.9)  # some points lie beyond it
        expected = HV(ref_point=reference)(points)
        assert pareto.hypervolume(points, reference) == pytest.approx(expected, abs=1e-12)


def test_unmeasured_points_share_the_last_front_without_nan() -> None:
    points = np.array([[0.1, 0.5], [math.inf, math.inf], [0.5, 0.1], [math.inf, math.inf]] * 2)
    fronts = pareto.non_dominated_fronts(points)
    assert [f.tolist() for f in fronts] == [[0, 2, 4, 6], [1, 3, 5, 7]]
    assert np.array_equal(pareto.crowding_distance(points[fronts[1]]), np.zeros(4))
    assert pareto.best_first(points, list(range(8)))[-4:] == [1, 3, 5, 7]


# ---------------------------------------------------------------- the objective
def _pareto(*overrides: str) -> NeroConfig:
    pareto_search = ["search.strategy=nsga2", "search.objective=pareto"]
    return load_config(None, [*SMALL, *pareto_search, *overrides])


def test_pareto_fitness_is_higher_is_better_and_unmeasured_is_worst() -> None:
    objective = make_objective(_pareto())
    metrics = {"clean_accuracy": 0.9, "adversarial_accuracy": 0.3, "parameters": 2e6}
    assert objective.fitness(Outcome(1, "ok", metrics)) == (0.9, 0.3, -2e6)
    assert objective.fitness(Outcome(2, "ill-fitted", metrics)) == (-math.inf,) * 3
    assert objective.components() == ("clean_accuracy", "adversarial_accuracy", "parameters")
    # the share of the box [0, 1] x [0, 1] x [1e7, 0] that the point dominates
    assert objective.hypervolume([(0.9, 0.3, -2e6)]) == pytest.approx(0.9 * 0.3 * 0.8)
    assert objective.hypervolume([(-math.inf,) * 3]) == 0.0


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["evaluation.measurements=[clean, parameters]"], "adversarial_accuracy"),
        (["fitness.pareto=[{metric: flops, goal: min, reference: 1e9}]"], "flops"),
        (["fitness.pareto=[{metric: parameters, goal: min}]"], "needs a reference"),
        (["fitness.pareto=[{metric: clean_accuracy, goal: max, ideal: -1}]"], "above"),
        (["search.strategy=one-plus-lambda"], "vector objective"),
    ],
)
def test_bad_pareto_configs_are_one_line_errors(overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        check_plugins(_pareto(*overrides))
    assert message in str(info.value) and "\n" not in str(info.value)


VECTOR_STRATEGIES = [n for n in STRATEGIES.names() if STRATEGIES.get(n).vector_objectives]


@pytest.mark.parametrize("name", VECTOR_STRATEGIES)
def test_vector_strategies_keep_the_contract_under_the_pareto_objective(name: str) -> None:
    """The strategy contract (determinism, resume by replay) with a tuple fitness."""

    def strategy(seed: int = 0) -> Strategy:
        config = _pareto(f"search.strategy={name}", f"seed={seed}")
        return make_strategy(config, structure_for(config))

    whole = list(_trace(strategy()))
    assert whole == list(_trace(strategy())) and whole != list(_trace(strategy(1)))
    original, replayed = strategy(), strategy()
    assert list(_trace(replayed, 3)) == list(_trace(original, 3))
    assert list(_trace(replayed)) == list(_trace(original))


# ---------------------------------------------------------- NSGA-II on the stub
class ParetoStub(StubExecutor):
    """The stub's accuracies plus a parameter count from the architecture digest."""

    def evaluate(
        self, requests: Sequence[EvalRequest], progress: ProgressFn | None = None
    ) -> Iterator[tuple[EvalRequest, Evaluation]]:
        for request, evaluation in super().evaluate(requests, progress):
            evaluation.metrics["parameters"] = float(int(request.spec.digest()[8:14], 16) % 900_000)
            yield request, evaluation


def test_nsga2_best_is_the_front_of_the_last_population(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _pareto()
    run = _run(tmp_path / "r", config, ParetoStub())
    store = RunStore.open(tmp_path / "r", readonly=True)
    rows = store.individuals()
    assert len(rows) == run.strategy.planned == 4 + 4 * 4
    last = store.generations()[-1]
    # the last population: the mu best of the last generation's parents and children
    population = run.strategy._population
    costs = pareto.costs_of([store.individual(m.id).fitness for m in population])
    first = NonDominatedSorting().do(costs, only_non_dominated_front=True)
    assert sorted(last.elites) == sorted(population[i].id for i in first)
    hv = make_objective(config).hypervolume([store.individual(i).fitness for i in last.elites])
    assert last.best_fitness == pytest.approx(hv)
    capsys.readouterr()
    assert main(["best", str(tmp_path / "r"), "--json"]) == 0
    front = json.loads(capsys.readouterr().out)
    assert [m["id"] for m in front] == list(last.elites)
    assert [m["clean_accuracy"] for m in front] == sorted(
        (m["clean_accuracy"] for m in front), reverse=True
    )
    assert set(front[0]) == {"id", "key", "generation", *make_objective(config).components()}
    assert main(["best", str(tmp_path / "r")]) == 0
    text = capsys.readouterr().out
    assert text.startswith(f"Pareto front of {len(front)}") and "params" in text


def test_nsga2_is_deterministic_and_resumes_after_a_kill(tmp_path: Path) -> None:
    config = _pareto()
    _run(tmp_path / "a", config, ParetoStub())
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path / "b", config, ParetoStub(crash_after=9))
    _run(tmp_path / "b", config, ParetoStub())
    assert store_fingerprint(tmp_path / "a") == store_fingerprint(tmp_path / "b")


def test_report_of_a_pareto_run_plots_front_and_hypervolume(tmp_path: Path) -> None:
    _run(tmp_path / "r", _pareto(), ParetoStub())
    assert main(["report", str(tmp_path / "r"), "--out", str(tmp_path / "rep")]) == 0
    files = {p.name for p in (tmp_path / "rep").iterdir()}
    assert {"front.png", "hypervolume.png", "summary.md"} <= files
    assert "fitness.png" not in files
    assert "## Pareto front" in (tmp_path / "rep" / "summary.md").read_text()


# ------------------------------------------------------------------ random search
def test_random_search_spends_the_one_plus_lambda_budget_deterministically(
    tmp_path: Path,
) -> None:
    # clean accuracy: an objective without state, so "best so far" is checked by hand
    random = load_config(None, [*SMALL, "search.strategy=random", "search.objective=accuracy"])
    run = _run(tmp_path / "a", random, StubExecutor())
    _run(tmp_path / "b", random, StubExecutor())
    es = _run(tmp_path / "es", load_config(None, SMALL), StubExecutor())
    assert run.strategy.planned == es.strategy.planned == 4 + 4 * 5  # parent re-evaluated
    store = RunStore.open(tmp_path / "a", readonly=True)
    rows = store.individuals()
    assert len(rows) == run.strategy.planned
    assert all(r.mutations == ["random"] and r.parent_id is None for r in rows)
    assert store_fingerprint(tmp_path / "a") == store_fingerprint(tmp_path / "b")
    objective = make_objective(random)
    for gen in store.generations():
        upto = [r for r in rows if r.generation <= gen.generation]
        best = max(objective.fitness(r.outcome()) for r in upto)
        first_best = next(r.id for r in upto if objective.fitness(r.outcome()) == best)
        assert gen.elites == (first_best,)


@pytest.mark.parametrize(
    "line", ["search.objective=accuracy", "search.strategy=random", "search.strategy=nsga2"]
)
def test_configs_that_differ_in_one_line_run(tmp_path: Path, line: str) -> None:
    config = load_config(None, [*SMALL, line])
    run = _run(tmp_path / "r", config, StubExecutor())
    store = RunStore.open(tmp_path / "r", readonly=True)
    assert store.meta("finished") and len(store.individuals()) == run.strategy.planned


def test_random_search_with_the_pareto_objective_keeps_the_front_so_far(tmp_path: Path) -> None:
    _run(tmp_path / "r", _pareto("search.strategy=random"), ParetoStub())
    store = RunStore.open(tmp_path / "r", readonly=True)
    rows = store.individuals()
    costs = pareto.costs_of([r.fitness for r in rows])
    first = NonDominatedSorting().do(costs, only_non_dominated_front=True)
    assert sorted(store.generations()[-1].elites) == sorted(rows[i].id for i in first)


def test_a_real_pareto_search_on_digits_exports_any_front_member(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "r"
    tiny = [
        "search.strategy=nsga2",
        "search.objective=pareto",
        "search.generations=2",
        "search.offspring=2",
        "search.initial_size=2",
        "data.train=200",
        "data.control=60",
        "data.fitness=60",
        "training.max_epochs=1",
        "search.default_train_time=1000",
        "search.max_train_time=3000",
    ]
    assert main(["evolve", "--run", str(run), *tiny]) == 0
    capsys.readouterr()
    assert main(["best", str(run), "--json"]) == 0
    front = json.loads(capsys.readouterr().out)
    for member in front:
        out = tmp_path / f"m{member['id']}.safetensors"
        assert main(["export", str(run), "--id", str(member["id"]), "--out", str(out)]) == 0
        assert out.stat().st_size > 0
