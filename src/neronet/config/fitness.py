"""How an individual is measured and scored (``fitness``, ``evaluation``): the attack
radius of the search, the in-search masking check, the objectives' settings."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from neronet.config.core import (
    Bool,
    Float,
    Int,
    LargeEps,
    MinImages,
    ProbeImages,
    Share,
    StrictSection,
    Tolerance,
)
from neronet.threat import ThreatRecord


class MaskingConfig(StrictSection):
    """The in-search gradient-masking check (measurement ``masking``), on a subset of the
    fitness set's clean-correct images; shares are accuracies (0.1 = 10 points)."""

    subset: ProbeImages = 64
    pgd_steps: Int = Field(default=5, ge=1, description="steps of the PGD probes")
    large_eps: LargeEps = 0.5
    large_eps_max_accuracy: Share = 0.1
    tolerance: Tolerance = 0.1
    min_images: MinImages = 3
    credit: Literal["pgd", "zero"] = Field(
        default="pgd",
        description="robustness credited to a flagged individual: its PGD accuracy on the "
        "probed images (never more than its attack's own), or nothing",
    )


class ParetoTarget(StrictSection):
    """One objective of the ``pareto`` objective: a metric, its direction, and the box
    its hypervolume is measured in (``reference``: the worst value that still counts,
    ``ideal``: the best one; the hypervolume is a share of that box, 1 at the ideal)."""

    metric: str = Field(min_length=1, description="a metric a configured measurement provides")
    goal: Literal["max", "min"]
    reference: Float | None = Field(
        default=None, description="worst value counted by the hypervolume (default 0 for max)"
    )
    ideal: Float | None = Field(
        default=None, description="best value (default 1 for max, 0 for min)"
    )

    @model_validator(mode="after")
    def _box(self) -> ParetoTarget:
        if self.goal == "min" and self.reference is None:
            raise ValueError(
                f"pareto objective {self.metric!r} (goal min) needs a reference: the worst "
                "value the hypervolume counts"
            )
        reference, ideal = self.bounds
        if (ideal > reference) != (self.goal == "max"):
            raise ValueError(
                f"pareto objective {self.metric!r}: ideal {ideal} must be "
                f"{'above' if self.goal == 'max' else 'below'} reference {reference}"
            )
        return self

    @property
    def bounds(self) -> tuple[float, float]:
        """``(reference, ideal)`` with the defaults filled in."""
        default_ideal = 1.0 if self.goal == "max" else 0.0
        reference = 0.0 if self.reference is None else self.reference
        return reference, default_ideal if self.ideal is None else self.ideal


DEFAULT_PARETO = (
    ParetoTarget(metric="clean_accuracy", goal="max"),
    ParetoTarget(metric="adversarial_accuracy", goal="max"),
    # 10M parameters: three times the NSGA-Net seed; larger networks add no hypervolume
    ParetoTarget(metric="parameters", goal="min", reference=1e7),
)


class FitnessConfig(StrictSection):
    warmup_tau: Float = Field(default=0.80, ge=0, le=1)
    beta: Float = Field(default=4.0, gt=0)
    attack_eps: Float = Field(default=8 / 255, ge=0)
    attack_batch_size: Int = Field(default=128, ge=1)
    pgd_steps: Int = Field(
        default=5,
        ge=1,
        description="steps of the pgd measurement (L-inf, attack_eps, step attack_eps/4, "
        "random start): the pgd objective's A",
    )
    ill_fitted_share: Float = Field(
        default=0.5, gt=0, le=1, description="one class predicted for more than this share"
    )
    ill_fitted_penalty: Float = Field(default=0.0)
    masking: MaskingConfig = Field(default_factory=MaskingConfig)
    pareto: tuple[ParetoTarget, ...] = Field(
        default=DEFAULT_PARETO,
        min_length=1,
        description="objectives of search.objective: pareto, each {metric, goal: max|min}",
    )
    reduced_precision: Bool = Field(
        default=False,
        description="measure clean and FGSM accuracy under the training autocast dtype "
        "(faster on GPU); off = fp32, since low-precision input gradients can weaken FGSM "
        "and so reward networks whose gradients degrade in bf16",
    )

    @property
    def threat(self) -> ThreatRecord:
        """The search's threat model (L-inf at ``attack_eps``, step eps/4): what the
        robustness measurements attack at and what a model of the run records."""
        return ThreatRecord.search(self.attack_eps)


DEFAULT_MEASUREMENTS = ("clean", "fgsm", "masking", "parameters")


class EvaluationConfig(StrictSection):
    """What is measured of every trained individual (registered measurement names)."""

    measurements: tuple[str, ...] = Field(default=DEFAULT_MEASUREMENTS, min_length=1)
    transfer_set: str | None = Field(
        default=None,
        description="the stored adversarial set of the transfer measurement (neronet "
        "transfer-set); unset: evolve builds one into the run from the transfer section",
    )

    @field_validator("measurements")
    @classmethod
    def _once(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(names)) != len(names):
            raise ValueError("a measurement is listed twice; list each once")
        return names
