"""Scores of per-sample masks: clean and adversarial accuracies, and the ill-fitted screen.

Pure functions of correctness masks (numpy or torch, any device) and training
losses, shared by the search's measurements and the post-search robustness
tables, so both count exactly alike:

- ``C`` (clean accuracy) and ``A`` (adversarial accuracy *conditional* on
  clean correctness: only clean-correct samples are attacked, ``A`` is the
  share of them still correct afterwards); ``C * A`` is the overall
  post-attack accuracy.
- An individual is *ill-fitted* (not attacked, penalty fitness) when its loss
  went non-finite or it predicts one class for most of the fitness set.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

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


def _as_numpy(values: Mask) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        return values.detach().cpu().numpy()
    return np.asarray(values)
