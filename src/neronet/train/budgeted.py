"""The fast search-time training loop: a budget, early stopping, history.

Every individual of the search is trained by :func:`train` with the
hyper-parameters its genotype evolved (:class:`~neronet.spec.LearningSpec`)
for a :class:`Budget`: wall-clock seconds (the paper's; checked between batches
so a long epoch cannot overshoot by more than one batch and one control
evaluation), epochs, or training images seen (both mean the same work on any
machine and however many candidates share a GPU), plus an optional epoch cap
(``TrainingConfig.max_epochs``, which keeps tests bounded by work rather than
by a noisy clock). After each epoch the control set decides early stopping,
and the best-on-control weights are restored at the end.

Choices the paper leaves open, made here and kept visible:

* The learning rate decays inverse-time per optimisation step,
  ``lr / (1 + decay * step)`` (:class:`~neronet.train.core.InverseTime`), from
  the global step count, so a resumed run simply continues the count. With
  ``training.schedule: cosine`` it warms up and anneals to 0 over this call's
  budget instead (:class:`~neronet.train.core.BudgetCosine` reading
  :class:`BudgetProgress`); a resumed training anneals over its extra budget.
* L2 (``TrainingConfig.weight_decay``) applies to conv and fc kernels only
  (:func:`~neronet.train.core.param_groups`). The step itself is the shared
  :class:`~neronet.train.core.Trainer`'s, without gradient clipping.
* A non-finite loss stops training at once (on CUDA within a few steps: the
  check is batched to avoid a host sync per step) and marks the run ill-fitted.
* ``resume`` continues from a :class:`TrainState` (the search's train-longer
  mutation): weights, optimizer state and step count carry over, the budget
  and ``max_epochs`` are *additional* to what was already spent. The stored
  weights are the best-on-control ones; the optimizer state is from the last
  step before they were restored.
* A fixed recipe may say otherwise per individual (its LearningSpec): RAS's keeps
  the last epoch's weights (``restore_best`` False) and sets augmentation itself.
"""

from __future__ import annotations

import io
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from neronet.augment import DeviceData, DeviceSplit, steps_per_epoch
from neronet.config import TrainingConfig
from neronet.errors import DataError, StoreError
from neronet.spec import LearningSpec
from neronet.train.core import (
    BudgetCosine,
    InverseTime,
    LRSchedule,
    Trainer,
    accuracy,
    amp_dtype,
    resolve_step_mode,
    seeded,
)

CUDA_CHECK_EVERY = 8
"""Steps between non-finite-loss checks on CUDA (each check is a host sync)."""

BUDGET_UNITS = ("seconds", "epochs", "images")
"""What a search budget counts (``search.budget``)."""


@dataclass(frozen=True)
class Budget:
    """How much one training call may spend: ``amount`` of ``unit``.

    ``seconds`` is wall-clock time (the paper's budget: it shrinks when the
    device is slower or shared), ``epochs`` whole passes over the training
    split, ``images`` training images seen (checked between batches, so the
    last batch may pass the amount by less than one batch).
    """

    amount: float
    unit: str = "seconds"

    def __post_init__(self) -> None:
        if self.unit not in BUDGET_UNITS:
            raise ValueError(f"budget unit {self.unit!r} is not one of {', '.join(BUDGET_UNITS)}")

    @classmethod
    def of(cls, budget: Budget | float) -> Budget:
        """A :class:`Budget`; a bare number is seconds."""
        return budget if isinstance(budget, Budget) else cls(float(budget))

    def __str__(self) -> str:
        return f"{self.amount:g} {self.unit}"


@dataclass
class BudgetProgress:
    """Share of one training call's budget spent when optimisation ``step`` runs (0..1).

    Seconds count from ``start_time``; epochs and images from ``first_step`` (a
    resumed training's step count); an epoch cap (``max_epochs`` or the
    individual's ``epochs``) ends the budget early, so the larger share wins.
    """

    budget: Budget
    cap_epochs: int | None
    steps_per_epoch: int
    batch_size: int
    start_time: float
    first_step: int = 0

    def __call__(self, step: int) -> float:
        done = step - self.first_step
        amount = max(self.budget.amount, 1e-9)
        if self.budget.unit == "seconds":
            shares = [(time.perf_counter() - self.start_time) / amount]
        elif self.budget.unit == "epochs":
            shares = [done / (amount * self.steps_per_epoch)]
        else:
            shares = [done * self.batch_size / amount]
        if self.cap_epochs is not None:
            shares.append(done / max(self.cap_epochs * self.steps_per_epoch, 1))
        return max(shares)


