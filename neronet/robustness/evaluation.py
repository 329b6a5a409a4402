"""Running the whole suite (and the audit) on trained models."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from neronet.attacks.catalogue import THREAT_LABELS, AttackSpec
from neronet.config import AttackSettings
from neronet.evaluation.scores import (
    clean_accuracy,
    conditional_adversarial_accuracy,
    overall_adversarial_accuracy,
)
from neronet.robustness.audit import Audit, Flag, audited_threats
from neronet.robustness.suite import (
    adversarial_correct,
    attack_label,
    predict,
)
from neronet.robustness.tables import ModelReport, Outcome, SuiteReport


def evaluate_model(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    attacks: list[AttackSpec],
    settings: AttackSettings,
    *,
    name: str = "model",
    progress: Callable[[str], None] | None = None,
) -> ModelReport:
    """Clean accuracy, every attack's accuracies and the audit for one model.

    ``x`` floats in [0, 1] and ``y`` labels on the model's device; the model is
    put in eval mode (evaluation never trains).
    """
    model.eval()
    if settings.limit is not None:
        x, y = x[: settings.limit], y[: settings.limit]
    clean = predict(model, x, max(settings.batch_size, 256)) == y
    outcomes = [Outcome("clean", "clean", "-", None, clean_accuracy(clean), None, None, len(y))]
    masks: dict[str, torch.Tensor] = {}
    for attack in attacks:
        label = attack_label(attack, settings)
        if progress is not None:
            progress(f"{name}: {label} ({THREAT_LABELS[attack.threat]})")
        adv = adversarial_correct(model, x, y, clean, attack, settings)
        masks[attack.name] = adv
        outcomes.append(
            Outcome(
                attack=attack.name,
                label=label,
                threat=THREAT_LABELS[attack.threat],
                eps=settings.eps(attack.threat),
                clean=clean_accuracy(clean),
                conditional=conditional_adversarial_accuracy(clean, adv),
                overall=overall_adversarial_accuracy(clean, adv),
                images=len(y),
            )
        )
    flags: list[Flag] = []
    threats = audited_threats(attacks) if settings.audit.enabled else []
    if threats:
        if progress is not None:
            progress(f"{name}: gradient-masking audit")
        flags = Audit(model, x, y, clean, settings).run(attacks, masks, clean)
    return ModelReport(name, outcomes, flags, tuple(THREAT_LABELS[t] for t in threats))


def evaluate(
    models: Sequence[tuple[str, nn.Module]],
    x: torch.Tensor,
    y: torch.Tensor,
    attacks: list[AttackSpec],
    settings: AttackSettings,
    *,
    progress: Callable[[str], None] | None = None,
) -> SuiteReport:
    """:func:`evaluate_model` for each ``(name, model)`` (e.g. the seeds of one training)."""
    reports = [
        evaluate_model(model, x, y, attacks, settings, name=name, progress=progress)
        for name, model in models
    ]
    return SuiteReport(reports, settings)
