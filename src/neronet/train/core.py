"""The training core both loops share: one optimisation step, prediction, lr schedules,
parameter groups, device, precision and seed helpers.

The search-time loop (:mod:`neronet.train.budgeted`) and post-search training
(:mod:`neronet.train.posttrain`) differ in *when* they stop and what they
record, not in how a step is taken; keeping the step here means a fix to
autocast, loss precision or gradient scaling reaches both. Everything here is
deterministic on the CPU given the seed: a :class:`Trainer` draws random
numbers only from its own generator (batch order, augmentation) and, through
the model, from torch's global RNG (dropout), in a fixed order per step.

Choices kept visible:

* The loss is computed in fp32 from the (possibly bf16/fp16) logits; fp16
  autocast gets a ``GradScaler``, the other precisions a disabled one, so the
  step is the same code path in every precision.
* The learning rate is a function of the global step (:class:`LRSchedule`;
  only a cosine over a seconds budget also reads the clock), written into
  every parameter group before each step, so a resumed training needs only
  the step count.
* L2 (the torch coefficient, ``grad += wd * w``) applies to conv and fc kernels
  only, never to biases or BatchNorm, via parameter groups.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from torch import nn

from neronet.augment import DeviceSplit, augment, batches, to_float
from neronet.errors import ConfigError
from neronet.spec import OPTIMIZERS, LearningSpec
from neronet.train.graphs import GraphedStep
from neronet.train.lars import Lars

KERNEL_LAYERS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)
"""Modules whose ``weight`` is a kernel that gets L2."""

BETA_MAX = 0.9999
"""Adam needs betas < 1; the grammar's [0.5, 1] range (and mutation clamping) can hit 1."""


# ------------------------------------------------------------------ device, precision, seed
def resolve_device(name: str) -> torch.device:
    """``"auto"`` picks CUDA when available; a CUDA device without CUDA is a user error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(
            f"unknown device '{name}'; set training.device to auto, cpu or cuda[:N]"
        ) from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device '{name}' asked for but CUDA is unavailable; use auto or cpu")
    return device


def device_label(device: torch.device) -> str:
    """Where a measurement ran, for its record: the GPU's name, or the CPU with this
    process's torch threads (a time measured on one says little about the other)."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    threads = torch.get_num_threads()
    return f"{device.type} ({threads} thread{'s' if threads > 1 else ''})"


def amp_dtype(mode: str, device: torch.device) -> torch.dtype | None:
    """Autocast dtype for an ``amp`` setting: ``"auto"`` is bf16 on CUDA, off elsewhere."""
    if mode == "auto":
        return torch.bfloat16 if device.type == "cuda" else None
    return {"off": None, "bf16": torch.bfloat16, "fp16": torch.float16}[mode]


STEP_MODES = ("auto", "off", "graphs", "compile")
"""``training.compile``: how a training step is issued to the device."""


def resolve_step_mode(setting: str, device: torch.device, amp: torch.dtype | None) -> str:
    """The step mode a ``training.compile`` setting means on ``device``: eager, graphs or compile.

    ``auto`` captures CUDA graphs on a GPU (capture costs three ordinary steps and no
    compilation; BENCHMARKS.md has the measured gain) and runs eagerly on the CPU,
    where launches are cheap next to the arithmetic. ``compile`` is ``torch.compile``
    (Inductor): faster kernels, paid for by a compilation per candidate.
    """
    if setting == "auto":
        return "graphs" if device.type == "cuda" and amp != torch.float16 else "eager"
    if setting == "off":
        return "eager"
    if setting == "graphs" and device.type != "cuda":
        raise ConfigError(
            f"training.compile=graphs needs a CUDA device, not {device.type}; use auto or off"
        )
    if setting == "graphs" and amp == torch.float16:
        raise ConfigError(
            "training.compile=graphs cannot capture fp16 training (its loss scaling skips "
            "steps on overflow); use training.amp=bf16 or training.compile=off"
        )
    return setting


@contextmanager
def seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Seed torch's global RNG (weight init, dropout) without leaking into the caller."""
    devices = []
    if device.type == "cuda":
        devices = [device.index if device.index is not None else torch.cuda.current_device()]
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


