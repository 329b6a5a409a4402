"""One seed's post-search training, advanced epoch by epoch, and its lr schedule.

The loop owns the model, the :class:`~neronet.train.core.Trainer` and the history, and
can save and restore everything an exact continuation needs (weights apart; the caller
checkpoints them), so a killed training resumes bit-identical on the CPU.
"""

from __future__ import annotations

import io
import math
import time
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from neronet.attacks import pgd
from neronet.augment import DeviceSplit
from neronet.config import AdversarialTraining, PostTrainConfig, ScheduleSettings
from neronet.errors import NeronetError
from neronet.train.core import Cosine, LRSchedule, StepDecay, Trainer, accuracy


def lr_schedule(schedule: ScheduleSettings, steps_per_epoch: int) -> LRSchedule:
    """The settings' lr schedule for a training of ``steps_per_epoch`` steps an epoch.

    Cosine anneals per step to 0 at the end of the last epoch; step decays by
    ``gamma`` at each milestone, a fraction of the epochs rounded to a whole
    epoch (``round(fraction * epochs)``), so a shortened run keeps the shape.
    """
    if schedule.schedule == "cosine":
        return Cosine(schedule.lr, schedule.epochs * steps_per_epoch)
    milestones = tuple(round(m * schedule.epochs) for m in schedule.milestones)
    return StepDecay(schedule.lr, schedule.gamma, milestones, steps_per_epoch)


@dataclass(frozen=True)
class EpochStats:
    """One finished epoch; ``train_accuracy`` is on the (adversarial, in that mode) batches;
    ``test_accuracy`` is None after an epoch ``posttrain.test_every`` does not test (the
    last epoch is always tested)."""

    epoch: int
    train_loss: float
    train_accuracy: float
    test_accuracy: float | None
    lr: float
    seconds: float


class TrainingDiverged(NeronetError):
    """The loss became non-finite: the schedule is too aggressive for this network."""


def final_accuracy(history: list[EpochStats]) -> float:
    """The test accuracy after the last epoch (always tested: see ``test_every``)."""
    final = history[-1].test_accuracy
    if final is None:
        raise ValueError("its last epoch has no test accuracy")
    return final


class EpochLoop:
    """Model, :class:`~neronet.train.core.Trainer` and history of one seed's training,
    advanced epoch by epoch; the schedule's optimizer steps with its clip on every batch."""

    def __init__(
        self,
        model: nn.Module,
        config: PostTrainConfig,
        device: torch.device,
        seed: int,
        per_epoch: int,
    ) -> None:
        s = self.schedule = config.schedule
        self.config = config
        self.device = device
        schedule = lr_schedule(s, per_epoch)
        self.trainer = Trainer(
            model,
            s.learning(),
            schedule,
            s,
            config,
            device=device,
            seed=seed,
            grad_clip=s.grad_clip,
        )
        self.model = self.trainer.model
        self.epoch = 0
        self.history: list[EpochStats] = []

    def weights(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().to("cpu").contiguous() for k, v in self.model.state_dict().items()}

    def state_bytes(self) -> bytes:
        """Everything but the weights needed to continue exactly (tensors and plain data)."""
        cuda = self.device.type == "cuda"
        trainer = self.trainer
        payload = {
            "epoch": self.epoch,
            "step": trainer.step,
            "optimizer": trainer.optimizer.state_dict(),
            "scaler": trainer.scaler.state_dict(),
            "generator": trainer.gen.get_state(),
            "cpu_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state(self.device) if cuda else None,
            "history": [asdict(e) for e in self.history],
        }
        buffer = io.BytesIO()
        torch.save(payload, buffer)
        return buffer.getvalue()

    def restore(self, weights: dict[str, torch.Tensor], state: dict[str, Any]) -> None:
        trainer = self.trainer
        self.model.load_state_dict(weights)
        trainer.optimizer.load_state_dict(state["optimizer"])
        if state["scaler"]:
            trainer.scaler.load_state_dict(state["scaler"])
        trainer.gen.set_state(state["generator"])
        torch.set_rng_state(state["cpu_rng"])
        if state["cuda_rng"] is not None and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["cuda_rng"], self.device)
        self.epoch, trainer.step = state["epoch"], state["step"]
        self.history = [EpochStats(**e) for e in state["history"]]

    def _batch(self, train: DeviceSplit, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The (augmented; adversarial in that mode) float batch and its labels."""
        s = self.schedule
        x, y = self.trainer.batch(train, idx)
        if isinstance(s, AdversarialTraining):
            x = pgd(
                self.model,
                x,
                y,
                s.eps,
                s.alpha,
                s.steps,
                "linf",
                s.random_start,
                generator=self.trainer.gen,
                amp_dtype=self.trainer.amp,
            )
        return x, y

    def run_epoch(self, train: DeviceSplit, test: DeviceSplit) -> EpochStats:
        start = time.perf_counter()
        loss_sum = torch.zeros((), device=self.device)
        correct = torch.zeros((), dtype=torch.long, device=self.device)
        seen = 0
        self.model.train()
        for idx in self.trainer.batches(len(train), self.schedule.batch_size):
            x, y = self._batch(train, idx)
            loss, logits = self.trainer.update(x, y)
            loss_sum += loss * len(y)
            correct += (logits.argmax(dim=1) == y).sum()
            seen += len(y)
        self.epoch += 1
        train_loss = float(loss_sum.item()) / seen
        if not math.isfinite(train_loss):
            raise TrainingDiverged(
                f"training diverged (non-finite loss in epoch {self.epoch}); "
                "lower the learning rate or the gradient clip and start a new --out"
            )
        every = self.config.test_every
        tested = self.epoch == self.schedule.epochs or (every and self.epoch % every == 0)
        stats = EpochStats(
            epoch=self.epoch,
            train_loss=train_loss,
            train_accuracy=int(correct.item()) / seen,
            test_accuracy=accuracy(
                self.model,
                test,
                self.config.eval_batch_size,
                channels_last=self.config.channels_last,
                amp=self.trainer.amp,
            )
            if tested
            else None,
            lr=self.trainer.last_lr,
            seconds=time.perf_counter() - start,
        )
        self.history.append(stats)
        return stats
