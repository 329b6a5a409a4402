"""Post-search training (``posttrain``): ``neronet train``'s standard and PGD
adversarial schedules (paper section 6)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, PrivateAttr, field_validator

from neronet.config.core import Augmentation, Bool, Float, Int, Placement
from neronet.spec import LearningSpec

# Each schedule has its own defaults; the bounds are defined once, here.
Epochs = Annotated[Int, Field(ge=1)]
BatchSize = Annotated[Int, Field(ge=1)]
Rate = Annotated[Float, Field(gt=0)]
Decay = Annotated[Float, Field(ge=0, description="L2 on conv/fc kernels only")]
Schedule = Literal["cosine", "step"]
Milestones = Annotated[
    tuple[float, ...],
    Field(description="step schedule: lr x gamma after these fractions of the epochs"),
]


class ScheduleSettings(Augmentation):
    """Settings shared by both schedules (defaults set per schedule)."""

    epochs: Epochs
    batch_size: BatchSize
    lr: Rate
    momentum: Float = Field(default=0.9, ge=0, lt=1)
    weight_decay: Decay
    grad_clip: Float = Field(default=5.0, gt=0, description="max global gradient L2 norm")
    schedule: Schedule
    milestones: Milestones = ()
    gamma: Float = Field(default=0.1, gt=0, le=1)

    def learning(self) -> LearningSpec:
        """The optimizer and its hyper-parameters (the section-6 schedules: SGD)."""
        return LearningSpec(optimizer="sgd", lr=self.lr, momentum=self.momentum)

    @field_validator("milestones")
    @classmethod
    def _fractions(cls, milestones: tuple[float, ...]) -> tuple[float, ...]:
        if any(not 0 < m < 1 for m in milestones):
            raise ValueError("milestones are fractions of the epochs, each in (0, 1)")
        return milestones


class StandardTraining(ScheduleSettings):
    """Paper section 6, standard training (weight decay chosen: NSGA-Net's 3e-4)."""

    epochs: Epochs = 350
    batch_size: BatchSize = 128
    lr: Rate = 0.025
    weight_decay: Decay = 3e-4
    schedule: Schedule = "cosine"


class AdversarialTraining(ScheduleSettings):
    """Paper section 6, Madry PGD-7 adversarial training (weight decay chosen: 5e-4)."""

    epochs: Epochs = 200
    batch_size: BatchSize = 64
    lr: Rate = 0.1
    weight_decay: Decay = 5e-4
    schedule: Schedule = "step"
    milestones: Milestones = (0.5, 0.75)
    eps: Float = Field(default=8 / 255, gt=0, description="L-inf radius of the PGD examples")
    alpha: Float = Field(default=2 / 255, gt=0, description="PGD step size")
    steps: Int = Field(default=7, ge=1, description="PGD iterations per batch")
    random_start: Bool = True


class PostTrainConfig(Placement):
    """Everything ``neronet train`` needs besides the architecture and the data (where and
    how it runs: :class:`Placement`, as for search-time training)."""

    mode: Literal["standard", "adversarial"] = "standard"
    seeds: Int = Field(default=10, ge=1, description="number of seeds (the paper uses 10)")
    first_seed: Int = Field(default=0, ge=0, description="seeds are first_seed, first_seed+1, ...")
    holdout: Float = Field(
        default=0.2,
        gt=0,
        description="dataset without a test split: the fraction (or count) of its training "
        "images held out as one (0.2 = 10,000 of CIFAR-10's 50,000)",
    )
    holdout_seed: Int = Field(default=0, ge=0, description="seed of the held-out draw")
    test_every: Int = Field(
        default=0,
        ge=0,
        description="also test after every N-th epoch (0: only after the last). The test "
        "split decides nothing, and on a small training set (a survey's, an experiment's) "
        "testing all of it every epoch took longer than the epoch",
    )
    images: Literal["all", "search"] = Field(
        default="all",
        description="neronet train: all training images, or (from a run) only the run's "
        "search train + control images, the recipe of a survey's ground truth (a survey "
        "always uses it), so a method comparison on the same budget measures alike",
    )
    search_eps: Float | None = Field(
        default=None,
        gt=0,
        description="L-inf eps of the search the architecture came from (train --run sets "
        "it); recorded in the model so neronet attack defaults to that threat model",
    )
    standard: StandardTraining = Field(default_factory=StandardTraining)
    adversarial: AdversarialTraining = Field(default_factory=AdversarialTraining)
    _own_standard: ScheduleSettings | None = PrivateAttr(default=None)

    def with_standard(self, schedule: ScheduleSettings) -> PostTrainConfig:
        """A copy whose standard training is ``schedule``: the recipe of the search the
        architecture came from (RAS's, ``ras.training``) instead of section 6's."""
        copy = self.model_copy()
        copy._own_standard = schedule
        return copy

    @property
    def schedule(self) -> ScheduleSettings:
        """The settings of the selected mode."""
        if self.mode == "adversarial":
            return self.adversarial
        return self.standard if self._own_standard is None else self._own_standard

    @property
    def seed_list(self) -> list[int]:
        return list(range(self.first_seed, self.first_seed + self.seeds))
