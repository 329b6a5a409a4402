"""The worker side of every executor: what an evaluation needs, built once per worker.

Loading and splitting the dataset and moving it to the device is the slow part
of starting up; an :class:`EvaluationContext` does it once and then evaluates
any number of requests. Workers (local processes or Ray actors) each build
their own context from the config, so data is never shipped per task.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from neronet.augment import DeviceData
from neronet.config import NeroConfig
from neronet.data import DataSplits, paper_split_sizes
from neronet.data.dataset import Dataset
from neronet.data.splits import holdout_index, split_index, splits_at
from neronet.evaluation.individual import EvalSettings, evaluate_individual
from neronet.evaluation.result import Evaluation
from neronet.execution.base import EvalRequest, ProgressFn
from neronet.train.core import amp_dtype, resolve_device, resolve_step_mode


def load_splits(config: NeroConfig) -> DataSplits:
    """The run's evolutionary train / control / fitness splits (seeded by the run seed)."""
    return search_splits(config.data.load(), config)


def _split_sizes(n: int, config: NeroConfig) -> tuple[float, float, float]:
    """``config.data``'s train / control / fitness sizes (unset ones: the paper's, scaled
    to the ``n`` images the search draws from)."""
    cfg = config.data
    paper = paper_split_sizes(n)
    train, control, fitness = (
        paper[i] if v is None else v for i, v in enumerate((cfg.train, cfg.control, cfg.fitness))
    )
    return train, control, fitness


def search_pool(dataset: Dataset, config: NeroConfig) -> np.ndarray | None:
    """The training images a run's search may draw its splits from: all of them (None)
    when the dataset ships a test split; otherwise those ``posttrain.holdout`` keeps, for
    the rest become the test split the run's best is attacked on, and a search that
    selected on them would be measured on images it chose by (the survey holds them out
    the same way, so its splits are the same images)."""
    if dataset.test is not None:
        return None
    post = config.posttrain
    return holdout_index(dataset, post.holdout, post.holdout_seed)["train"]


def search_index(
    dataset: Dataset, config: NeroConfig, without_holdout: bool = True
) -> dict[str, np.ndarray]:
    """Which of ``dataset``'s training images a run under ``config`` draws its train /
    control / fitness splits from (seeded by the run seed; :func:`search_pool`).
    ``without_holdout=False``: those of a run begun before the pool, drawn from every
    training image."""
    pool = search_pool(dataset, config) if without_holdout else None
    n = len(dataset.y_train) if pool is None else len(pool)
    return split_index(dataset, *_split_sizes(n, config), seed=config.seed, pool=pool)


def search_splits(dataset: Dataset, config: NeroConfig) -> DataSplits:
    """``dataset``'s train / control / fitness splits under ``config.data``, seeded by the
    run seed."""
    return splits_at(dataset, search_index(dataset, config))


def search_images(dataset: Dataset, config: NeroConfig, without_holdout: bool = True) -> np.ndarray:
    """Which of ``dataset``'s training images a run under ``config`` trained and selected
    on (its train and control splits): what ``posttrain.images: search`` retrains on
    (``without_holdout``: :func:`search_index`)."""
    index = search_index(dataset, config, without_holdout)
    return np.concatenate([index["train"], index["control"]])


@dataclass
class EvaluationContext:
    """Splits resident on one device plus the settings every evaluation shares."""

    config: NeroConfig
    splits: DataSplits
    data: DeviceData
    device: torch.device
    memory_fraction: float | None = field(default=None, init=False)

    @classmethod
    def from_config(cls, config: NeroConfig, device: str | None = None) -> EvaluationContext:
        dev = resolve_device(device or config.training.device)
        # a step mode the device cannot run fails here, before data loads or a run is created
        resolve_step_mode(config.training.compile, dev, amp_dtype(config.training.amp, dev))
        splits = load_splits(config)
        return cls(config, splits, DeviceData.from_splits(splits, dev), dev)

    def run(self, request: EvalRequest, progress: ProgressFn | None = None) -> Evaluation:
        settings = EvalSettings.from_config(self.config)

        def report(info: dict[str, Any]) -> None:
            if progress is not None:
                progress(request.key, info)

        if self.device.type != "cuda":
            return self._evaluate(request, settings, report)
        self._limit_memory(request.memory_fraction)
        torch.cuda.reset_peak_memory_stats(self.device)
        evaluation = self._evaluate(request, settings, report)
        evaluation.peak_memory_bytes = int(torch.cuda.max_memory_allocated(self.device))
        return evaluation

    def _limit_memory(self, fraction: float | None) -> None:
        """Cap this process's share of the GPU (the caching allocator refuses beyond it)."""
        fraction = 1.0 if fraction is None else fraction
        if fraction == self.memory_fraction:
            return
        if self.memory_fraction is not None and fraction < self.memory_fraction:
            torch.cuda.empty_cache()  # cached blocks above the new cap go back first
        torch.cuda.set_per_process_memory_fraction(fraction, self.device)
        self.memory_fraction = fraction

    def _evaluate(
        self,
        request: EvalRequest,
        settings: EvalSettings,
        report: Callable[[dict[str, Any]], None],
    ) -> Evaluation:
        return evaluate_individual(
            request.spec,
            request.learning,
            request.budget,
            self.data,
            settings,
            seed=request.seed,
            device=self.device,
            warm_start=request.warm_start,
            progress=report,
        )
