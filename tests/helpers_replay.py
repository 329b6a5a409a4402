"""Replay a search's recorded outcomes through a stub evaluation and read its decisions.

What a search *decides* (genotypes, parents, keys, mutations, seeds, warm starts, cache
hits, fitness, elites, which files it keeps) is a function of the run seed and the
outcomes it is told; the outcomes themselves (accuracies after float training) differ
from CPU to CPU. So a proof that a search is unchanged tells it recorded outcomes
(``ReplayExecutor``) and compares its decisions (``decisions``) exactly: portable,
and no training at all.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from neronet.config import NeroConfig, grammar_text, load_config
from neronet.evaluation.result import Evaluation
from neronet.execution.base import EvalRequest, Executor, ProgressFn
from neronet.search.runner import SearchRun
from neronet.store import RunStore
from neronet.train.budgeted import TrainState

GOLDEN = Path(__file__).parent / "fixtures" / "golden-quickstart.json"
"""Two shortened quickstart runs, recorded by ``tests/fixtures/make_golden.py``."""
EVALUATED = ("status", "reason", "metrics", "epochs")
"""What an executor returns that the search may read (blobs aside)."""


def evaluations(run_dir: str | Path) -> dict[str, dict[str, Any]]:
    """Per key, what the executor returned for each individual a run trained (not
    the cache hits and undecodable ones: the runner made those without an executor)."""
    store = RunStore.open(run_dir, readonly=True)
    try:
        return {
            row.key: {name: row.record[name] for name in EVALUATED} | {"spec_hash": row.spec_hash}
            for row in store.individuals()
            if row.cache_of is None and "seed" in row.record
        }
    finally:
        store.close()


def decisions(run_dir: str | Path) -> dict[str, Any]:
    """Everything the search decided, per individual and generation, and its events."""
    store = RunStore.open(run_dir, readonly=True)
    try:
        individuals = [
            {
                "id": row.id,
                "key": row.key,
                "generation": row.generation,
                "parent_id": row.parent_id,
                "mutations": row.mutations,
                "genotype": json.loads(row.genotype),
                "train_time": row.train_time,
                "warm_start_from": row.warm_start_from,
                "cache_of": row.cache_of,
                "status": row.status,
                "spec_hash": row.spec_hash,
                "learning_hash": row.learning_hash,
                "budget": row.record.get("budget"),
                "seed": row.record.get("seed"),
                "fitness": list(row.fitness) if isinstance(row.fitness, tuple) else row.fitness,
                "weights_path": row.weights_path,
                "state_path": row.state_path,
            }
            for row in store.individuals()
        ]
        generations = [
            {
                "generation": g.generation,
                "elites": list(g.elites),
                "best_fitness": g.best_fitness,
                "mean_fitness": g.mean_fitness,
                "info": g.info,
            }
            for g in store.generations()
        ]
        events = [[kind, message] for _, kind, message in store.events()]
        finished = store.meta("finished")
    finally:
        store.close()
    return {
        "individuals": individuals,
        "generations": generations,
        "events": events,
        "finished": finished,
    }


def recording(run_dir: str | Path) -> dict[str, Any]:
    """A finished run as a replay needs it: the data's shape, the outcomes told, the
    decisions taken (what ``tests/fixtures/golden-quickstart.json`` holds per run)."""
    told = evaluations(run_dir)
    store = RunStore.open(run_dir, readonly=True)
    try:
        spec = next(row.record["spec"] for row in store.individuals() if row.key in told)
    finally:
        store.close()
    return {
        "input_shape": spec["input_shape"],
        "num_classes": spec["num_classes"],
        "evaluations": told,
        "decisions": decisions(run_dir),
    }


class ReplayExecutor(Executor):
    """Answers each request with the evaluation recorded for its key, training nothing.

    A trained individual (status other than ``invalid``) comes with weights and, when
    ``ok``, an (empty, valid) training state, as a real evaluation does: the keep
    policy and train-longer warm starts then act as they did in the recorded run.
    A key the recording lacks, or another architecture under a recorded key, means the
    search already decided otherwise: it fails there, at the first difference.
    """

    def __init__(
        self,
        recorded: Mapping[str, Mapping[str, Any]],
        input_shape: Sequence[int],
        num_classes: int,
    ) -> None:
        self.recorded = recorded
        self.shape = (int(input_shape[0]), int(input_shape[1]), int(input_shape[2]))
        self.num_classes = num_classes
        self.asked: list[str] = []

    def describe(self) -> tuple[tuple[int, int, int], int]:
        return self.shape, self.num_classes

    def evaluate(
        self, requests: Sequence[EvalRequest], progress: ProgressFn | None = None
    ) -> Iterator[tuple[EvalRequest, Evaluation]]:
        for request in requests:
            self.asked.append(request.key)
            if request.key not in self.recorded:
                raise AssertionError(
                    f"the search asked to evaluate {request.key}, which the recorded run "
                    "never evaluated: its decisions changed before this point"
                )
            data = self.recorded[request.key]
            if request.spec.digest() != data["spec_hash"]:
                raise AssertionError(
                    f"the search asked to evaluate {request.key} with another architecture "
                    "than the recorded run: its decisions changed before this point"
                )
            trained = data["status"] != "invalid"
            state = TrainState(model_state={}, optimizer=request.key, optimizer_state={})
            yield (
                request,
                Evaluation(
                    status=data["status"],
                    reason=data["reason"],
                    metrics=dict(data["metrics"]),
                    epochs=data["epochs"],
                    weights=request.key.encode() if trained else None,
                    train_state=state.to_bytes() if data["status"] == "ok" else None,
                ),
            )


def replay(
    run_dir: Path, config: NeroConfig, grammar: tuple[str, str], recorded: Mapping[str, Any]
) -> dict[str, Any]:
    """Search ``config`` in ``run_dir``, told the outcomes of a ``recording``; its decisions."""
    executor = ReplayExecutor(
        recorded["evaluations"], recorded["input_shape"], recorded["num_classes"]
    )
    run = SearchRun.open(config, grammar[0], grammar[1], run_dir)
    try:
        run.run(executor)
    finally:
        run.store.close()
    return decisions(run_dir)


def first_difference(got: dict[str, Any], want: dict[str, Any]) -> str | None:
    """Where two runs' decisions first part (a readable failure), None when they agree."""
    for part in ("individuals", "generations", "events"):
        for i, (a, b) in enumerate(zip(got[part], want[part], strict=False)):
            if a != b:
                fields = sorted(k for k in b if a.get(k) != b[k]) if isinstance(b, dict) else []
                return f"{part}[{i}] differs in {fields or 'value'}: got {a}, recorded {b}"
        if len(got[part]) != len(want[part]):
            return f"{len(got[part])} {part}, recorded {len(want[part])}"
    return None if got == want else "the finished flag differs"


def golden_run(run_dir: Path, seed: int = 0) -> Path:
    """A finished 12-individual quickstart run in a fraction of a second: a golden run's
    outcomes replayed (its weights files are placeholders, not safetensors)."""
    golden = json.loads(GOLDEN.read_text())
    config = load_config(None, [*golden["args"], f"seed={seed}"])
    replay(run_dir, config, grammar_text(config), golden["runs"][str(seed)])
    return run_dir