# --------------------------------------------------------------------------- optimizers
def param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Two groups: conv/fc kernels with ``weight_decay``, everything else without."""
    kernels = {
        id(module.weight)
        for module in model.modules()
        if isinstance(module, KERNEL_LAYERS) and module.weight is not None
    }
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if id(p) in kernels], "weight_decay": weight_decay},
        {"params": [p for p in params if id(p) not in kernels], "weight_decay": 0.0},
    ]
    return [group for group in groups if group["params"]]


def make_optimizer(
    model: nn.Module, learning: LearningSpec, weight_decay: float
) -> torch.optim.Optimizer:
    """The optimizer ``learning`` names, with its hyper-parameters, over :func:`param_groups`.

    The search passes a genotype's evolved learning unit; post-search training
    passes its fixed SGD recipe as a LearningSpec, so both build optimizers here.
    On CUDA, SGD and Adam use torch's fused kernels (a few launches for all
    parameters instead of several per parameter tensor; same update rule). An
    individual's own ``weight_decay`` (Fast-DENSER / EvoDENSS evolve it) replaces
    ``weight_decay``.
    """
    if learning.weight_decay is not None:
        weight_decay = learning.weight_decay
    groups = param_groups(model, weight_decay)
    fused = True if _on_cuda(model) else None
    if learning.optimizer == "sgd":
        return torch.optim.SGD(
            groups,
            lr=learning.lr,
            momentum=learning.momentum,
            nesterov=learning.nesterov and learning.momentum > 0,
            fused=fused,
        )
    if learning.optimizer == "adam":
        betas = (min(learning.beta1, BETA_MAX), min(learning.beta2, BETA_MAX))
        return torch.optim.Adam(groups, lr=learning.lr, betas=betas, fused=fused)
    if learning.optimizer == "nadam":  # Keras' Nadam: same momentum schedule (decay 0.004)
        betas = (min(learning.beta1, BETA_MAX), min(learning.beta2, BETA_MAX))
        return torch.optim.NAdam(groups, lr=learning.lr, betas=betas)
    if learning.optimizer == "rmsprop":
        return torch.optim.RMSprop(
            groups, lr=learning.lr, alpha=learning.rho, momentum=learning.momentum
        )
    if learning.optimizer == "lars":
        biases = learning.lr if learning.lr_biases is None else learning.lr_biases
        return Lars(
            groups, learning.lr, momentum=learning.momentum, bias_lr_ratio=biases / learning.lr
        )
    raise ConfigError(
        f"unknown optimizer '{learning.optimizer}' in the learning unit; "
        f"make the grammar produce one of {', '.join(OPTIMIZERS)}"
    )


def _on_cuda(model: nn.Module) -> bool:
    return any(p.is_cuda for p in model.parameters())


# --------------------------------------------------------------------------- lr schedules
class LRSchedule(Protocol):
    """Learning rate of optimisation ``step`` (0-based, counted over the whole training)."""

    def __call__(self, step: int) -> float: ...


@dataclass(frozen=True)
class InverseTime:
    """``lr / (1 + decay * step)``: the search's decay (the evolved ``lr`` and ``decay``)."""

    lr: float
    decay: float

    def __call__(self, step: int) -> float:
        return self.lr / (1.0 + self.decay * step)


@dataclass(frozen=True)
class Cosine:
    """``lr * (1 + cos(pi * step / total_steps)) / 2``, per step, 0 from ``total_steps`` on."""

    lr: float
    total_steps: int

    def __call__(self, step: int) -> float:
        return self.lr * 0.5 * (1.0 + math.cos(math.pi * min(step / self.total_steps, 1.0)))


WARMUP_FRACTION = 0.1
"""Share of the budget :class:`BudgetCosine` spends ramping the lr up from 0."""


@dataclass(frozen=True)
class BudgetCosine:
    """Linear warm-up over the first :data:`WARMUP_FRACTION` of the budget, then a cosine
    from ``lr`` to 0 at its end (``training.schedule: cosine``).

    ``progress(step)`` is the share of the budget spent when ``step`` runs (0..1:
    steps over the steps an epochs/images budget allows, or elapsed over allowed
    seconds). Annealing to 0 exactly when the budget ends is what lets a short
    training reach most of its accuracy: the paper's inverse-time decay leaves
    the lr near its start value at the end of a 10-epoch budget.
    """

    lr: float
    progress: Callable[[int], float]

    def __call__(self, step: int) -> float:
        p = min(max(self.progress(step), 0.0), 1.0)
        if p < WARMUP_FRACTION:
            return self.lr * max(p, 1e-3) / WARMUP_FRACTION
        done = (p - WARMUP_FRACTION) / (1.0 - WARMUP_FRACTION)
        return self.lr * 0.5 * (1.0 + math.cos(math.pi * done))


@dataclass(frozen=True)
class StepDecay:
    """``lr * gamma^k``, ``k`` the number of ``milestones`` (epochs) the step's epoch reached.

    Milestones are whole epochs so the lr changes only at epoch boundaries,
    whatever the batch count of the last epoch.
    """

    lr: float
    gamma: float
    milestones: tuple[int, ...]
    steps_per_epoch: int

    def __call__(self, step: int) -> float:
        epoch = step // self.steps_per_epoch
        return self.lr * self.gamma ** sum(epoch >= m for m in self.milestones)


# ------------------------------------------------------------------------------ training
class Recipe(Protocol):
    """What a training's settings say about the data and L2 (``TrainingConfig`` for the
    search, a post-search schedule), read by name so neither needs the other's class."""

    @property
    def weight_decay(self) -> float: ...

    @property
    def augment(self) -> bool: ...

    @property
    def augment_pad(self) -> int | None: ...


class Placement(Protocol):
    """Where and in which precision the model runs (``TrainingConfig``, ``PostTrainConfig``)."""

    @property
    def amp(self) -> str: ...

    @property
    def channels_last(self) -> bool: ...