@dataclass(frozen=True)
class EpochRecord:
    """One epoch of training; ``control_accuracy`` is None when the loss went non-finite."""

    epoch: int
    train_loss: float
    control_accuracy: float | None
    seconds: float
    lr: float
    steps: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TrainState:
    """Everything needed to continue training later (tensors kept on the CPU)."""

    model_state: dict[str, torch.Tensor]
    optimizer: str
    optimizer_state: dict[str, Any]
    step: int = 0
    epoch: int = 0
    elapsed_s: float = 0.0
    best_control_accuracy: float | None = None
    history: list[EpochRecord] = field(default_factory=list)

    def to_bytes(self) -> bytes:
        """Serialise with ``torch.save``; only tensors and plain containers, so
        :meth:`from_bytes` can load it with ``weights_only=True`` (no pickled code)."""
        payload = asdict(self)
        payload["history"] = [record.to_dict() for record in self.history]
        buffer = io.BytesIO()
        torch.save(payload, buffer)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> TrainState:
        try:
            payload = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
            payload["history"] = [EpochRecord(**record) for record in payload["history"]]
            return cls(**payload)
        except Exception as err:
            raise StoreError(
                f"train state cannot be read ({type(err).__name__}); "
                "evaluate the individual without a warm start"
            ) from None


@dataclass
class TrainResult:
    """Outcome of one :func:`train` call; ``epochs`` and ``seconds`` count this call only."""

    history: list[EpochRecord]
    epochs: int
    seconds: float
    stop_reason: str
    best_control_accuracy: float | None
    state: TrainState
    ill_fitted_reason: str | None = None

    @property
    def losses(self) -> list[float]:
        return [record.train_loss for record in self.history]


