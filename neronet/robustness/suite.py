"""The attack suite: settings, the attack catalogue and its selection, running one attack.

The paper's suite (Table 2): under L-inf eps 8/255, FGSM, PGD-20 and
AutoAttack (standard version); under L2 eps 0.5, FGM, PGD-20 and AutoAttack
restricted to APGD-CE + APGD-T. PGD step sizes were lost in the paper; the
default is the usual eps/4 for both norms (2/255 at 8/255). Every number is a
setting.

Attacks run in fp32 whatever the training precision: reduced-precision
gradients can themselves weaken an attack and look like robustness.

AutoAttack is the reference implementation (``pyautoattack``), wrapped: its
global-RNG seeding is confined with ``torch.random.fork_rng`` and every count it
uses is set explicitly (APGD-CE restarts, APGD-T target classes and restarts,
FAB-T target classes), because its "custom" version would otherwise fall back
to 5 APGD-CE restarts, unlike "standard". The L-inf row is the standard version
untouched (only the target classes are capped at classes - 1 on datasets with
fewer than 10 classes), so it stays the reference number;
``autoattack_restarts`` applies only to the custom L2 APGD-CE + APGD-T run.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from neronet.attacks import ATTACKS, AttackSpec, attack_correct, get_attack
from neronet.attacks.catalogue import Threat
from neronet.config import AttackSettings
from neronet.errors import AttackError

AA_NORMS = {"linf": "Linf", "l2": "L2"}
TARGET_CLASSES = 9
"""AutoAttack standard's APGD-T / FAB-T target classes (capped at classes - 1)."""


def attack_label(attack: AttackSpec, settings: AttackSettings) -> str:
    """The table's name of ``attack`` (PGD with its step count)."""
    return f"PGD-{settings.steps}" if attack.family == "pgd" else attack.label


SUITES = {
    "paper": tuple(ATTACKS.names()),
    "linf": ("fgsm", "pgd-linf", "autoattack"),
    "l2": ("fgm", "pgd-l2", "apgd-l2"),
    "fast": ("fgsm", "pgd-linf", "fgm", "pgd-l2"),
}


def select_attacks(suite: str | None, names: Sequence[str] = ()) -> list[AttackSpec]:
    """The attacks of ``suite`` plus single ``names``, catalogue order, no duplicates."""
    if suite is not None and suite not in SUITES:
        raise AttackError(f"unknown suite {suite!r}; valid suites: {', '.join(SUITES)}")
    unknown = [n for n in names if n not in ATTACKS]
    if unknown:
        valid = ", ".join(ATTACKS.names())
        raise AttackError(f"unknown attack {unknown[0]!r}; valid attacks: {valid}")
    wanted = set(names) | set(SUITES[suite] if suite is not None else ())
    if not wanted:
        raise AttackError("no attack selected; pass --suite paper or --attacks fgsm,pgd-linf")
    return [ATTACKS.get(name) for name in ATTACKS.names() if name in wanted]


# --------------------------------------------------------------------------- running attacks


def predict(model: nn.Module, x: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Predicted labels of ``x`` in batches, without building a graph."""
    with torch.no_grad():
        return torch.cat([model(part).argmax(dim=1) for part in x.split(batch_size)])


def autoattack_correct(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    threat: Threat,
    eps: float,
    attacks: list[str] | None,
    batch_size: int,
    seed: int,
    restarts: int = 1,
    square_queries: int | None = None,
) -> torch.Tensor:
    """Per-sample robustness of ``x`` (all clean-correct) under pyautoattack.

    ``attacks=None`` runs the standard version (APGD-CE, APGD-T, FAB-T,
    Square) with its own restarts; a list runs the custom version with exactly
    those attacks, ``restarts`` APGD-CE restarts and one APGD-T restart.
    """
    from pyautoattack import AutoAttack

    if x.shape[0] == 0:
        return torch.zeros(0, dtype=torch.bool, device=x.device)
    with torch.no_grad():
        num_classes = int(model(x[:1]).shape[1])
    targets = min(TARGET_CLASSES, num_classes - 1)
    version = "standard" if attacks is None else "custom"
    cuda = [x.device.index or 0] if x.device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        aa = AutoAttack(
            model,
            norm=AA_NORMS[threat],
            eps=eps,
            version=version,
            attacks=attacks,
            device=x.device,
            seed=seed,
        )
        if version == "custom":
            aa.apgd.n_restarts = restarts
            aa.apgd_targeted.n_restarts = 1
        aa.apgd_targeted.n_target_classes = targets
        aa.fab.n_target_classes = targets
        if square_queries is not None:
            aa.square.n_queries = square_queries
        x_adv, _ = aa.run_standard_evaluation(x, y, batch_size=batch_size)
    return predict(model, x_adv, batch_size) == y


def adversarial_correct(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    clean_correct: torch.Tensor,
    attack: AttackSpec,
    settings: AttackSettings,
) -> torch.Tensor:
    """Per-sample ``adv_correct`` of ``attack``; only clean-correct samples are attacked."""
    eps = settings.eps(attack.threat)
    if attack.family == "autoattack":
        adv = torch.zeros_like(clean_correct)
        attacks = None if attack.threat == "linf" else ["apgd-ce", "apgd-t"]
        adv[clean_correct] = autoattack_correct(
            model,
            x[clean_correct],
            y[clean_correct],
            threat=attack.threat,
            eps=eps,
            attacks=attacks,
            batch_size=settings.batch_size,
            seed=settings.seed,
            restarts=settings.autoattack_restarts,
        )
        return adv
    if attack.family == "single":
        fn = get_attack(attack.name, eps=eps)
    else:
        gen = torch.Generator(device=x.device).manual_seed(settings.seed)
        fn = get_attack(
            f"pgd-{attack.threat}",
            eps=eps,
            alpha=settings.step(attack.threat),
            steps=settings.steps,
            random_start=settings.random_start,
            generator=gen,
        )
    return attack_correct(model, x, y, fn, settings.batch_size, clean_correct=clean_correct)[1]
