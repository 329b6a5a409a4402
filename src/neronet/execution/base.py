"""The executor interface between a search and the hardware that evaluates.

The runner hands an executor a batch of :class:`EvalRequest` and receives
``(request, Evaluation)`` pairs as they complete, in any order. Requests carry
only small, picklable data (spec JSON, learning settings, budget, seed and an
optional warm-start blob); every executor builds its own evaluation context
(dataset splits resident on its device) once, so data never travels per task.
Only the search process writes the run store.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from neronet.config import NeroConfig
from neronet.evaluation.result import Evaluation
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

    ``threads`` is the torch CPU thread count each evaluation runs with: float
    reductions on the CPU depend on it, so the run records it and a resume with
    another count is warned about.
    """

    threads: int = 1

    @abstractmethod
    def evaluate(
        self, requests: Sequence[EvalRequest], progress: ProgressFn | None = None
    ) -> Iterator[tuple[EvalRequest, Evaluation]]:
        """Yield each request with its evaluation as soon as it is done."""

    @abstractmethod
    def describe(self) -> tuple[tuple[int, int, int], int]:
        """``(input_shape, num_classes)`` of the data the executor evaluates on."""

    def close(self) -> None:  # noqa: B027 - optional hook: in-process executors own nothing
        """Release workers and devices."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def make_executor(config: NeroConfig) -> Executor:
    """The executor the config asks for (Ray is imported only when asked for)."""
    kind = config.executor.kind
    if kind == "local":
        from neronet.execution.local import LocalExecutor

        return LocalExecutor(config)
    if kind == "workers":
        from neronet.execution.workers import WorkerPoolExecutor

        return WorkerPoolExecutor(config)
    from neronet.execution.ray_executor import RayExecutor

    return RayExecutor(config)
