"""Named measurements of an individual: ``metrics = {name: value}`` after training.

The evaluator runs the measurements a config lists (``evaluation.measurements``)
and returns their union as ``Evaluation.metrics``; the store, the objectives,
the progress table and the reports read metrics by name. Adding one is a
registered function plus its test:

    @MEASUREMENTS.register("pgd10")
    def _pgd10(ind: Trained) -> dict[str, float]: ...
    Measurement("pgd10", _pgd10, provides=("pgd10_accuracy",), needs="healthy")

``needs`` says when a measurement can run: ``spec`` (from the architecture
alone, even when it cannot be built or trained), ``model`` (a trained network,
ill-fitted ones included) or ``healthy`` (trained and not ill-fitted: attacks,
which measure nothing on a degenerate classifier).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal

import torch
from torch import nn

from neronet.attacks import attack_correct, fgsm, pgd
from neronet.attacks.gradient import AttackFn
from neronet.augment import DeviceData, to_float
from neronet.config import FitnessConfig, MaskingConfig, TrainingConfig
from neronet.errors import ConfigError
from neronet.evaluation import scores
from neronet.evaluation.masking import MaskingEvidence, MaskingLimits, masking_evidence
from neronet.nn import count_parameters, estimate_flops
from neronet.registry import Registry
from neronet.spec import NetworkSpec
from neronet.train.core import predict

Needs = Literal["spec", "model", "healthy"]


@dataclass
class Trained:
    """What a measurement may look at: the network (trained unless ``needs='spec'``),
    the data on its device, the settings, and the clean predictions on the fitness set."""

    spec: NetworkSpec
    model: nn.Module | None
    data: DeviceData | None
    fitness: FitnessConfig
    training: TrainingConfig
    amp: torch.dtype | None
    """Autocast dtype for measurements (None: fp32, see ``fitness.reduced_precision``)."""
    predictions: torch.Tensor | None
    transfer_set: str | None = None
    """Path of the transfer set (``evaluation.transfer_set``), for the ``transfer`` measurement."""
    sections: Mapping[str, Any] = field(default_factory=dict)
    """The plug-in settings sections: a measurement with its own reads them with
    ``ItsSettings.of(ind.sections)`` (:mod:`neronet.config.sections`)."""

    @property
    def clean_correct(self) -> torch.Tensor:
        """Per-sample correctness on the fitness set (bool, on the data's device)."""
        assert self.predictions is not None and self.data is not None
        return self.predictions == self.data.fitness.y


@dataclass(frozen=True)
class Measurement:
    """A registered measurement: what it computes, which metric names, when it can run."""

    name: str
    fn: Callable[[Trained], Mapping[str, float]]
    provides: tuple[str, ...]
    needs: Needs = "model"
    explain: Callable[[Trained, Mapping[str, float]], str | None] | None = None
    """A note for the individual's record from its metrics (e.g. why it is flagged)."""


MEASUREMENTS: Registry[Measurement] = Registry("measurement")


def measurement(
    name: str,
    provides: tuple[str, ...],
    needs: Needs = "model",
    explain: Callable[[Trained, Mapping[str, float]], str | None] | None = None,
) -> Callable[[Callable[[Trained], Mapping[str, float]]], Callable[[Trained], Mapping[str, float]]]:
    """Decorator: register ``fn`` as measurement ``name``."""

    def register(fn: Callable[[Trained], Mapping[str, float]]) -> Callable:
        MEASUREMENTS.register(name, Measurement(name, fn, provides, needs, explain))
        return fn

    return register


@measurement("clean", provides=("clean_accuracy",))
def clean_accuracy(ind: Trained) -> dict[str, float]:
    """``C``: the share of the fitness set classified correctly."""
    return {"clean_accuracy": scores.clean_accuracy(ind.clean_correct)}


def _conditional(ind: Trained, attack: AttackFn) -> tuple[float, float]:
    """``attack``'s accuracy on the fitness set conditional on clean correctness (only
    correct samples are attacked) and the overall post-attack accuracy ``C * A``."""
    assert ind.model is not None and ind.data is not None
    clean = ind.clean_correct
    _, adv = attack_correct(
        ind.model,
        to_float(ind.data.fitness.x, ind.training.channels_last),
        ind.data.fitness.y,
        attack,
        ind.fitness.attack_batch_size,
        clean_correct=clean,
        amp_dtype=ind.amp,
    )
    adversarial = scores.conditional_adversarial_accuracy(clean, adv)
    return adversarial, scores.clean_accuracy(clean) * adversarial


@measurement(
    "fgsm",
    provides=("adversarial_accuracy", "overall_adversarial_accuracy"),
    needs="healthy",
)
def fgsm_accuracy(ind: Trained) -> dict[str, float]:
    """``A``: FGSM accuracy at the search radius (``fitness.threat``) *conditional* on
    clean correctness (only correct samples are attacked), and the overall post-attack
    accuracy ``C * A``."""
    adversarial, overall = _conditional(
        ind, partial(fgsm, eps=ind.fitness.threat.eps, amp_dtype=ind.amp)
    )
    return {"adversarial_accuracy": adversarial, "overall_adversarial_accuracy": overall}


@measurement("pgd", provides=("pgd_accuracy", "overall_pgd_accuracy"), needs="healthy")
def pgd_accuracy(ind: Trained) -> dict[str, float]:
    """PGD-k accuracy (``fitness.pgd_steps``, the search's threat: L-inf radius and step,
    random start from a fixed seed) conditional on clean correctness, and overall: the
    ``pgd`` objective's ``A``, a stronger attack than FGSM for a few more passes."""
    assert ind.data is not None
    threat = ind.fitness.threat
    generator = torch.Generator(device=ind.data.device).manual_seed(0)
    attack = partial(
        pgd,
        eps=threat.eps,
        alpha=threat.step,
        steps=ind.fitness.pgd_steps,
        generator=generator,
        amp_dtype=ind.amp,
    )
    adversarial, overall = _conditional(ind, attack)
    return {"pgd_accuracy": adversarial, "overall_pgd_accuracy": overall}


def masking_limits(settings: MaskingConfig) -> MaskingLimits:
    return MaskingLimits(
        large_eps=settings.large_eps,
        large_eps_max_accuracy=settings.large_eps_max_accuracy,
        tolerance=settings.tolerance,
        min_images=settings.min_images,
        pgd_steps=settings.pgd_steps,
    )


MASKING_METRICS = (
    "masking_flag",
    "masking_fgsm_accuracy",
    "masking_pgd_accuracy",
    "masking_large_eps_accuracy",
    "masking_random_accuracy",
    "masking_images",
)


def _masking_note(ind: Trained, metrics: Mapping[str, float]) -> str | None:
    """Why an individual is flagged, from its probe accuracies."""
    if not metrics.get("masking_flag"):
        return None
    evidence = MaskingEvidence(
        images=int(metrics["masking_images"]),
        single=metrics["masking_fgsm_accuracy"],
        iterative=metrics["masking_pgd_accuracy"],
        large_eps=metrics["masking_large_eps_accuracy"],
        random=metrics["masking_random_accuracy"],
    )
    reasons = evidence.reasons(masking_limits(ind.fitness.masking))
    return "gradient masking suspected: " + "; ".join(reasons)


@measurement("masking", provides=MASKING_METRICS, needs="healthy", explain=_masking_note)
def masking_check(ind: Trained) -> dict[str, float]:
    """The in-search gradient-masking check (see :mod:`neronet.evaluation.masking`) on the
    first ``fitness.masking.subset`` clean-correct images of the fitness set."""
    assert ind.model is not None and ind.data is not None
    settings = ind.fitness.masking
    index = ind.clean_correct.nonzero().flatten()[: settings.subset]
    x = to_float(ind.data.fitness.x[index], ind.training.channels_last)
    limits = masking_limits(settings)
    evidence = masking_evidence(
        ind.model,
        x,
        ind.data.fitness.y[index],
        eps=ind.fitness.threat.eps,
        norm=ind.fitness.threat.norm,
        limits=limits,
        seed=0,
        batch_size=ind.fitness.attack_batch_size,
        amp_dtype=ind.amp,
    )
    return {
        "masking_flag": float(bool(evidence.reasons(limits))),
        "masking_fgsm_accuracy": evidence.single,
        "masking_pgd_accuracy": evidence.iterative,
        "masking_large_eps_accuracy": evidence.large_eps,
        "masking_random_accuracy": evidence.random,
        "masking_images": float(evidence.images),
    }


@measurement("transfer", provides=("transfer_accuracy",))
def transfer_accuracy(ind: Trained) -> dict[str, float]:
    """RAS's robustness: accuracy on the stored adversarial samples crafted against other
    models (``evaluation.transfer_set``, see :mod:`neronet.transfer`)."""
    from neronet.transfer.artifact import resident_transfer_set

    assert ind.model is not None and ind.data is not None
    if ind.transfer_set is None:
        raise ConfigError(
            "measurement 'transfer' needs a transfer set; set evaluation.transfer_set "
            "(neronet transfer-set builds one)"
        )
    x, y = resident_transfer_set(ind.transfer_set, ind.data.device)
    predictions = predict(
        ind.model,
        x,
        ind.training.eval_batch_size,
        channels_last=ind.training.channels_last,
        amp=ind.amp,
    )
    return {"transfer_accuracy": scores.clean_accuracy(predictions == y)}


@measurement("parameters", provides=("parameters",), needs="spec")
def parameters(ind: Trained) -> dict[str, float]:
    """Trainable parameters of the architecture."""
    return {"parameters": count_parameters(ind.spec)}


@measurement("flops", provides=("flops",), needs="spec")
def flops(ind: Trained) -> dict[str, float]:
    """Multiply-adds per image (the architecture's inference cost)."""
    return {"flops": estimate_flops(ind.spec)}


def provided(names: Sequence[str]) -> list[str]:
    """Metric names the measurements ``names`` produce, in order (unknown: one-line error)."""
    return [metric for name in names for metric in MEASUREMENTS.get(name).provides]
