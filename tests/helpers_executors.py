"""Shared pieces of the executor tests: a tiny config, hand-made requests, comparisons.

Evaluations are epoch-capped with a budget far beyond what they need, so
training is deterministic on the CPU and a parallel executor must reproduce
the sequential results bit for bit (weights included), given one torch thread
per evaluation on both sides.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from neronet.config import NeroConfig, grammar_text, load_config
from neronet.evaluation.measurements import provided
from neronet.evaluation.result import Evaluation
from neronet.execution.base import EvalRequest, Executor, ProgressFn
from neronet.execution.local import LocalExecutor
from neronet.execution.scheduling import SlotExecutor
from neronet.search.runner import SearchRun
from neronet.spec import LayerSpec, LearningSpec, NetworkSpec, NodeSpec

OVERRIDES = [
    "data.train=500",
    "data.control=100",
    "data.fitness=100",
    "seed=1",
    "search.generations=2",
    "search.offspring=2",
    "search.initial_size=2",
    "training.max_epochs=3",
    "search.default_train_time=1000",
    "search.max_train_time=3000",
    "training.device=cpu",
    "executor.devices=[cpu]",
    "executor.num_gpus=0",
    "executor.threads=1",
]
"""Digits cut down and a two-generation search whose training stops on the epoch cap,
never on the clock, so one evaluation takes about a second and is deterministic (on the
CPU, also on machines with a GPU)."""


def tiny_config(*overrides: str) -> NeroConfig:
    return load_config(None, [*OVERRIDES, *overrides])


def tiny_spec(filters: int = 8) -> NetworkSpec:
    conv = LayerSpec(
        "conv", {"filters": filters, "kernel": 3, "stride": 1, "padding": "same", "bias": True}
    )
    return NetworkSpec(
        (1, 8, 8),
        10,
        (
            NodeSpec("conv", (-1,), (conv, LayerSpec("bn"), LayerSpec("act", {"fn": "relu"}))),
            NodeSpec("gpool", (0,), (LayerSpec("gpool", {"op": "avg"}),)),
            NodeSpec("fc", (1,), (LayerSpec("fc", {"units": 10, "bias": True}),)),
        ),
    )


def request(key: str, seed: int, batch_size: int = 32) -> EvalRequest:
    """A request; a smaller ``batch_size`` means more steps per epoch, i.e. a slower one."""
    learning = LearningSpec(optimizer="adam", lr=0.01, batch_size=batch_size, early_stop=50)
    return EvalRequest(key, tiny_spec(), learning, 1000.0, seed)


def outcome(evaluation: Evaluation) -> tuple[Any, ...]:
    """What two executors must agree on for the same request, trained weights included."""
    return (
        evaluation.status,
        evaluation.reason,
        evaluation.metrics,
        evaluation.epochs,
        evaluation.weights,
    )


def assert_runs_a_trivial_evaluation(executor: Executor, config: NeroConfig) -> None:
    """The executor contract (every registered executor keeps it): it describes the data
    of ``config`` (digits), and one request comes back once, under its key, trained,
    with a status and only metrics that the config's measurements provide."""
    assert executor.describe() == ((1, 8, 8), 10)
    [(done, evaluation)] = list(executor.evaluate([request("trivial", seed=0)]))
    assert done.key == "trivial" and evaluation.status in ("ok", "ill-fitted")
    assert evaluation.epochs >= 1 and evaluation.weights
    measured = set(provided(config.evaluation.measurements))
    assert "clean_accuracy" in evaluation.metrics and set(evaluation.metrics) <= measured


def sequential(config: NeroConfig, requests: Sequence[EvalRequest]) -> dict[str, tuple[Any, ...]]:
    """Reference outcomes from the in-process executor."""
    with LocalExecutor(config) as executor:
        return {req.key: outcome(ev) for req, ev in executor.evaluate(requests)}


def kill(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)


class KillOnce(Executor):
    """Wraps a pool or Ray executor and SIGKILLs one worker in the middle of a batch.

    ``on_progress`` kills the worker evaluating the key that reports progress
    first (mid-training for sure); otherwise the first worker still running when
    the first result of a batch arrives is killed.
    """

    def __init__(self, inner: SlotExecutor, on_progress: bool) -> None:
        self.inner = inner
        self.on_progress = on_progress
        self.killed: str | None = None

    def describe(self) -> tuple[tuple[int, int, int], int]:
        return self.inner.describe()

    def close(self) -> None:
        self.inner.close()

    def _kill_running(self, key: str | None = None) -> None:
        running = self.inner.running()
        key = key if key in running else next(iter(running), None)
        if self.killed is None and key is not None:
            self.killed = key
            kill(running[key])

    def evaluate(
        self, requests: Sequence[EvalRequest], progress: ProgressFn | None = None
    ) -> Iterator[tuple[EvalRequest, Evaluation]]:
        def forward(key: str, info: dict[str, Any]) -> None:
            self._kill_running(key)
            if progress is not None:
                progress(key, info)

        hook: ProgressFn | None = forward if self.on_progress else progress
        for pair in self.inner.evaluate(requests, hook):
            if not self.on_progress:
                self._kill_running()
            yield pair


def run_search(run_dir: Path, executor: Executor | None = None) -> None:
    """Run the tiny search into ``run_dir`` on ``executor`` (default: in-process)."""
    config = tiny_config()
    text, name = grammar_text(config)
    run = SearchRun.open(config, text, name, run_dir)
    try:
        run.run(executor)
    finally:
        run.store.close()
