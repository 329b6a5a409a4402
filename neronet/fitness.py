"""NERO-Net's fitness: accuracies, weighted harmonic score, warm-up, ill-fitted.

Pure functions of per-sample correctness masks and training histories, so the
evaluator stays thin and every formula is testable without a network:

- ``C`` (clean accuracy) and ``A`` (adversarial accuracy *conditional* on
  clean correctness: only clean-correct samples are attacked, ``A`` is the
  share of them still correct afterwards); ``C * A`` is the overall
  post-attack accuracy.
- After warm-up the fitness is the F-beta-style weighted harmonic robustness
  score ``(1 + b^2) C A / (b^2 A + C)`` with ``b = 4``, which weights clean
  accuracy more (the paper's best individual: C 0.8749, A 0.3325 -> 0.7983).
- Warm-up: the fitness is ``C`` until the population's mean fitness reaches
  ``tau`` at the end of a generation; from then on the weighted score is used
  for good, so robustness is only rewarded once networks actually learn.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from neronet.config import FitnessConfig

Mask = np.ndarray | torch.Tensor
"""Per-sample booleans (numpy or torch, any device)."""


def clean_accuracy(clean_correct: Mask) -> float:
    """Share of samples classified correctly (0.0 for an empty set)."""
    correct = _as_numpy(clean_correct).astype(bool)
    return float(correct.mean()) if correct.size else 0.0


def conditional_adversarial_accuracy(clean_correct: Mask, adv_correct: Mask) -> float:
    """Share of the clean-correct samples still correct after the attack.

    0.0 when no sample is correct on clean input: nothing was attacked and
    nothing is robust. Samples wrong on clean input never count as robust,
    even if ``adv_correct`` says otherwise.
    """
    clean = _as_numpy(clean_correct).astype(bool)
    adv = _as_numpy(adv_correct).astype(bool)
    attacked = int(clean.sum())
    return float((clean & adv).sum()) / attacked if attacked else 0.0


def overall_adversarial_accuracy(clean_correct: Mask, adv_correct: Mask) -> float:
    """Share of all samples correct after the attack, i.e. ``C * A``."""
    return clean_accuracy(clean_correct) * conditional_adversarial_accuracy(
        clean_correct, adv_correct
    )


def weighted_hrs(clean: float, adversarial: float, beta: float = 4.0) -> float:
    """Weighted harmonic robustness score ``(1+b^2) C A / (b^2 A + C)``.

    ``beta > 1`` weights clean accuracy ``beta`` times as much as adversarial
    accuracy (the F-beta form). 0.0 when both accuracies are 0.
    """
    b2 = beta * beta
    denominator = b2 * adversarial + clean
    return (1 + b2) * clean * adversarial / denominator if denominator > 0 else 0.0


def warmup_over(population_mean: float, tau: float) -> bool:
    """Whether a generation's mean fitness ends the warm-up (``mean >= tau``)."""
    return population_mean >= tau


@dataclass
class WarmupState:
    """The warm-up switch of a run; once over, it stays over (the paper's rule).

    ``over`` is plain data so a resumed run restores it from the store.
    """

    tau: float
    over: bool = False

    @property
    def warmup(self) -> bool:
        """True while fitness is still clean accuracy."""
        return not self.over

    def observe(self, population_mean: float) -> bool:
        """Record a finished generation's mean fitness; return whether warm-up is over."""
        self.over = self.over or warmup_over(population_mean, self.tau)
        return self.over


def fitness_value(
    clean: float, adversarial: float | None, *, warmup: bool, beta: float = 4.0
) -> float:
    """``C`` during warm-up, else the weighted HRS of ``C`` and ``A``."""
    if warmup:
        return clean
    if adversarial is None:
        raise ValueError("adversarial accuracy is required once warm-up is over")
    return weighted_hrs(clean, adversarial, beta)


def ill_fitted_reason(
    losses: Sequence[float],
    predictions: np.ndarray | torch.Tensor,
    num_classes: int,
    max_share: float,
) -> str | None:
    """Why an individual is ill-fitted, or ``None`` when it is healthy.

    Ill-fitted individuals skip the adversarial evaluation and get a penalty
    fitness, because attacking them measures nothing:

    1. a non-finite training loss anywhere in ``losses`` (one value per epoch,
       reported 1-based): the weights are garbage even if training recovered;
    2. one class predicted for more than ``max_share`` of the fitness set: a
       network that (almost) always answers the same class looks "robust" to
       an untargeted attack on the samples of that class while having learnt
       nothing. The paper's threshold was lost in extraction; the default 0.5
       (``fitness.ill_fitted_share``) is far above the ~1/num_classes share of
       a sane model on a balanced set (10% on CIFAR-10), so it only catches
       degenerate networks while leaving weak-but-real early individuals alone.
    """
    for epoch, loss in enumerate(losses, start=1):
        if not math.isfinite(loss):
            return f"non-finite training loss ({loss}) at epoch {epoch}"
    preds = _as_numpy(predictions).astype(np.int64).ravel()
    if preds.size == 0:
        return None
    counts = np.bincount(preds, minlength=num_classes)
    top = int(counts.argmax())
    share = counts[top] / preds.size
    if share > max_share:
        return f"class {top} predicted for {share:.1%} of the fitness set (limit {max_share:.0%})"
    return None


@dataclass(frozen=True)
class FitnessResult:
    """One individual's fitness and the accuracies it came from."""

    fitness: float
    clean: float
    adversarial: float | None
    """Conditional adversarial accuracy ``A``; None when not measured."""
    overall_adversarial: float | None
    """``C * A``; None when not measured."""
    ill_fitted: str | None = None
    """The reason the individual is ill-fitted, None when healthy."""


def score_individual(
    losses: Sequence[float],
    predictions: Mask,
    labels: Mask,
    settings: FitnessConfig,
    *,
    num_classes: int,
    warmup: bool,
    attack: Callable[[Mask], Mask],
) -> FitnessResult:
    """The evaluator's entry point: screen, attack if needed, and score.

    ``attack`` maps the clean-correct mask to the adversarial-correct mask
    (e.g. ``lambda ok: attacks.attack_correct(..., clean_correct=ok)[1]``);
    it is injected so this stays free of models and devices. It is not called
    for ill-fitted individuals (they get ``settings.ill_fitted_penalty``). It
    *is* called during warm-up: the fitness ignores it then, but the search
    needs ``A`` of a parent carried across the switch to the weighted HRS, and
    the reports plot it for every generation.
    """
    clean_correct = predictions == labels
    clean = clean_accuracy(clean_correct)
    reason = ill_fitted_reason(losses, predictions, num_classes, settings.ill_fitted_share)
    if reason is not None:
        return FitnessResult(settings.ill_fitted_penalty, clean, None, None, reason)
    adv_correct = attack(clean_correct)
    adversarial = conditional_adversarial_accuracy(clean_correct, adv_correct)
    overall = clean * adversarial
    fitness = fitness_value(clean, adversarial, warmup=warmup, beta=settings.beta)
    return FitnessResult(fitness, clean, adversarial, overall)


def _as_numpy(values: Mask) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        return values.detach().cpu().numpy()
    return np.asarray(values)
