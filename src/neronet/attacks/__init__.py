"""Attacks: our fast gradient attacks (``gradient``), the one catalogue (``catalogue``)
and RAS's black-box attacks (``blackbox``, catalogued by ``blackbox_catalogue``).

The names below load on first use: an attack's own settings section (such as
``blackbox_settings``) lives in this package and is read by the config schema, which
imports no torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from neronet.attacks.catalogue import ATTACKS, AttackSpec, get_attack
    from neronet.attacks.gradient import AttackFn, attack_correct, fgm, fgsm, pgd

_HOMES = {
    "ATTACKS": "neronet.attacks.catalogue",
    "AttackSpec": "neronet.attacks.catalogue",
    "get_attack": "neronet.attacks.catalogue",
    "AttackFn": "neronet.attacks.gradient",
    "attack_correct": "neronet.attacks.gradient",
    "fgm": "neronet.attacks.gradient",
    "fgsm": "neronet.attacks.gradient",
    "pgd": "neronet.attacks.gradient",
}

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


def __getattr__(name: str) -> Any:
    """``neronet.attacks.<name>`` from its home module, imported now."""
    if name not in _HOMES:
        raise AttributeError(f"module 'neronet.attacks' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)