class Trainer:
    """One model's optimisation: placement, optimizer, batches, steps and step count.

    The model is moved to ``device`` (channels-last when asked) before its
    optimizer (``learning`` over :func:`param_groups`) is made. ``seed`` seeds
    the trainer's own generator, used for the batch order and the augmentation
    (and handed to callers that need more randomness per batch, e.g. PGD's
    random start). ``grad_clip`` (max global gradient L2 norm, on unscaled
    gradients) is off when None. ``step`` counts optimizer steps over the whole
    training; restore it (and the optimizer, scaler and generator states) to resume.
    """

    def __init__(
        self,
        model: nn.Module,
        learning: LearningSpec,
        schedule: LRSchedule,
        recipe: Recipe,
        placement: Placement,
        *,
        device: torch.device,
        seed: int,
        grad_clip: float | None = None,
        step_mode: str = "eager",
    ) -> None:
        self.channels_last = placement.channels_last
        self.model = model.to(device)
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.optimizer = make_optimizer(self.model, learning, recipe.weight_decay)
        self.schedule = schedule
        self.device = device
        self.amp = amp_dtype(placement.amp, device)
        self.augment = recipe.augment
        self.augment_pad = recipe.augment_pad
        self.grad_clip = grad_clip
        self.scaler = torch.amp.GradScaler(device.type, enabled=self.amp == torch.float16)
        self.gen = torch.Generator(device=device).manual_seed(seed)
        self.step = 0
        self._forward: Callable[[torch.Tensor], torch.Tensor] = self.model
        self._graphed: GraphedStep | None = None
        if step_mode == "compile":
            self._forward = torch.compile(self.model)
        elif step_mode == "graphs":
            self._graphed = GraphedStep(
                self.model,
                self.amp,
                self._eager_update,
                self._apply_gradients,
                lambda: self.optimizer.zero_grad(set_to_none=True),
            )

    def batches(self, n: int, batch_size: int) -> Iterator[torch.Tensor]:
        """One epoch's shuffled index batches of ``n`` samples (the trainer's generator)."""
        return batches(n, batch_size, self.gen, self.device)

    def batch(self, split: DeviceSplit, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Float images (augmented when enabled) and labels of ``split`` at ``idx``."""
        x = split.x[idx]
        if self.augment:
            x = augment(x, self.gen, self.augment_pad)
        return to_float(x, self.channels_last), split.y[idx]

    @property
    def last_lr(self) -> float:
        """The learning rate of the last step taken (what an epoch's record reports)."""
        return self.schedule(self.step - 1)

    def update(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One optimisation step on ``(x, y)``; returns the (detached) loss and logits.

        The lr is written before the step, the loss is fp32 cross-entropy; with
        ``grad_clip`` the gradients are unscaled and clipped before the step.
        In ``graphs`` mode forward and backward are a CUDA-graph replay
        (:mod:`neronet.train.graphs`) and the returned tensors are its static
        outputs, valid until the next step.
        """
        if self._graphed is not None:
            return self._graphed.step(x, y)
        return self._eager_update(x, y)

    def _eager_update(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.autocast(x.device.type, dtype=self.amp, enabled=self.amp is not None):
            logits = self._forward(x)
        loss = F.cross_entropy(logits.float(), y)
        # once captured, the gradients are the graph's outputs: zero them, never drop them
        captured = self._graphed is not None and self._graphed.captured
        self.optimizer.zero_grad(set_to_none=not captured)
        self.scaler.scale(loss).backward()
        self._apply_gradients()
        return loss.detach(), logits.detach()

    def _apply_gradients(self) -> None:
        """Clip (when asked), step the optimizer at the schedule's lr, count the step."""
        lr = self.schedule(self.step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        if self.grad_clip is not None:
            self.scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.step += 1


# ---------------------------------------------------------------------------- evaluation
@torch.no_grad()
def predict(
    model: nn.Module,
    x: torch.Tensor,
    batch_size: int,
    *,
    channels_last: bool = False,
    amp: torch.dtype | None = None,
) -> torch.Tensor:
    """Class predictions (int64, on ``x``'s device) for uint8 images, in eval mode."""
    was_training = model.training
    model.eval()
    try:
        outputs = []
        for start in range(0, x.shape[0], batch_size):
            batch = to_float(x[start : start + batch_size], channels_last)
            with torch.autocast(x.device.type, dtype=amp, enabled=amp is not None):
                outputs.append(model(batch).argmax(dim=1))
        return torch.cat(outputs) if outputs else x.new_zeros(0, dtype=torch.int64)
    finally:
        model.train(was_training)


def accuracy(
    model: nn.Module,
    split: DeviceSplit,
    batch_size: int,
    *,
    channels_last: bool = False,
    amp: torch.dtype | None = None,
) -> float:
    """Clean accuracy of ``model`` on ``split`` (see :func:`predict`)."""
    preds = predict(model, split.x, batch_size, channels_last=channels_last, amp=amp)
    return float((preds == split.y).float().mean().item())
