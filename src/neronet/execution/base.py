"""The executor interface between a search and the hardware that evaluates.

The runner hands an executor a batch of :class:`EvalRequest` and receives
``(request, Evaluation)`` pairs as they complete, in any order. Requests carry
only small, picklable data (spec JSON, learning settings, budget, seed and an
optional warm-start blob); every executor builds its own evaluation context
(dataset splits resident on its device) once, so data never travels per task.
Only the search process writes the run store.

An executor is an :class:`Executor` subclass registered with
``@EXECUTORS.register("name")`` and made from the run's config (``executor.kind``
names it; ``check_plugins`` refuses an unknown one). Built in: ``local``,
``workers`` and ``ray`` (Ray is imported only when a Ray executor is made).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from neronet.config import ExecutorConfig, NeroConfig
from neronet.errors import StudyError
from neronet.evaluation.result import Evaluation
from neronet.registry import Registry
from neronet.spec import LearningSpec, NetworkSpec

ProgressFn = Callable[[str, dict[str, Any]], None]


@dataclass(frozen=True)
class EvalRequest:
    """One evaluation to run; ``key`` identifies it in the search."""

    key: str
    spec: NetworkSpec
    learning: LearningSpec
    budget: float
    seed: int
    warm_start: bytes | None = None
    memory_fraction: float | None = None
    """Share of the GPU's memory this evaluation may allocate (set by the scheduler when
    workers share a GPU: a candidate over its share fails alone, never its neighbours)."""


class Executor(ABC):
    """Evaluates batches of requests; a context manager that owns its workers.

    Made as ``cls(config)``: it builds its evaluation context (or its workers') from
    the config, so a plug-in's executor gets the same settings every executor does.

    ``threads`` is the torch CPU thread count each evaluation runs with: float
    reductions on the CPU depend on it, so the run records it and a resume with
    another count is warned about.
    """

    threads: int = 1
    data_splits: dict[str, float | int] | None = None
    """What the splits it evaluates on were drawn by (:func:`make_executor` sets it to the
    config's :attr:`~neronet.config.NeroConfig.splits_identity`; None: no real data, e.g.
    a test's stub). A run refuses an executor on other splits: each run of a study draws
    its own, from its seed and hold-out."""

    @abstractmethod
    def evaluate(
        self, requests: Sequence[EvalRequest], progress: ProgressFn | None = None
    ) -> Iterator[tuple[EvalRequest, Evaluation]]:
        """Yield each request with its evaluation as soon as it is done."""

    @abstractmethod
    def describe(self) -> tuple[tuple[int, int, int], int]:
        """``(input_shape, num_classes)`` of the data the executor evaluates on."""

    @classmethod
    def lanes(cls, executor: ExecutorConfig, parallel: int) -> list[dict[str, Any]]:
        """The executor section of each of ``parallel`` runs evaluated at once (``study
        --parallel``), so that together they use what one run would; an executor that
        cannot be shared out refuses (here: any that does not say how)."""
        raise StudyError(
            f"--parallel {parallel}: executor {executor.kind!r} cannot be shared out among "
            "runs at once; pass --parallel 1 or use executor.kind=workers"
        )

    def close(self) -> None:  # noqa: B027 - optional hook: in-process executors own nothing
        """Release workers and devices."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


EXECUTORS: Registry[type[Executor]] = Registry(
    "executor",
    builtins=(
        "neronet.execution.local",
        "neronet.execution.workers",
        "neronet.execution.ray_executor",
    ),
)


def make_executor(config: NeroConfig) -> Executor:
    """The executor ``executor.kind`` names, made from ``config`` (its splits: those of
    ``config.seed`` and hold-out)."""
    executor = EXECUTORS.get(config.executor.kind)(config)
    executor.data_splits = config.splits_identity
    return executor
