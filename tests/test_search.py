"""The (1+lambda) strategy and the runner, driven by a deterministic stub evaluator.

The stub scores a candidate from its architecture digest (plus a bonus for
warm-started training), so these tests check the search's decisions — selection,
ties, warm-up, train-longer warm starts, fair retraining, duplicate cache,
replay-based resume — without training anything.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
from helpers_store import store_fingerprint

from neronet.config import NeroConfig, grammar_text, load_config, parse_config
from neronet.errors import GrammarError, StoreError
from neronet.evaluation.objectives import make_objective, weighted_hrs
from neronet.evaluation.result import Evaluation
from neronet.execution.base import EvalRequest, Executor, ProgressFn
from neronet.genotype import Genotype, structure_for
from neronet.search.runner import SearchRun
from neronet.store import RunStore
from neronet.train.budgeted import TrainState

SMALL = [
    "search.generations=5",
    "search.offspring=3",
    "search.initial_size=3",
    "search.default_train_time=10",
    "search.max_train_time=30",
]


def state_of(key: str) -> bytes:
    """A valid (empty) training state that names the candidate it came from."""
    return TrainState(model_state={}, optimizer=key, optimizer_state={}).to_bytes()


class StubExecutor(Executor):
    """Deterministic fake evaluations; ``crash_after`` simulates a killed process."""

    def __init__(
        self, crash_after: int | None = None, warm_bonus: float = 0.0, bad_states: bool = False
    ) -> None:
        self.bad_states = bad_states
        self.requests: list[EvalRequest] = []
        self.crash_after = crash_after
        self.warm_bonus = warm_bonus

    def describe(self) -> tuple[tuple[int, int, int], int]:
        return (1, 8, 8), 10

    def evaluate(
        self, requests: Sequence[EvalRequest], progress: ProgressFn | None = None
    ) -> Iterator[tuple[EvalRequest, Evaluation]]:
        for request in requests:
            if self.crash_after is not None and len(self.requests) >= self.crash_after:
                raise KeyboardInterrupt
            self.requests.append(request)
            h = int(request.spec.digest()[:8], 16)
            clean = 0.4 + (h % 500) / 1000
            if request.warm_start is not None:
                clean = min(clean + self.warm_bonus, 1.0)
            adv = ((h >> 12) % 600) / 1000
            yield (
                request,
                Evaluation(
                    status="ok",
                    metrics={
                        "clean_accuracy": clean,
                        "adversarial_accuracy": adv,
                        "overall_adversarial_accuracy": clean * adv,
                    },
                    history=[{"epoch": 1, "train_loss": 1.0}],
                    weights=b"weights",
                    train_state=b"damaged" if self.bad_states else state_of(request.key),
                ),
            )


def _config(*overrides: str) -> NeroConfig:
    return load_config(None, [*SMALL, *overrides])


def _run(path: Path, config: NeroConfig, executor: Executor, **kw: object) -> SearchRun:
    text, name = grammar_text(config)
    run = SearchRun.open(config, text, name, path, **kw)  # type: ignore[arg-type]
    run.run(executor)
    return run


def test_same_seed_same_search_and_other_seed_differs(tmp_path: Path) -> None:
    _run(tmp_path / "a", _config(), StubExecutor())
    _run(tmp_path / "b", _config(), StubExecutor())
    _run(tmp_path / "c", _config("seed=7"), StubExecutor())
    a, b, c = (store_fingerprint(tmp_path / n) for n in "abc")
    assert a == b
    assert a["individuals"] != c["individuals"]
    assert a["finished"] is True and len(a["generations"]) == 5


@pytest.mark.parametrize("reevaluate", [True, False])
def test_parent_is_the_fittest_and_ties_keep_the_parent(tmp_path: Path, reevaluate: bool) -> None:
    config = _config("fitness.warmup_tau=1.0", f"search.reevaluate_parent={reevaluate}")
    _run(tmp_path / "r", config, StubExecutor())
    store = RunStore.open(tmp_path / "r", readonly=True)
    previous = None
    for gen in store.generations():
        rows = store.individuals(gen.generation)
        old = [] if previous is None or reevaluate else [store.individual(previous)]
        members = [*old, *rows]
        incumbent = next((m for m in members if m.generation < gen.generation), None)
        incumbent = incumbent or next((r for r in rows if r.mutations == ["reevaluate"]), None)
        best = max(m.metric("clean_accuracy") for m in members)  # warm-up: clean accuracy
        assert store.individual(gen.best_id).metric("clean_accuracy") == best
        if incumbent is not None and incumbent.metric("clean_accuracy") == best:
            assert gen.best_id == incumbent.id  # a tie keeps the parent
        previous = gen.best_id


def test_the_parent_is_trained_again_every_generation(tmp_path: Path) -> None:
    executor = StubExecutor()
    _run(tmp_path / "r", _config(), executor)
    store = RunStore.open(tmp_path / "r", readonly=True)
    gens = store.generations()
    for gen in gens[1:]:
        again = store.individual_by_key(f"g{gen.generation}/p0")
        parent = store.individual(gens[gen.generation - 1].best_id)
        assert again is not None and again.mutations == ["reevaluate"]
        assert again.parent_id == parent.id and again.genotype == parent.genotype
        assert again.cache_of is None and again.warm_start_from is None  # trained from scratch
    seeds = [r.seed for r in executor.requests if r.key.endswith("/p0")]
    assert len(seeds) == len(gens) - 1 and len(set(seeds)) == len(seeds)  # a seed of its own


def test_warmup_switch_is_permanent_and_changes_the_objective(tmp_path: Path) -> None:
    _run(tmp_path / "r", _config("fitness.warmup_tau=0.3"), StubExecutor())
    store = RunStore.open(tmp_path / "r", readonly=True)
    gens = store.generations()
    assert gens[0].info == {"warmup": True, "switched": True}
    assert all(g.info == {"warmup": False, "switched": False} for g in gens[1:])
    for row in store.individuals():
        expected = (
            row.metric("clean_accuracy")
            if row.generation == 0
            else weighted_hrs(row.metric("clean_accuracy"), row.metric("adversarial_accuracy"), 4.0)
        )
        assert row.fitness == pytest.approx(expected)
    assert any(kind == "objective-switch" for _, kind, _ in store.events())


def test_train_longer_child_continues_from_the_parents_state(tmp_path: Path) -> None:
    config = _config(
        *(f"search.mutation.{op}=0" for op in ("add_unit", "replicate_unit", "remove_unit")),
        "search.mutation.train_longer=1.0",
    )
    executor = StubExecutor()
    _run(tmp_path / "r", config, executor)
    structure = structure_for(config)
    store = RunStore.open(tmp_path / "r", readonly=True)
    by_key = {r.key: r for r in executor.requests}
    longer = [r for r in store.individuals() if "train_longer" in r.mutations]
    assert longer, "train_longer at rate 1.0 must fire"
    for row in longer:
        parent = store.individual(row.parent_id)
        assert row.warm_start_from == parent.id
        assert row.train_time == pytest.approx(parent.train_time + 10)
        child_g = Genotype.from_json(row.genotype, structure)
        parent_g = Genotype.from_json(parent.genotype, structure)
        assert child_g.canonical() == parent_g.canonical()  # only the training time differs
        request = by_key[row.key]
        assert request.warm_start == state_of(parent.key)
        assert request.budget == pytest.approx(10.0)  # only the extra time is spent


def test_fair_retrain_when_the_winner_trained_longer(tmp_path: Path) -> None:
    config = _config("search.mutation.train_longer=0.5", "search.generations=6")
    executor = StubExecutor(warm_bonus=0.5)
    _run(tmp_path / "r", config, executor)
    store = RunStore.open(tmp_path / "r", readonly=True)
    retrained = [r for r in store.individuals() if r.mutations == ["fair_retrain"]]
    assert retrained, "a warm-started winner trained longer must trigger fair retraining"
    for row in retrained:
        original = store.individual(row.parent_id)
        assert row.genotype != original.genotype and row.key.split("/")[1].startswith("r")
        assert row.warm_start_from == original.id
        winners = [r for r in store.individuals(row.generation) if r.train_time == row.train_time]
        assert winners and row.train_time > original.train_time
        assert by_key_budget(executor, row.key) == pytest.approx(
            row.train_time - original.train_time
        )


def by_key_budget(executor: StubExecutor, key: str) -> float:
    return next(r.budget for r in executor.requests if r.key == key)


def test_duplicates_are_not_trained_twice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    original = Genotype.random

    def same_every_time(structure, rng, train_time):  # type: ignore[no-untyped-def]
        return original(structure, np.random.default_rng(0), train_time)

    monkeypatch.setattr(
        Genotype, "random", classmethod(lambda cls, *a, **k: same_every_time(*a, **k))
    )
    executor = StubExecutor()
    _run(tmp_path / "r", _config("search.generations=1"), executor)
    store = RunStore.open(tmp_path / "r", readonly=True)
    rows = store.individuals()
    assert len(rows) == 3 and len(executor.requests) == 1
    assert [r.cache_of for r in rows] == [None, 0, 0]
    assert len({(r.metric("clean_accuracy"), r.metric("adversarial_accuracy")) for r in rows}) == 1


def test_reevaluate_duplicates_setting_trains_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = Genotype.random
    monkeypatch.setattr(
        Genotype,
        "random",
        classmethod(
            lambda cls, s, rng, train_time: original(s, np.random.default_rng(0), train_time)
        ),
    )
    executor = StubExecutor()
    _run(
        tmp_path / "r",
        _config("search.generations=1", "search.reevaluate_duplicates=true"),
        executor,
    )
    assert len(executor.requests) == 3


def test_interrupted_run_resumes_by_replay_to_the_same_result(tmp_path: Path) -> None:
    config = _config("search.mutation.train_longer=0.5")
    _run(tmp_path / "full", config, StubExecutor(warm_bonus=0.2))
    total = len(RunStore.open(tmp_path / "full", readonly=True).individuals())
    done = 0
    attempts = 0
    while True:
        attempts += 1
        executor = StubExecutor(crash_after=4, warm_bonus=0.2)
        try:
            _run(tmp_path / "resumed", config, executor)
            break
        except KeyboardInterrupt:
            pass
        now = len(RunStore.open(tmp_path / "resumed", readonly=True).individuals())
        assert now > done  # every attempt commits what it evaluated
        done = now
    assert attempts > 2 and done < total
    assert store_fingerprint(tmp_path / "resumed") == store_fingerprint(tmp_path / "full")


def test_resume_refuses_a_changed_search_config_unless_allowed(tmp_path: Path) -> None:
    _run(tmp_path / "r", _config("search.generations=2"), StubExecutor())
    with pytest.raises(StoreError, match="changed since the run started") as err:
        _run(tmp_path / "r", _config("search.generations=2", "search.offspring=5"), StubExecutor())
    assert "search.offspring" in str(err.value) and "--allow-changed" in str(err.value)
    _run(tmp_path / "r", _config("search.generations=3"), StubExecutor(), allow_changed=True)
    store = RunStore.open(tmp_path / "r", readonly=True)
    assert len(store.generations()) == 3
    assert any(kind == "resume-changed" for _, kind, _ in store.events())
    assert store.meta("config")["search"]["generations"] == 3  # the run is now the changed one
    assert store.meta("finished") is True
    with pytest.raises(StoreError, match="changed the search's history"):
        _run(
            tmp_path / "r",
            _config("search.generations=3", "seed=9"),
            StubExecutor(),
            allow_changed=True,
        )


def test_changing_only_the_device_is_not_a_change(tmp_path: Path) -> None:
    _run(tmp_path / "r", _config("search.generations=1"), StubExecutor())
    _run(tmp_path / "r", _config("search.generations=1", "training.device=cpu"), StubExecutor())
    # nor where the shared memo lives (an experiment restored under another directory)
    moved = _config("search.generations=1", f"store.memo={tmp_path / 'elsewhere'}")
    _run(tmp_path / "r", moved, StubExecutor())


def test_keep_policy_keeps_parents_and_best_k_and_the_parents_state(tmp_path: Path) -> None:
    _run(tmp_path / "r", _config("store.keep_best=2"), StubExecutor())
    store = RunStore.open(tmp_path / "r", readonly=True)
    rows = store.individuals()
    gens = store.generations()
    parents = {g.best_id for g in gens}
    kept = {r.id for r in rows if r.weights_path is not None}
    extra = kept - parents
    assert parents <= kept and len(extra) <= 2
    # ranked under the objective as it is at the end (stored fitness values mix warm-up
    # and HRS scales): no individual of the last generation outranks a kept one
    objective = make_objective(_config("store.keep_best=2"))
    objective.end_generation([1.0])  # the stub run switches to the HRS in generation 0
    score = {r.id: objective.fitness(r.outcome()) for r in rows}
    last = [r.id for r in rows if r.generation == gens[-1].generation and r.id not in kept]
    floor = min((score[k] for k in kept), default=0.0)
    assert all(score[i] <= floor or i in parents for i in last if r_ok(store, i)), (score, kept)
    files = {p.name for p in (tmp_path / "r" / "weights").iterdir()}
    assert files == {f"{i}.safetensors" for i in kept}
    states = {p.name for p in (tmp_path / "r" / "states").iterdir()}
    assert states == {f"{store.best().id}.pt"}


def r_ok(store: RunStore, individual_id: int) -> bool:
    row = store.individual(individual_id)
    return row.status == "ok" and row.cache_of is None


def _resume_through_crashes(path: Path, config: NeroConfig, crash_points: list[int]) -> None:
    for crash_after in [*crash_points, None]:
        try:
            _run(path, config, StubExecutor(crash_after=crash_after, warm_bonus=0.2))
        except KeyboardInterrupt:
            continue


def test_crashes_mid_generation_with_warm_starts_resume_exactly(tmp_path: Path) -> None:
    """Pruning met again on resume must not drop states a later, partly stored
    generation still needs (train-longer children, fair retrains)."""
    config = _config(
        "search.mutation.train_longer=0.5", "search.generations=8", "store.keep_best=1", "seed=3"
    )
    _resume_through_crashes(tmp_path / "full", config, [])
    _resume_through_crashes(tmp_path / "crashed", config, [5, 3, 2, 2, 3, 2, 3])
    assert store_fingerprint(tmp_path / "crashed") == store_fingerprint(tmp_path / "full")
    store = RunStore.open(tmp_path / "crashed", readonly=True)
    assert all(store.individual(g.best_id).weights_path for g in store.generations())


def test_initial_mutants_are_real_mutants(tmp_path: Path) -> None:
    config = parse_config(
        {
            "data": {"dataset": "digits"},
            "search": {
                "initial": "seed",
                "initial_size": 6,
                "generations": 1,
                "default_train_time": 10,
                "mutation": {"train_longer": 1.0},
            },
        }
    )
    _run(tmp_path / "r", config, StubExecutor())
    rows = RunStore.open(tmp_path / "r", readonly=True).individuals()
    assert len(rows) == 6
    assert all("train_longer" not in r.mutations for r in rows)
    assert {r.train_time for r in rows} == {10.0}


def test_parent_is_not_retrained_when_the_winner_is_its_longer_training(tmp_path: Path) -> None:
    # the parent itself competes (no re-evaluation): its train-longer child continues it
    config = _config(
        "search.mutation.train_longer=1.0",
        "search.generations=3",
        "search.reevaluate_parent=false",
    )
    _run(tmp_path / "r", config, StubExecutor(warm_bonus=0.5))
    store = RunStore.open(tmp_path / "r", readonly=True)
    seen = 0
    for gen in store.generations()[1:]:
        rows = store.individuals(gen.generation)
        retrained_parents = [
            r for r in rows if r.mutations == ["fair_retrain"] and r.parent_id == r.warm_start_from
        ]
        previous = store.generations()[gen.generation - 1].best_id
        longer_children = [
            r for r in rows if "train_longer" in r.mutations and r.parent_id == previous
        ]
        winner_is_child = any(r.id == gen.best_id for r in longer_children)
        if winner_is_child:
            seen += 1
            assert all(r.parent_id != previous for r in retrained_parents)
    assert seen, "the case under test must occur"


def test_a_missing_warm_start_state_means_full_training(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _config("search.mutation.train_longer=1.0", "search.generations=2")
    text, name = grammar_text(config)
    run = SearchRun.open(config, text, name, tmp_path / "r")
    executor = StubExecutor()
    monkeypatch.setattr("neronet.search.runner.warm_start_state", lambda store, i: None)
    run.run(executor)
    longer = [r for r in executor.requests if r.key.startswith("g1/o")]
    assert longer and all(r.warm_start is None and r.budget == 20.0 for r in longer)
    store = RunStore.open(tmp_path / "r", readonly=True)
    assert all(r.warm_start_from is None for r in store.individuals(1))
    assert any(kind == "warm-start-missing" for _, kind, _ in store.events())


def test_an_undecodable_individual_is_invalid_not_a_crash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _config("search.generations=2")
    text, name = grammar_text(config)
    run = SearchRun.open(config, text, name, tmp_path / "r")  # the start-up check passes

    def broken(*args: object, **kwargs: object) -> None:
        raise GrammarError("g.grammar: <stem> decodes unknown layer kind 'warp'; fix the grammar")

    monkeypatch.setattr("neronet.phenotype.to_spec", broken)
    executor = StubExecutor()
    run.run(executor)
    rows = RunStore.open(tmp_path / "r", readonly=True).individuals()
    assert rows and not executor.requests
    assert all(r.status == "invalid" and "does not decode" in r.reason for r in rows)


def test_an_unreadable_warm_start_state_means_full_training(tmp_path: Path) -> None:
    config = _config("search.mutation.train_longer=1.0", "search.generations=2")
    executor = StubExecutor(bad_states=True)
    _run(tmp_path / "r", config, executor)
    longer = [r for r in executor.requests if r.key.startswith("g1/o")]
    assert longer and all(r.warm_start is None and r.budget == 20.0 for r in longer)


class MaskingStub(StubExecutor):
    """``g1/o0`` masks its gradient: near-perfect clean and FGSM accuracy, flagged or not."""

    def __init__(self, flagged: bool) -> None:
        super().__init__()
        self.flagged = flagged

    def evaluate(
        self, requests: Sequence[EvalRequest], progress: ProgressFn | None = None
    ) -> Iterator[tuple[EvalRequest, Evaluation]]:
        for request, evaluation in super().evaluate(requests, progress):
            if request.key == "g1/o0":
                evaluation.metrics.update(
                    clean_accuracy=0.99,
                    adversarial_accuracy=1.0,
                    masking_flag=float(self.flagged),
                    masking_pgd_accuracy=0.0,
                )
            yield request, evaluation


@pytest.mark.parametrize("flagged", [True, False])
def test_a_masked_individual_does_not_become_parent_on_its_fgsm_score(
    tmp_path: Path, flagged: bool
) -> None:
    config = _config("fitness.warmup_tau=0.0", "search.generations=2")  # HRS from generation 1
    _run(tmp_path / "r", config, MaskingStub(flagged))
    store = RunStore.open(tmp_path / "r", readonly=True)
    masked = store.individual_by_key("g1/o0")
    assert masked is not None and masked.status == "ok"
    winner = store.generations()[1].best_id
    if flagged:  # A is its PGD accuracy on the probes (0), not FGSM's 100 %
        assert masked.fitness == 0.0 and winner != masked.id
    else:  # the control: unflagged, the same numbers win
        assert masked.fitness == pytest.approx(weighted_hrs(0.99, 1.0)) and winner == masked.id
