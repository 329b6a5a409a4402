"""``evaluate_individual``: build, train, then the configured measurements -> :class:`Evaluation`.

This is the one call the search makes per individual, on whichever worker and
device it lands. It never raises for the architecture's or the training's
sake: an unbuildable spec or an out-of-memory error becomes status
``"invalid"``, a non-finite loss or a degenerate classifier becomes
``"ill-fitted"`` (adversarial evaluation skipped, see
:func:`neronet.evaluation.scores.ill_fitted_reason`), so one bad individual cannot kill a
worker that holds the data resident. Errors that are bugs (or user errors such
as an unknown optimizer) still propagate.

Timing is reported separately for training, the clean pass over the fitness
set and each measurement, so the store can show where a generation's time went.
Fitness is not computed here: it is the objective's (see ``objectives``).
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors
from torch import nn

from neronet.augment import DeviceData, SplitsLike
from neronet.config import DEFAULT_MEASUREMENTS, FitnessConfig, NeroConfig, TrainingConfig
from neronet.errors import InvalidArchitecture
from neronet.evaluation.measurements import MEASUREMENTS, Measurement, Trained
from neronet.evaluation.result import OUT_OF_MEMORY, Evaluation
from neronet.evaluation.scores import ill_fitted_reason
from neronet.nn import build, check_size
from neronet.spec import LearningSpec, NetworkSpec
from neronet.train.budgeted import Budget, TrainState, train
from neronet.train.core import amp_dtype, predict, resolve_device, seeded

MAX_REASON = 300
"""Characters kept of an exception message used as a reason (CUDA OOM texts are long)."""


@dataclass(frozen=True)
class EvalSettings:
    """What an evaluation needs from the run config."""

    training: TrainingConfig = field(default_factory=TrainingConfig)
    fitness: FitnessConfig = field(default_factory=FitnessConfig)
    measurements: tuple[str, ...] = DEFAULT_MEASUREMENTS
    transfer_set: str | None = None
    budget_unit: str = "seconds"
    """What a request's budget counts (``search.budget``)."""
    sections: Mapping[str, Any] = field(default_factory=dict)
    """The plug-in settings sections (``NeroConfig.sections``), for measurements that own one."""

    @classmethod
    def from_config(cls, config: NeroConfig) -> EvalSettings:
        evaluation = config.evaluation
        return cls(
            config.training,
            config.fitness,
            tuple(evaluation.measurements),
            evaluation.transfer_set,
            config.search.budget,
            dict(config.sections),
        )


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
    budget: Budget | float,
    splits: SplitsLike | DeviceData,
    settings: EvalSettings,
    *,
    seed: int,
    device: torch.device | str | None = None,
    warm_start: bytes | TrainState | None = None,
    should_stop: Callable[[], bool] | None = None,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> Evaluation:
    """Train ``spec`` with ``learning`` for ``budget`` and run the measurements.

    ``budget`` is a :class:`~neronet.train.budgeted.Budget`; a bare number is an
    amount in ``settings.budget_unit`` (seconds unless the run says otherwise).

    ``splits`` is a ``DataSplits`` (moved to the device here) or, in a
    long-lived worker, a ready :class:`DeviceData` (whose device wins over
    ``device``). ``warm_start`` is a parent's :attr:`Evaluation.train_state`
    (the train-longer mutation): training continues from it for ``budget``
    more. ``should_stop`` and ``progress`` go to :func:`train`.
    """
    if isinstance(splits, DeviceData):
        data = splits
    else:
        target = resolve_device(str(device or settings.training.device))
        data = DeviceData.from_splits(splits, target)
    wanted = [MEASUREMENTS.get(name) for name in settings.measurements]
    metrics: dict[str, float] = {}
    seconds: dict[str, float] = {}
    try:
        # architecture-only measurements first: they describe invalid individuals too
        bare = Trained(
            spec,
            None,
            None,
            settings.fitness,
            settings.training,
            None,
            None,
            None,
            settings.sections,
        )
        _measure([m for m in wanted if m.needs == "spec"], bare, metrics, seconds, data.device)
        check_size(spec, settings.training.max_parameters)  # before anything is allocated
        trained, evaluation = _train(
            spec, learning, budget, data, settings, seed, warm_start, should_stop, progress
        )
        # attacks measure nothing on a degenerate classifier: healthy individuals only
        healthy = evaluation.status == "ok"
        runnable = [m for m in wanted if m.needs == "model" or (m.needs == "healthy" and healthy)]
        _measure(runnable, trained, metrics, seconds, data.device)
        notes = [m.explain(trained, metrics) for m in runnable if m.explain is not None]
        notes = [n for n in notes if n]
        if notes:  # a healthy individual with a note (e.g. flagged for gradient masking)
            evaluation.reason = "; ".join(notes)
        evaluation.metrics = metrics
        evaluation.seconds = {**seconds, **evaluation.seconds}
        return evaluation
    except InvalidArchitecture as err:
        reason = f"invalid architecture: {one_line(err)}"
    except Exception as err:
        if not out_of_memory_error(err):
            raise
        reason = out_of_memory_reason(err)
    release_memory(data.device)
    return Evaluation(status="invalid", reason=reason, metrics=metrics, seconds=seconds)


