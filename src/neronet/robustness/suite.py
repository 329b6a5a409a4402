"""The attack suite: the named suites, selecting attacks, running one attack.

The paper's suite (Table 2): under L-inf eps 8/255, FGSM, PGD-20 and
AutoAttack (standard version); under L2 eps 0.5, FGM, PGD-20 and AutoAttack
restricted to APGD-CE + APGD-T. PGD step sizes were lost in the paper; the
default is the usual eps/4 for both norms (2/255 at 8/255). Every number is a
setting.

Attacks run in fp32 whatever the training precision: reduced-precision
gradients can themselves weaken an attack and look like robustness. How an
attack runs is its catalogue entry's ``run`` hook (``neronet.attacks.builtin``
for the attacks neronet ships); this module only chooses and labels them.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from neronet.attacks import ATTACKS, AttackSpec
from neronet.attacks.layout import attack_layout
from neronet.attacks.running import Ticker
from neronet.config import AttackSettings
from neronet.errors import AttackError
from neronet.threat import threat_label


def attack_label(attack: AttackSpec, settings: AttackSettings) -> str:
    """The table's name of ``attack`` (an iterative attack with its step count)."""
    return attack.label.format(steps=settings.steps)


SUITES = {
    "paper": ("fgsm", "pgd-linf", "autoattack", "fgm", "pgd-l2", "apgd-l2"),
    "linf": ("fgsm", "pgd-linf", "autoattack"),
    "l2": ("fgm", "pgd-l2", "apgd-l2"),
    "fast": ("fgsm", "pgd-linf", "fgm", "pgd-l2"),
}
"""Named suites; ``paper`` is NERO-Net's Table 2, written out so that an attack added to
the catalogue never joins it unasked."""


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


def adversarial_correct(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    clean_correct: torch.Tensor,
    attack: AttackSpec,
    settings: AttackSettings,
    on_tick: Ticker | None = None,
) -> torch.Tensor:
    """Per-sample ``adv_correct`` of ``attack``; only clean-correct samples are attacked,
    with the network laid out for attacking (:func:`~neronet.attacks.layout.attack_layout`:
    weights frozen; channels-last memory unless ``settings.channels_last`` is off)."""
    label = f"{attack_label(attack, settings)} ({threat_label(attack.threat)})"
    with attack_layout(model, settings.channels_last):
        return attack.run(model, x, y, clean_correct, attack, settings, label, on_tick)
