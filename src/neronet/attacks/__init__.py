"""Attacks: our fast gradient attacks (``gradient``) and the one catalogue (``catalogue``)."""

from neronet.attacks.catalogue import ATTACKS, AttackSpec, get_attack
from neronet.attacks.gradient import AttackFn, attack_correct, fgm, fgsm, pgd

__all__ = [
    "ATTACKS",
    "AttackFn",
    "AttackSpec",
    "attack_correct",
    "fgm",
    "fgsm",
    "get_attack",
    "pgd",
]
