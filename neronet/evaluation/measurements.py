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
from dataclasses import dataclass
from functools import partial
from typing import Literal

import torch
from torch import nn

from neronet.attacks import attack_correct, fgsm
from neronet.augment import DeviceData, to_float
from neronet.config import FitnessConfig, TrainingConfig
from neronet.evaluation import scores
from neronet.nn import count_parameters, estimate_flops
from neronet.registry import Registry
from neronet.spec import NetworkSpec

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


MEASUREMENTS: Registry[Measurement] = Registry("measurement")


def measurement(
    name: str, provides: tuple[str, ...], needs: Needs = "model"
) -> Callable[[Callable[[Trained], Mapping[str, float]]], Callable[[Trained], Mapping[str, float]]]:
    """Decorator: register ``fn`` as measurement ``name``."""

    def register(fn: Callable[[Trained], Mapping[str, float]]) -> Callable:
        MEASUREMENTS.register(name, Measurement(name, fn, provides, needs))
        return fn

    return register


@measurement("clean", provides=("clean_accuracy",))
def clean_accuracy(ind: Trained) -> dict[str, float]:
    """``C``: the share of the fitness set classified correctly."""
    return {"clean_accuracy": scores.clean_accuracy(ind.clean_correct)}


@measurement(
    "fgsm",
    provides=("adversarial_accuracy", "overall_adversarial_accuracy"),
    needs="healthy",
)
def fgsm_accuracy(ind: Trained) -> dict[str, float]:
    """``A``: FGSM accuracy (``fitness.attack_eps``) *conditional* on clean correctness
    (only correct samples are attacked), and the overall post-attack accuracy ``C * A``."""
    assert ind.model is not None and ind.data is not None
    clean = ind.clean_correct
    _, adv = attack_correct(
        ind.model,
        to_float(ind.data.fitness.x, ind.training.channels_last),
        ind.data.fitness.y,
        partial(fgsm, eps=ind.fitness.attack_eps, amp_dtype=ind.amp),
        ind.fitness.attack_batch_size,
        clean_correct=clean,
        amp_dtype=ind.amp,
    )
    adversarial = scores.conditional_adversarial_accuracy(clean, adv)
    return {
        "adversarial_accuracy": adversarial,
        "overall_adversarial_accuracy": scores.clean_accuracy(clean) * adversarial,
    }


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