def _measure(
    measurements: list[Measurement],
    trained: Trained,
    metrics: dict[str, float],
    seconds: dict[str, float],
    device: torch.device,
) -> None:
    """Run ``measurements`` in order, adding their metrics and times."""
    for m in measurements:
        start = time.perf_counter()
        metrics.update(m.fn(trained))
        seconds[m.name] = _elapsed(start, device)


def one_line(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return (lines[0] if lines else type(err).__name__)[:MAX_REASON]


OOM_MESSAGES = (
    "can't allocate memory",  # the CPU allocator
    "out of memory",  # "CUDA error: out of memory" raised as a plain RuntimeError
    "CUDNN_STATUS_ALLOC_FAILED",
    "CUBLAS_STATUS_ALLOC_FAILED",
)


def out_of_memory_error(err: BaseException) -> bool:
    """Any way PyTorch reports that an allocation failed: the network is too big (for the
    device, or for what else holds it)."""
    return isinstance(err, torch.OutOfMemoryError) or (
        isinstance(err, RuntimeError) and any(m in str(err) for m in OOM_MESSAGES)
    )


def out_of_memory_reason(err: BaseException) -> str:
    """An invalid result's reason for ``err`` (an :func:`out_of_memory_error`): it starts
    with :data:`OUT_OF_MEMORY`, which is how ``ran_out_of_memory`` tells it."""
    return f"{OUT_OF_MEMORY}: {one_line(err)}"


def release_memory(device: torch.device) -> None:
    """Give a failed attempt's memory back now: its tensors died with the exception's
    frame, but the CUDA cache would keep their blocks from whatever runs next."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def _elapsed(start: float, device: torch.device) -> float:
    """Seconds since ``start`` once queued CUDA work is done (kernels run asynchronously)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def _build(spec: NetworkSpec, max_parameters: int) -> nn.Module:
    """``build``, with any failure of it reported as an invalid architecture."""
    try:
        return build(spec, max_parameters=max_parameters)
    except InvalidArchitecture:
        raise
    except Exception as err:
        raise InvalidArchitecture(f"build failed: {type(err).__name__}: {err}") from err


def _train(
    spec: NetworkSpec,
    learning: LearningSpec,
    budget: Budget | float,
    data: DeviceData,
    settings: EvalSettings,
    seed: int,
    warm_start: bytes | TrainState | None,
    should_stop: Callable[[], bool] | None,
    progress: Callable[[dict[str, Any]], None] | None,
) -> tuple[Trained, Evaluation]:
    """Build, train, predict the fitness set and screen: the network for the measurements,
    and the evaluation without metrics (status ``ok`` or ``ill-fitted``)."""
    device = data.device
    with seeded(seed, device):
        model = _build(spec, settings.training.max_parameters)
    resume = TrainState.from_bytes(warm_start) if isinstance(warm_start, bytes) else warm_start
    result = train(
        model,
        learning,
        data,
        settings.training,
        budget if isinstance(budget, Budget) else Budget(float(budget), settings.budget_unit),
        seed=seed,
        device=device,
        resume=resume,
        should_stop=should_stop,
        progress=progress,
    )
    # fitness measurements in fp32 unless asked otherwise (see FitnessConfig.reduced_precision)
    amp = amp_dtype(settings.training.amp, device) if settings.fitness.reduced_precision else None
    start = time.perf_counter()
    predictions = predict(
        model,
        data.fitness.x,
        settings.training.eval_batch_size,
        channels_last=settings.training.channels_last,
        amp=amp,
    )
    predict_seconds = _elapsed(start, device)
    reason = result.ill_fitted_reason or ill_fitted_reason(
        result.losses, predictions, spec.num_classes, settings.fitness.ill_fitted_share
    )
    trained = Trained(
        spec,
        model,
        data,
        settings.fitness,
        settings.training,
        amp,
        predictions,
        settings.transfer_set,
        settings.sections,
    )
    return trained, Evaluation(
        status="ok" if reason is None else "ill-fitted",
        reason=reason,
        control_accuracy=result.best_control_accuracy,
        epochs=result.epochs,
        stop_reason=result.stop_reason,
        seconds={"train": result.seconds, "predict": predict_seconds},
        history=[record.to_dict() for record in result.history],
        weights=weights_to_bytes(model),
        train_state=result.state.to_bytes(),
    )
