"""``evaluate_individual``: build, train, clean evaluation, FGSM -> :class:`Evaluation`.

This is the one call the search makes per individual, on whichever worker and
device it lands. It never raises for the architecture's or the training's
sake: an unbuildable spec or an out-of-memory error becomes status
``"invalid"``, a non-finite loss or a degenerate classifier becomes
``"ill-fitted"`` (adversarial evaluation skipped, see
:func:`neronet.fitness.score_individual`), so one bad individual cannot kill a
worker that holds the data resident. Errors that are bugs (or user errors such
as an unknown optimizer) still propagate.

Timing is reported separately for training, the clean pass over the fitness
set and the attack, so the store can show where a generation's time went.
"""

from __future__ import annotations

import gc
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors
from torch import nn

from neronet.attacks import attack_correct, fgsm
from neronet.augment import DeviceData, SplitsLike, to_float
from neronet.config import FitnessConfig, TrainingConfig
from neronet.errors import InvalidArchitecture
from neronet.fitness import Mask, score_individual
from neronet.nn import build, count_parameters
from neronet.spec import LearningSpec, NetworkSpec
from neronet.train.core import amp_dtype, predict, resolve_device, seeded
from neronet.train.search import TrainState, train

MAX_REASON = 300
"""Characters kept of an exception message used as a reason (CUDA OOM texts are long)."""


@dataclass(frozen=True)
class EvalSettings:
    """What an evaluation needs from the run config, plus the search's warm-up flag."""

    training: TrainingConfig = field(default_factory=TrainingConfig)
    fitness: FitnessConfig = field(default_factory=FitnessConfig)
    warmup: bool = False


@dataclass
class Evaluation:
    """Outcome of one individual; blobs (``weights``, ``train_state``) are not in the record.

    ``adversarial_accuracy`` is FGSM accuracy *conditional* on clean
    correctness (the paper's ``A``), ``overall_adversarial_accuracy`` is
    ``C * A``; both are None when the attack did not run. ``fitness`` uses the
    warm-up flag the evaluation was given.
    """

    status: str
    reason: str | None = None
    fitness: float | None = None
    clean_accuracy: float | None = None
    adversarial_accuracy: float | None = None
    overall_adversarial_accuracy: float | None = None
    control_accuracy: float | None = None
    parameters: int | None = None
    epochs: int = 0
    stop_reason: str | None = None
    train_seconds: float = 0.0
    eval_seconds: float = 0.0
    attack_seconds: float = 0.0
    history: list[dict[str, Any]] = field(default_factory=list)
    weights: bytes | None = None
    train_state: bytes | None = None

    def to_record(self) -> dict[str, Any]:
        """JSON-able summary for the run store: no blobs, non-finite floats as None."""
        return {
            "status": self.status,
            "reason": self.reason,
            "fitness": _finite(self.fitness),
            "clean_accuracy": _finite(self.clean_accuracy),
            "adversarial_accuracy": _finite(self.adversarial_accuracy),
            "overall_adversarial_accuracy": _finite(self.overall_adversarial_accuracy),
            "control_accuracy": _finite(self.control_accuracy),
            "parameters": self.parameters,
            "epochs": self.epochs,
            "stop_reason": self.stop_reason,
            "train_seconds": self.train_seconds,
            "eval_seconds": self.eval_seconds,
            "attack_seconds": self.attack_seconds,
            "history": [{k: _finite(v) for k, v in rec.items()} for rec in self.history],
        }


