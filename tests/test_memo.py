"""The evaluation memo: runs that share one train a candidate once, to the same records."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

from helpers_store import store_fingerprint
from test_search import StubExecutor, _config, _run

from neronet.config import NeroConfig
from neronet.evaluation.result import OUT_OF_MEMORY, Evaluation
from neronet.execution.base import EvalRequest
from neronet.robustness.results import AttackMemo, SuiteResults
from neronet.search.memo import EvaluationMemo, memo_key
from neronet.store import RunStore

EPOCHS = ("search.budget=epochs", "search.default_train_time=2", "search.max_train_time=4")


def _memo_of(path: Path) -> dict[int, str | None]:
    store = RunStore.open(path, readonly=True)
    try:
        return {r.id: r.record.get("memo") for r in store.individuals()}
    finally:
        store.close()


def test_runs_that_share_a_memo_train_a_candidate_once_to_the_same_records(
    tmp_path: Path,
) -> None:
    memo = f"store.memo={tmp_path / 'memo'}"
    first = StubExecutor()
    _run(tmp_path / "first", _config(*EPOCHS, memo), first)
    assert first.requests and not any(_memo_of(tmp_path / "first").values())
    # another objective over the same run seed: the same initial individuals, then its own
    second = StubExecutor()
    _run(tmp_path / "second", _config(*EPOCHS, memo, "search.objective=accuracy"), second)
    alone = StubExecutor()
    _run(tmp_path / "alone", _config(*EPOCHS, "search.objective=accuracy"), alone)
    assert store_fingerprint(tmp_path / "second") == store_fingerprint(tmp_path / "alone")
    reused = {i for i, key in _memo_of(tmp_path / "second").items() if key}
    trained = {r.key for r in second.requests}
    assert reused and len(second.requests) + len(reused) == len(alone.requests)
    store = RunStore.open(tmp_path / "second", readonly=True)
    rows = store.individuals()
    assert {r.key for r in rows if r.id not in reused and r.cache_of is None} == trained
    for row in (r for r in rows if r.id in reused):  # blobs copied: inspectable, warm-startable
        assert row.weights_path is None or (tmp_path / "second" / row.weights_path).is_file()
    store.close()
    # a third run, the first's twin, trains nothing and records the same search
    third = StubExecutor()
    _run(tmp_path / "third", _config(*EPOCHS, memo), third)
    assert third.requests == [] and all(_memo_of(tmp_path / "third").values())
    assert store_fingerprint(tmp_path / "third") == store_fingerprint(tmp_path / "first")
    assert "memo" in (tmp_path / "third" / "run.log").read_text()


def test_the_key_holds_what_an_evaluation_depends_on_and_nothing_else(tmp_path: Path) -> None:
    first = StubExecutor()
    _run(tmp_path / "run", _config(*EPOCHS), first)
    request = next(r for r in first.requests if r.warm_start is not None)
    base = _config(*EPOCHS)

    def key(config: NeroConfig = base, req: EvalRequest = request, threads: int = 1) -> str:
        found = memo_key(config, req, threads, None)
        assert found is not None
        return found

    same = [  # how candidates are chosen, where things are kept, how runs are spread
        _config(*EPOCHS, "search.objective=accuracy"),
        _config(*EPOCHS, "search.generations=9", "search.strategy=random"),
        _config(*EPOCHS, "store.keep_best=2", "executor.kind=workers"),
        _config(*EPOCHS, "posttrain.standard.epochs=3", "attack.limit=10"),
    ]
    assert {key(c) for c in same} == {key()}
    other = [
        key(_config(*EPOCHS, "seed=3")),  # other splits of the data
        key(_config(*EPOCHS, "posttrain.holdout=0.3")),  # a train-only dataset's splits
        key(_config(*EPOCHS, "training.max_epochs=2")),
        key(_config(*EPOCHS, "fitness.attack_eps=0.2")),
        key(_config(*EPOCHS, "evaluation.measurements=[clean]")),
        key(_config(*EPOCHS, "search.budget=images")),
        key(threads=2),
        key(req=replace(request, seed=request.seed + 1)),
        key(req=replace(request, budget=request.budget + 1)),
        key(req=replace(request, warm_start=b"another parent")),
        key(req=replace(request, warm_start=None)),
        memo_key(base, request, 1, "a transfer set's sha256"),
    ]
    assert key() not in other and len(set(other)) == len(other)
    assert memo_key(_config(), request, 1, None) is None  # a time budget: never reused


def test_an_entry_gives_back_the_evaluation_it_keeps(tmp_path: Path) -> None:
    memo = EvaluationMemo(tmp_path)
    kept = Evaluation(
        status="ok",
        metrics={"clean_accuracy": 0.5, "pgd_accuracy": math.nan},
        epochs=3,
        stop_reason="budget",
        control_accuracy=0.25,
        seconds={"train": 1.5},
        history=[{"epoch": 1, "train_loss": 2.0}],
        weights=b"\x00weights\xff",
        train_state=b"state",
    )
    memo.add("k", kept)
    back = memo.find("k")
    assert back is not None and back.memo == "k"
    assert math.isnan(back.metrics.pop("pgd_accuracy"))
    kept.metrics.pop("pgd_accuracy")
    assert {**back.__dict__, "memo": None} == kept.__dict__
    ill = Evaluation(status="ill-fitted", metrics={"clean_accuracy": 0.1}, weights=b"w")
    memo.add("ill", ill)
    assert memo.find("ill") == Evaluation(**{**ill.__dict__, "memo": "ill"})
    # out of memory depends on what else held the device: never kept
    memo.add("oom", Evaluation(status="invalid", reason=f"{OUT_OF_MEMORY}: 2 GiB"))
    assert memo.find("oom") is None and not memo.path("oom").exists()
    assert memo.find("absent") is None


def test_a_damaged_entry_is_trained_again_and_rewritten(tmp_path: Path) -> None:
    memo_dir = tmp_path / "memo"
    memo = f"store.memo={memo_dir}"
    first = StubExecutor()
    _run(tmp_path / "first", _config(*EPOCHS, memo), first)
    entries = sorted(memo_dir.glob("*/*"))  # by run seed: runs of other seeds share none
    assert {e.parent.name for e in entries} == {f"seed-{_config().seed}"}
    assert len(entries) == len(first.requests)
    entries[0].write_bytes(b"not a safetensors file")
    again = StubExecutor()
    _run(tmp_path / "again", _config(*EPOCHS, memo), again)
    assert len(again.requests) == 1
    assert EvaluationMemo(entries[0].parent).find(entries[0].stem) is not None
    assert store_fingerprint(tmp_path / "again") == store_fingerprint(tmp_path / "first")


def test_attack_results_are_shared_by_weights_settings_and_where_they_ran(
    tmp_path: Path,
) -> None:
    identity = {
        "models": {"seed-0": "aa", "seed-1": "bb"},
        "attacks": ["fgsm", "autoattack"],
        "settings": {"linf_eps": 0.03, "limit": 100},
        "data": {"dataset": "fashion-mnist"},
    }
    here = AttackMemo(tmp_path / "memo", "cpu (1 thread)")
    first = SuiteResults(tmp_path / "first", identity, here)
    first.save(1, "autoattack", {"adv_correct": "0110"})
    # another suite holding a model with seed-1's weights (named otherwise, listed first)
    moved = {**identity, "models": {"retrained": "bb"}}
    second = SuiteResults(tmp_path / "second", moved, here)
    assert second.load(0, "autoattack") == {"adv_correct": "0110"}
    assert (tmp_path / "second" / "pair-0-autoattack.json").is_file()  # kept by the suite
    assert second.load(0, "fgsm") is None  # not attacked yet
    other_weights = {**identity, "models": {"retrained": "cc"}}
    other_settings = {**moved, "settings": {"linf_eps": 0.1, "limit": 100}}
    other_place = AttackMemo(tmp_path / "memo", "cpu (2 threads)")
    for suite in (
        SuiteResults(tmp_path / "w", other_weights, here),
        SuiteResults(tmp_path / "s", other_settings, here),
        SuiteResults(tmp_path / "p", moved, other_place),
        SuiteResults(tmp_path / "none", moved),
    ):
        assert suite.load(0, "autoattack") is None
    here.path(moved, 0, "autoattack").write_text("{damaged")
    assert SuiteResults(tmp_path / "third", moved, here).load(0, "autoattack") is None