def _to_cpu(obj: Any) -> Any:
    """Deep copy of a state structure with every tensor on the CPU."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().to("cpu", copy=True)
    if isinstance(obj, dict):
        return {key: _to_cpu(value) for key, value in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(_to_cpu(value) for value in obj)
    return obj


def _subset(split: DeviceSplit, size: int | None, seed: int) -> DeviceSplit:
    """``size`` images of ``split`` drawn without replacement with ``seed`` (all of them
    when ``size`` is None or not smaller)."""
    if size is None or size >= len(split):
        return split
    gen = torch.Generator().manual_seed(seed)
    index = torch.randperm(len(split), generator=gen)[:size].to(split.x.device)
    return DeviceSplit(split.x[index], split.y[index])


class _Loop:
    """State of one training call; :func:`train` drives it epoch by epoch."""

    def __init__(
        self,
        model: nn.Module,
        learning: LearningSpec,
        data: DeviceData,
        settings: TrainingConfig,
        device: torch.device,
        seed: int,
        budget: Budget,
        cap_epochs: int | None,
        start_time: float,
    ) -> None:
        self.learning = learning
        self.data = data
        self.train = _subset(data.train, learning.train_subset, seed)
        self.settings = settings
        self.spent = BudgetProgress(
            budget,
            cap_epochs,
            steps_per_epoch(len(self.train), learning.batch_size),
            learning.batch_size,
            start_time,
        )
        schedule: LRSchedule = (
            BudgetCosine(learning.lr, self.spent)
            if settings.schedule == "cosine"
            else InverseTime(learning.lr, learning.decay)
        )
        step_mode = resolve_step_mode(settings.compile, device, amp_dtype(settings.amp, device))
        recipe = settings  # a fixed recipe (RAS's) may switch augmentation for itself
        if learning.augment is not None:
            recipe = settings.model_copy(update={"augment": learning.augment})
        self.trainer = Trainer(
            model,
            learning,
            schedule,
            recipe,
            settings,
            device=device,
            seed=seed,
            step_mode=step_mode,
        )
        self.model = self.trainer.model
        self.check_every = 1 if device.type == "cpu" else CUDA_CHECK_EVERY
        self.images = 0
        """Training images seen in this call (the ``images`` budget)."""
        self.epoch = 0
        self.prior_elapsed = 0.0
        self.history: list[EpochRecord] = []
        self.best_accuracy: float | None = None
        self.best_state: dict[str, torch.Tensor] | None = None
        self.since_best = 0

    def restore(self, state: TrainState) -> None:
        """Continue from ``state``: weights, step/epoch counts, history, best so far.

        The optimizer's running state (momenta, Adam moments) carries over only
        when the optimizer kind is unchanged; its hyper-parameters always come
        from the current LearningSpec.
        """
        self.model.load_state_dict(state.model_state)
        optimizer = self.trainer.optimizer
        if state.optimizer == self.learning.optimizer:
            current = optimizer.state_dict()
            optimizer.load_state_dict(
                {"state": state.optimizer_state["state"], "param_groups": current["param_groups"]}
            )
        self.trainer.step, self.epoch = state.step, state.epoch
        self.spent.first_step = state.step
        self.prior_elapsed = state.elapsed_s
        self.history = list(state.history)
        self.best_accuracy = state.best_control_accuracy
        if self.best_accuracy is not None:
            self.best_state = self._snapshot()

    def _snapshot(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().clone() for k, v in self.model.state_dict().items()}

    def run_epoch(
        self, interrupt: Callable[[], str | None]
    ) -> tuple[EpochRecord | None, str | None, str | None]:
        """One epoch; returns (record or None if no step ran, stop reason, ill-fitted reason)."""
        start = time.perf_counter()
        n = len(self.train)
        bs = self.learning.batch_size
        losses = torch.zeros(steps_per_epoch(n, bs), device=self.data.device)
        done = checked = 0
        stop = bad = None
        self.model.train()
        for idx in self.trainer.batches(n, bs):
            stop = interrupt()
            if stop is not None:
                break
            losses[done], _ = self.trainer.update(*self.trainer.batch(self.train, idx))
            done += 1
            self.images += len(idx)
            if done - checked >= self.check_every or done == losses.numel():
                finite = torch.isfinite(losses[checked:done])
                if not bool(finite.all()):
                    first = checked + int((~finite).nonzero()[0])
                    stop = "non_finite"
                    bad = f"non-finite loss at epoch {self.epoch + 1} step {first + 1}"
                    break
                checked = done
        if done == 0:
            return None, stop, None
        self.epoch += 1
        control = None if bad else self._control_accuracy()
        record = EpochRecord(
            epoch=self.epoch,
            train_loss=float(losses[:done].mean().item()),
            control_accuracy=control,
            seconds=time.perf_counter() - start,
            lr=self.trainer.last_lr,
            steps=done,
        )
        self.history.append(record)
        if control is not None:
            self._track_best(control)
        return record, stop, bad

    def _control_accuracy(self) -> float:
        return accuracy(
            self.model,
            self.data.control,
            self.settings.eval_batch_size,
            channels_last=self.settings.channels_last,
            amp=self.trainer.amp,
        )

    def _track_best(self, control: float) -> None:
        """Keep the best weights (when they will be restored); the patience restarts only
        on a gain above ``min_delta``."""
        gain = math.inf if self.best_accuracy is None else control - self.best_accuracy
        if gain > 0:
            self.best_accuracy = control
            if self.learning.restore_best:
                self.best_state = self._snapshot()
        self.since_best = 0 if gain > self.learning.min_delta else self.since_best + 1

    def early_stop_due(self) -> bool:
        return self.since_best >= max(1, self.learning.early_stop)

    def finish(self, seconds: float) -> TrainState:
        """Restore the best-on-control weights (unless the recipe keeps the last ones) and
        package the state to continue from."""
        if self.best_state is not None and self.learning.restore_best:
            self.model.load_state_dict(self.best_state)
        return TrainState(
            model_state=_to_cpu(self.model.state_dict()),
            optimizer=self.learning.optimizer,
            optimizer_state=_to_cpu(self.trainer.optimizer.state_dict()),
            step=self.trainer.step,
            epoch=self.epoch,
            elapsed_s=self.prior_elapsed + seconds,
            best_control_accuracy=self.best_accuracy,
            history=list(self.history),
        )


def train(
    model: nn.Module,
    learning: LearningSpec,
    data: DeviceData,
    settings: TrainingConfig,
    budget: Budget | float,
    *,
    seed: int,
    device: torch.device | str,
    resume: TrainState | None = None,
    should_stop: Callable[[], bool] | None = None,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> TrainResult:
    """Train ``model`` in place on ``data.train`` for ``budget`` (a :class:`Budget`; a
    number is seconds) and at most ``settings.max_epochs`` epochs (or the individual's
    own ``learning.epochs`` when its grammar evolves them), early-stopping on
    ``data.control``.

    ``stop_reason`` is one of "budget", "max_epochs", "early_stop", "non_finite"
    or "stopped" (``should_stop`` returned True, checked between batches).
    ``progress`` receives each epoch's record as a dict. Deterministic on the
    CPU for a given ``seed``.
    """
    if len(data.train) == 0 or len(data.control) == 0:
        raise DataError("the train and control splits must not be empty; enlarge them")
    device = torch.device(device)
    if device.type != data.device.type or device.index not in (None, data.device.index):
        raise ValueError(f"data is on {data.device}, not {device}; build DeviceData on {device}")
    device = data.device
    budget = Budget.of(budget)
    start = time.perf_counter()
    epochs = 0

    def interrupt() -> str | None:
        if budget.unit == "seconds" and time.perf_counter() - start >= budget.amount:
            return "budget"
        if budget.unit == "images" and loop.images >= budget.amount:
            return "budget"
        if should_stop is not None and should_stop():
            return "stopped"
        return None

    cap = settings.max_epochs if learning.epochs is None else learning.epochs
    with seeded(seed, device):
        loop = _Loop(model, learning, data, settings, device, seed, budget, cap, start)
        if resume is not None:
            loop.restore(resume)
        stop = bad = None
        while stop is None:
            if budget.unit == "epochs" and epochs >= budget.amount:
                stop = "budget"
                break
            if cap is not None and epochs >= cap:
                stop = "max_epochs"
                break
            record, stop, bad = loop.run_epoch(interrupt)
            if record is not None:
                epochs += 1
                if progress is not None:
                    progress(record.to_dict())
            if stop is None and loop.early_stop_due():
                stop = "early_stop"
        seconds = time.perf_counter() - start
        state = loop.finish(seconds)
    return TrainResult(
        history=state.history,
        epochs=epochs,
        seconds=seconds,
        stop_reason=stop,
        best_control_accuracy=state.best_control_accuracy,
        state=state,
        ill_fitted_reason=bad,
    )
