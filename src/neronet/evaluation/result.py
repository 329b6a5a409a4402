"""What an evaluation returns (:class:`Evaluation`) and what a strategy is told (:class:`Outcome`).

Both carry measurements as ``metrics: {name: value}``, so a new measurement
reaches the store, the objectives and the reports without a new field
anywhere. This module imports no torch: the runner and the strategies, which
never touch a tensor, read it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

OUT_OF_MEMORY = "out of memory"
"""How an invalid evaluation's reason starts when an allocation failed."""

STATUSES = ("ok", "ill-fitted", "invalid")
"""``ok``: trained and measured; ``ill-fitted``: trained but degenerate (not attacked);
``invalid``: not trainable (unbuildable, out of memory, undecodable)."""


def ran_out_of_memory(status: str, reason: str | None) -> bool:
    """Whether an evaluation of ``status`` and ``reason`` failed for want of memory."""
    return status == "invalid" and (reason or "").startswith(OUT_OF_MEMORY)


@dataclass(frozen=True)
class Outcome:
    """What a strategy (and its objective) knows of an evaluated candidate."""

    id: int
    status: str
    metrics: Mapping[str, float] = field(default_factory=dict)

    def metric(self, name: str, default: float = 0.0) -> float:
        """``metrics[name]``, or ``default`` when it was not measured (e.g. not attacked)."""
        value = self.metrics.get(name)
        return default if value is None else float(value)


@dataclass
class Evaluation:
    """One individual's evaluation; blobs (``weights``, ``train_state``) are not in the record.

    ``metrics`` holds every measurement by name (e.g. ``clean_accuracy``,
    ``adversarial_accuracy``: FGSM accuracy *conditional* on clean correctness,
    the paper's ``A``; ``parameters``); a measurement that did not run is
    absent. ``seconds`` holds the time of training and of each measurement.
    """

    status: str
    reason: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    epochs: int = 0
    stop_reason: str | None = None
    control_accuracy: float | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    weights: bytes | None = None
    train_state: bytes | None = None
    peak_memory_bytes: int | None = None
    """CUDA memory the evaluation peaked at (None off CUDA): what decides how many fit."""
    memo: str | None = None
    """The entry of the evaluation memo (:mod:`neronet.search.memo`) this evaluation was
    read from; None: it was trained here."""

    @property
    def train_seconds(self) -> float:
        return self.seconds.get("train", 0.0)

    @property
    def out_of_memory(self) -> bool:
        """Whether the evaluation failed for want of device memory."""
        return ran_out_of_memory(self.status, self.reason)

    def to_record(self) -> dict[str, Any]:
        """JSON-able summary for the run store: no blobs, non-finite floats as None."""
        return {
            "status": self.status,
            "reason": self.reason,
            "metrics": finite_metrics(self.metrics),
            "control_accuracy": finite(self.control_accuracy),
            "epochs": self.epochs,
            "stop_reason": self.stop_reason,
            "seconds": dict(self.seconds),
            "peak_memory_bytes": self.peak_memory_bytes,
            **({"memo": self.memo} if self.memo else {}),
            "history": [{k: finite(v) for k, v in rec.items()} for rec in self.history],
        }


def finite(value: Any) -> Any:
    """``value`` with non-finite floats as None (JSON has no NaN)."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


def finite_metrics(metrics: Mapping[str, float]) -> dict[str, float]:
    """The finite metrics only: a NaN measurement is a measurement that did not succeed."""
    return {k: v for k, v in metrics.items() if finite(v) is not None}
