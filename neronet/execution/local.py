"""In-process executor: evaluates candidates one after another on one device."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from neronet.config import NeroConfig
from neronet.evaluation.result import Evaluation
from neronet.execution.base import EvalRequest, Executor, ProgressFn
from neronet.execution.worker import EvaluationContext


class LocalExecutor(Executor):
    """The default executor: this process, one device, data loaded once."""

    def __init__(self, config: NeroConfig) -> None:
        self._context = EvaluationContext.from_config(config)

    def describe(self) -> tuple[tuple[int, int, int], int]:
        splits = self._context.splits
        return splits.input_shape, splits.num_classes

    def evaluate(
        self, requests: Sequence[EvalRequest], progress: ProgressFn | None = None
    ) -> Iterator[tuple[EvalRequest, Evaluation]]:
        for request in requests:
            yield request, self._context.run(request, progress)