def _finite(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


def weights_to_bytes(model: nn.Module) -> bytes:
    """The model's state dict as safetensors bytes (CPU, contiguous: channels-last is undone)."""
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    return save_safetensors(state)


def load_weights(spec: NetworkSpec, weights: bytes) -> nn.Module:
    """Rebuild ``spec`` and load safetensors ``weights`` (from :attr:`Evaluation.weights`)."""
    model = build(spec)
    model.load_state_dict(load_safetensors(weights))
    return model


def evaluate_individual(
    spec: NetworkSpec,
    learning: LearningSpec,
    budget_s: float,
    splits: SplitsLike | DeviceData,
    settings: EvalSettings,
    *,
    seed: int,
    device: torch.device | str | None = None,
    warm_start: bytes | TrainState | None = None,
    should_stop: Callable[[], bool] | None = None,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> Evaluation:
    """Train ``spec`` with ``learning`` for ``budget_s`` seconds and measure its fitness.

    ``splits`` is a ``DataSplits`` (moved to the device here) or, in a
    long-lived worker, a ready :class:`DeviceData` (whose device wins over
    ``device``). ``warm_start`` is a parent's :attr:`Evaluation.train_state`
    (the train-longer mutation): training continues from it for ``budget_s``
    more seconds. ``should_stop`` and ``progress`` go to :func:`train`.
    """
    if isinstance(splits, DeviceData):
        data = splits
    else:
        target = resolve_device(str(device or settings.training.device))
        data = DeviceData.from_splits(splits, target)
    parameters: int | None = None
    try:
        parameters = count_parameters(spec)
        evaluation = _evaluate(
            spec, learning, budget_s, data, settings, seed, warm_start, should_stop, progress
        )
        return replace(evaluation, parameters=parameters)
    except InvalidArchitecture as err:
        reason = f"invalid architecture: {_one_line(err)}"
    except Exception as err:
        if not _out_of_memory(err):
            raise
        reason = f"out of memory: {_one_line(err)}"
    # the failed attempt's tensors died with the exception frame; give memory back now
    gc.collect()
    if data.device.type == "cuda":
        torch.cuda.empty_cache()
    return Evaluation(status="invalid", reason=reason, parameters=parameters)


def _one_line(err: Exception) -> str:
    lines = str(err).strip().splitlines()
    return (lines[0] if lines else type(err).__name__)[:MAX_REASON]


OOM_MESSAGES = (
    "can't allocate memory",  # the CPU allocator
    "out of memory",  # "CUDA error: out of memory" raised as a plain RuntimeError
    "CUDNN_STATUS_ALLOC_FAILED",
    "CUBLAS_STATUS_ALLOC_FAILED",
)


def _out_of_memory(err: Exception) -> bool:
    """Any way PyTorch reports that an allocation failed: the individual is too big."""
    return isinstance(err, torch.OutOfMemoryError) or (
        isinstance(err, RuntimeError) and any(m in str(err) for m in OOM_MESSAGES)
    )


def _elapsed(start: float, device: torch.device) -> float:
    """Seconds since ``start`` once queued CUDA work is done (kernels run asynchronously)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def _build(spec: NetworkSpec) -> nn.Module:
    """``build``, with any failure of it reported as an invalid architecture."""
    try:
        return build(spec)
    except InvalidArchitecture:
        raise
    except Exception as err:
        raise InvalidArchitecture(f"build failed: {type(err).__name__}: {err}") from err


def _evaluate(
    spec: NetworkSpec,
    learning: LearningSpec,
    budget_s: float,
    data: DeviceData,
    settings: EvalSettings,
    seed: int,
    warm_start: bytes | TrainState | None,
    should_stop: Callable[[], bool] | None,
    progress: Callable[[dict[str, Any]], None] | None,
) -> Evaluation:
    device = data.device
    with seeded(seed, device):
        model = _build(spec)
    resume = TrainState.from_bytes(warm_start) if isinstance(warm_start, bytes) else warm_start
    result = train(
        model,
        learning,
        data,
        settings.training,
        budget_s,
        seed=seed,
        device=device,
        resume=resume,
        should_stop=should_stop,
        progress=progress,
    )
    # fitness measurements in fp32 unless asked otherwise (see FitnessConfig.reduced_precision)
    amp = amp_dtype(settings.training.amp, device) if settings.fitness.reduced_precision else None
    channels_last = settings.training.channels_last

    start = time.perf_counter()
    predictions = predict(
        model,
        data.fitness.x,
        settings.training.eval_batch_size,
        channels_last=channels_last,
        amp=amp,
    )
    eval_seconds = _elapsed(start, device)
    attack_seconds = 0.0

    def attack(clean_correct: Mask) -> Mask:
        nonlocal attack_seconds
        begin = time.perf_counter()
        _, adv_correct = attack_correct(
            model,
            to_float(data.fitness.x, channels_last),
            data.fitness.y,
            partial(fgsm, eps=settings.fitness.attack_eps, amp_dtype=amp),
            settings.fitness.attack_batch_size,
            clean_correct=torch.as_tensor(clean_correct, device=device),
            amp_dtype=amp,
        )
        attack_seconds = _elapsed(begin, device)
        return adv_correct

    score = score_individual(
        result.losses,
        predictions,
        data.fitness.y,
        settings.fitness,
        num_classes=spec.num_classes,
        warmup=settings.warmup,
        attack=attack,
    )
    reason = result.ill_fitted_reason or score.ill_fitted
    return Evaluation(
        status="ok" if reason is None else "ill-fitted",
        reason=reason,
        fitness=score.fitness,
        clean_accuracy=score.clean,
        adversarial_accuracy=score.adversarial,
        overall_adversarial_accuracy=score.overall_adversarial,
        control_accuracy=result.best_control_accuracy,
        epochs=result.epochs,
        stop_reason=result.stop_reason,
        train_seconds=result.seconds,
        eval_seconds=eval_seconds,
        attack_seconds=attack_seconds,
        history=[record.to_dict() for record in result.history],
        weights=weights_to_bytes(model),
        train_state=result.state.to_bytes(),
    )
