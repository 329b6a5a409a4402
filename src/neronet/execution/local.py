"""In-process executor: evaluates candidates one after another on one device."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import torch

from neronet.config import ExecutorConfig, NeroConfig
from neronet.evaluation.result import Evaluation
from neronet.execution.base import EXECUTORS, EvalRequest, Executor, ProgressFn
from neronet.execution.scheduling import cpu_threads
from neronet.execution.worker import EvaluationContext


@EXECUTORS.register("local")
class LocalExecutor(Executor):
    """The default executor: this process, one device, data loaded once.

    It sets this process's torch thread count while it is open
    (``executor.threads``, else the machine's cores less one: a run beside one
    other busy process then does not stall on a thread that waits for its core)
    and gives the caller's count back on close.
    """

    def __init__(self, config: NeroConfig) -> None:
        self.threads = config.executor.threads or cpu_threads(1)
        self._caller_threads = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        try:
            self._context = EvaluationContext.from_config(config)
        except BaseException:
            self.close()
            raise

    @classmethod
    def lanes(cls, executor: ExecutorConfig, parallel: int) -> list[dict[str, Any]]:
        """Each run in its own process, as a serial study runs in its one (at the serial
        thread count: set ``executor.threads`` so that ``parallel`` x threads fits)."""
        data = executor.model_dump(mode="json")
        return [{**data, "threads": executor.threads or cpu_threads(1)}] * parallel

    def close(self) -> None:
        torch.set_num_threads(self._caller_threads)

    def describe(self) -> tuple[tuple[int, int, int], int]:
        splits = self._context.splits
        return splits.input_shape, splits.num_classes

    def evaluate(
        self, requests: Sequence[EvalRequest], progress: ProgressFn | None = None
    ) -> Iterator[tuple[EvalRequest, Evaluation]]:
        for request in requests:
            yield request, self._context.run(request, progress)
