"""The one attack catalogue: every attack neronet knows, by name.

Each entry says its threat model (``linf`` / ``l2``), its family (a single
gradient step, PGD, or the reference AutoAttack) and, for our own gradient
attacks, the function and its fixed settings. The search's measurements, the
post-search suite and the gradient-masking audit all take attacks from here;
a new attack is one registered :class:`AttackSpec`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal

import torch

from neronet.attacks.gradient import AttackFn, check_eps, check_pgd, fgm, fgsm, pgd
from neronet.errors import AttackError
from neronet.registry import Registry

Threat = Literal["linf", "l2"]
THREAT_LABELS = {"linf": "L-inf", "l2": "L2"}


@dataclass(frozen=True)
class AttackSpec:
    """One attack: CLI name, threat, family, display label, and our implementation."""

    name: str
    threat: Threat
    family: Literal["single", "pgd", "autoattack"]
    label: str
    fn: Callable[..., torch.Tensor] | None = None
    """``(model, x, y, **settings) -> x_adv``; None for the reference AutoAttack."""
    fixed: dict[str, Any] = field(default_factory=dict)


ATTACKS: Registry[AttackSpec] = Registry("attack")
for _spec in (
    AttackSpec("fgsm", "linf", "single", "FGSM", fgsm),
    AttackSpec("pgd-linf", "linf", "pgd", "PGD", pgd, {"norm": "linf"}),
    AttackSpec("autoattack", "linf", "autoattack", "AutoAttack"),
    AttackSpec("fgm", "l2", "single", "FGM", fgm),
    AttackSpec("pgd-l2", "l2", "pgd", "PGD", pgd, {"norm": "l2"}),
    AttackSpec("apgd-l2", "l2", "autoattack", "APGD-CE + APGD-T"),
):
    ATTACKS.register(_spec.name, _spec)


def get_attack(name: str, **settings: Any) -> AttackFn:
    """Our attack ``name`` with ``settings`` (eps, alpha, ...) bound, checked now so a
    bad config fails before any training."""
    key = name.strip().lower()
    if key not in ATTACKS:
        raise AttackError(f"unknown attack {name!r}; valid attacks: {', '.join(ATTACKS.names())}")
    spec = ATTACKS.get(key)
    if spec.fn is None:
        raise AttackError(f"attack {name!r} is run by AutoAttack, not bound here; use a suite")
    params = inspect.signature(spec.fn).parameters
    allowed = [p for p in list(params)[3:] if p not in spec.fixed]
    unknown = sorted(set(settings) - set(allowed))
    if unknown:
        raise AttackError(
            f"attack {name!r} has no setting {', '.join(unknown)}; valid: {', '.join(allowed)}"
        )
    missing = [p for p in allowed if params[p].default is inspect.Parameter.empty]
    missing = [p for p in missing if p not in settings]
    if missing:
        raise AttackError(f"attack {name!r} needs setting(s) {', '.join(missing)}; pass them")
    merged = {**spec.fixed, **settings}
    if spec.family == "pgd":
        check_pgd(merged["eps"], merged["alpha"], merged["steps"], merged["norm"])
    else:
        check_eps(merged["eps"])
    return partial(spec.fn, **merged)
