"""After the search: ``neronet attack``'s settings and audit (``attack``) and how RAS's
stored adversarial set is built (``transfer``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, PrivateAttr

from neronet.config.core import (
    Bool,
    Device,
    Float,
    Int,
    LargeEps,
    MinImages,
    ProbeImages,
    Share,
    StrictSection,
    Tolerance,
    distinct,
)
from neronet.errors import AttackError
from neronet.threat import ThreatRecord


class AuditSettings(StrictSection):
    """The gradient-masking audit; thresholds are accuracy shares (0.02 = 2 points)."""

    enabled: Bool = True
    subset: ProbeImages = 200
    tolerance: Tolerance = 0.02
    min_images: MinImages = 3
    square_queries: Int = Field(default=1000, ge=1, description="Square attack query budget")
    large_eps: LargeEps = 0.5
    large_eps_max_accuracy: Share = 0.05
    convergence_steps: Int = Field(default=100, ge=1, description="PGD steps of the strong run")
    convergence_restarts: Int = Field(default=5, ge=1, description="random restarts of it")
    fgsm_gap: Share = Field(default=0.10, description="FGSM above PGD by more: FGSM is optimistic")
    single_step_probe_steps: Int = Field(
        default=10, ge=1, description="PGD steps of the single-step row's masking probes"
    )


class AttackSettings(StrictSection):
    """Settings of ``neronet attack``, defaults from the paper (or chosen where it lost them)."""

    linf_eps: Float = Field(
        default=8 / 255, gt=0, le=1, description="L-inf radius (images in [0, 1])"
    )
    l2_eps: Float = Field(default=0.5, gt=0)
    linf_step: Float | None = Field(
        default=None, gt=0, description="PGD L-inf step (default eps/4: 2/255 at 8/255)"
    )
    l2_step: Float | None = Field(default=None, gt=0, description="PGD L2 step (default eps/4)")
    steps: Int = Field(default=20, ge=1, description="PGD iterations")
    random_start: Bool = True
    batch_size: Int = Field(default=32, ge=1, description="attack batch size (paper: 32)")
    limit: Int | None = Field(default=None, ge=1, description="attack only the first N test images")
    seed: Int = Field(default=0, ge=0, description="seeds PGD random starts and AutoAttack")
    channels_last: Bool = Field(
        default=True,
        description="attack the network in channels-last memory (faster convolutions; its "
        "logits differ from the standard layout's only in float rounding)",
    )
    autoattack_restarts: Int = Field(
        default=1,
        ge=1,
        description="APGD-CE restarts of the L2 APGD-CE + APGD-T run (L-inf AutoAttack is "
        "always the standard version)",
    )
    audit: AuditSettings = Field(default_factory=AuditSettings)
    _sections: Mapping[str, Any] = PrivateAttr(default_factory=dict)

    @property
    def sections(self) -> Mapping[str, Any]:
        """The config's plug-in sections, where an attack with settings of its own reads
        them (``ItsSettings.of(settings.sections)``; its spec names the class)."""
        return self._sections

    def with_sections(self, sections: Mapping[str, Any]) -> AttackSettings:
        """These settings with the config's plug-in ``sections`` (``config.sections``)."""
        copy = self.model_copy()
        copy._sections = sections
        return copy

    def with_threat(self, threat: ThreatRecord, *, step: bool = True) -> AttackSettings:
        """These settings at ``threat``'s radius, and its PGD step when ``step`` (stored
        only where it is not the quarter-radius default the settings derive anyway)."""
        update: dict[str, Any] = {f"{threat.norm}_eps": threat.eps}
        if step and threat.step != threat.eps / 4:
            update[f"{threat.norm}_step"] = threat.step
        return self.model_copy(update=update)

    def eps(self, threat: str) -> float:
        """The radius of ``threat`` (``linf`` or ``l2``); an attack of another norm says
        its own (:meth:`~neronet.attacks.catalogue.AttackSpec.radius`)."""
        radii = {"linf": self.linf_eps, "l2": self.l2_eps}
        if threat not in radii:
            raise AttackError(
                f"the attack settings hold no {threat!r} radius; the attack must give its own"
            )
        return radii[threat]

    def step(self, threat: str) -> float:
        """PGD step size: the explicit one, else a quarter of the radius."""
        step = self.linf_step if threat == "linf" else self.l2_step
        return step if step is not None else self.eps(threat) / 4


TRANSFER_SOURCES = ("capsnet", "resnet", "adversarial", "feature-squeezing")
"""The paper's Table 1 sources, in its order (neronet.transfer.sources); nsga-net is extra."""


class BlackBoxBudget(StrictSection):
    """One optimiser's budget per attacked image (the run stops at the first success)."""

    popsize: Int = Field(
        default=400, ge=5, description="candidates per generation (DE: see docs/METHOD.md)"
    )
    iterations: Int = Field(default=100, ge=1, description="generations at most")


class TransferConfig(StrictSection):
    """How ``neronet transfer-set`` (and a run without ``evaluation.transfer_set``) builds
    RAS's stored adversarial set: black-box attacks on source models (paper, Table 1).

    Thresholds, attacks, optimisers and sources (CapsNet, ResNet, adversarial training,
    feature squeezing defending the ResNet) are the paper's, the ResNet a ResNet-style
    net; the NSGA-Net seed may be added. Budgets and squeezers are the authors' code's;
    images per source and epochs are not in the paper (chosen)."""

    sources: Annotated[
        tuple[str, ...],
        AfterValidator(distinct),
    ] = Field(default=TRANSFER_SOURCES, min_length=1)
    attacks: Annotated[tuple[Literal["l0", "linf"], ...], AfterValidator(distinct)] = Field(
        default=("l0", "linf"), min_length=1
    )
    thresholds: Annotated[
        tuple[Annotated[Int, Field(ge=1, le=255)], ...], AfterValidator(distinct)
    ] = Field(default=(1, 3, 5, 10), min_length=1, description="pixels (l0) or grey levels")
    optimisers: Annotated[tuple[Literal["de", "cmaes"], ...], AfterValidator(distinct)] = Field(
        default=("de", "cmaes"), min_length=1
    )
    images: Int = Field(
        default=100, ge=1, description="test images attacked per source (correctly classified)"
    )
    de: BlackBoxBudget = Field(default_factory=BlackBoxBudget)
    cmaes: BlackBoxBudget = Field(default_factory=BlackBoxBudget)
    epochs: Int = Field(default=30, ge=1, description="standard training of the sources")
    adversarial_epochs: Int = Field(default=30, ge=1, description="PGD training of 'adversarial'")
    squeeze_bits: Int = Field(default=5, ge=1, le=8, description="feature squeezing's bit depth")
    squeeze_median: Int = Field(
        default=1, ge=1, description="feature squeezing's median window side (1: none)"
    )
    whitebox: Bool = Field(
        default=False,
        description="also PGD (L-inf, each threshold) against the sources: faster, white-box, "
        "recorded as optimiser 'pgd'",
    )
    pgd_steps: Int = Field(default=10, ge=1)
    seed: Int = Field(default=0, ge=0, description="source training seed and attack seeds")
    device: Device = "auto"
    batch_size: Int = Field(default=1024, ge=1, description="images per forward pass")
